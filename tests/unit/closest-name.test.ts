import { describe, expect, it } from "vitest";
import { closestName, didYouMean } from "../../src/sandbox/closest-name.js";
import { HOOKS } from "../../src/sandbox/loader.js";

describe("closestName", () => {
  it("finds the known name a typo was meant to be, and nothing for a word that is none of them", () => {
    const known = ["sandbox", "plugins", "platforms", "router", "nats"];
    expect(closestName("sandbx", known)).toBe("sandbox");
    expect(closestName("Plugin", known)).toBe("plugins");
    expect(closestName("ruoter", known)).toBe("router");
    expect(closestName("nast", known)).toBe("nats");
    expect(closestName("colour", known)).toBeUndefined();
    expect(closestName("x", [])).toBeUndefined();
    expect(didYouMean("confg", ["enabled", "config"])).toBe('; did you mean "config"?');
    expect(didYouMean("zzz", ["enabled", "config"])).toBe("");
  });

  it("names the hook a misspelt one was meant to be (the loader's `unknown hook` error), and none for another word", () => {
    expect(closestName("onComand", HOOKS)).toBe("onCommand");
    expect(closestName("onCommands", HOOKS)).toBe("onCommand");
    expect(closestName("onEvnt", HOOKS)).toBe("onEvent");
    expect(closestName("onStart", HOOKS)).toBe("start");
    expect(closestName("onStop", HOOKS)).toBe("stop");
    // Too far from every hook to guess: the error lists the hooks and leaves it there.
    expect(closestName("onMesage", HOOKS)).toBeUndefined();
    expect(closestName("onMessage", HOOKS)).toBeUndefined();
    expect(closestName("onLoad", HOOKS)).toBeUndefined();
  });
});
