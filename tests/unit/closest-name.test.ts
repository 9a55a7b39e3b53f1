import { describe, expect, it } from "vitest";
import { closestName, didYouMean } from "../../src/core/closest-name.js";

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
});
