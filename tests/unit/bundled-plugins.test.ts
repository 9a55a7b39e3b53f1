import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import type { Command } from "../../src/core/commands.js";
import { PACKAGE_ROOT } from "../../src/core/paths.js";
import { readManifest } from "../../src/core/plugins/manifest.js";

/**
 * Unit tests of the bundled plugins' own logic: the entry file is imported directly and given a fake ctx
 * (the sandbox, gate and router are covered by the integration and e2e suites).
 */

interface FakeCtx {
  plugin: { name: string; version: string };
  random(): number;
  now(): number;
  request(subject: string, data: unknown, options?: { timeoutMs?: number }): Promise<unknown>;
  requests: Array<{ subject: string; data: unknown }>;
}

type PluginModule = {
  default: { onCommand(command: Command, ctx: FakeCtx): unknown };
  [name: string]: unknown;
};

const PLUGINS_DIR = path.join(PACKAGE_ROOT, "plugins");

async function load(name: string): Promise<PluginModule> {
  const { entryFile } = readManifest(path.join(PLUGINS_DIR, name));
  return (await import(pathToFileURL(entryFile).href)) as PluginModule;
}

/** A ctx whose random() returns the given values in turn (then repeats the last). */
function fakeCtx(plugin: string, randoms: number[] = [0], directory: unknown = { commands: [] }): FakeCtx {
  let i = 0;
  const requests: FakeCtx["requests"] = [];
  return {
    plugin: { name: plugin, version: "1.0.0" },
    random: () => randoms[Math.min(i++, randoms.length - 1)]!,
    now: () => 0,
    requests,
    async request(subject, data) {
      requests.push({ subject, data });
      return directory;
    },
  };
}

function command(name: string, text = "", user = "console"): Command {
  return {
    name,
    args: text.split(/\s+/).filter(Boolean),
    text,
    user,
    rank: 3,
    platform: "console",
    channel: "console",
    correlationId: "c-1",
  };
}

describe("the spine's bundled plugins", () => {
  const names = ["dice", "echo", "eightball", "help"];

  it("have manifests valid against the schema, with limits", () => {
    expect(readdirSync(PLUGINS_DIR)).toEqual(expect.arrayContaining(names));
    for (const name of names) {
      const { manifest } = readManifest(path.join(PLUGINS_DIR, name));
      expect(manifest.limits, name).toBeDefined();
      expect(manifest.capabilities, name).toContain("chat.send");
    }
  });

  it("use no import, Math.random or Date.now (the sandbox has none) and no text SES rejects", () => {
    for (const name of names) {
      const { entryFile } = readManifest(path.join(PLUGINS_DIR, name));
      const code = readFileSync(entryFile, "utf8");
      expect(code, name).not.toMatch(/^\s*import\s/m);
      expect(code, name).not.toMatch(/\bimport\s*\(|<!--|-->|Math\.random|Date\.now|\brequire\s*\(/);
    }
  });
});

describe("dice", () => {
  it("rolls 2d6 with ctx.random() and formats the reply", async () => {
    const dice = await load("dice");
    const ctx = fakeCtx("dice", [0.4, 0.7]);
    expect(dice.default.onCommand(command("roll", "2d6"), ctx)).toBe("console rolled 2d6: [3, 5] = 8");
  });

  it("defaults to 1d6 and covers the full range of a die", async () => {
    const dice = await load("dice");
    expect(dice.default.onCommand(command("roll"), fakeCtx("dice", [0]))).toBe("console rolled 1d6: [1] = 1");
    expect(dice.default.onCommand(command("roll"), fakeCtx("dice", [0.999999]))).toBe(
      "console rolled 1d6: [6] = 6",
    );
  });

  it("applies positive and negative modifiers; N may be omitted; case-insensitive", async () => {
    const dice = await load("dice");
    expect(dice.default.onCommand(command("roll", "d20+3", "alice"), fakeCtx("dice", [0.5]))).toBe(
      "alice rolled 1d20+3: [11] + 3 = 14",
    );
    expect(dice.default.onCommand(command("roll", "2D10-5"), fakeCtx("dice", [0, 0]))).toBe(
      "console rolled 2d10-5: [1, 1] - 5 = -3",
    );
  });

  it("answers bad notation and out-of-bounds values with a clear message", async () => {
    const dice = await load("dice");
    const ctx = fakeCtx("dice");
    const reply = (text: string) => String(dice.default.onCommand(command("roll", text), ctx));
    expect(reply("banana")).toBe("I can't read 'banana' as dice: use NdM[+K], e.g. !roll 2d6 or !roll d20+3");
    expect(reply("2d")).toMatch(/can't read '2d' as dice/);
    expect(reply("101d6")).toBe("The number of dice must be 1..100: got 101");
    expect(reply("0d6")).toBe("The number of dice must be 1..100: got 0");
    expect(reply("1d1")).toBe("Dice must have 2..1000 sides: got 1");
    expect(reply("1d1001")).toBe("Dice must have 2..1000 sides: got 1001");
    expect(reply("1d6+1001")).toBe("The modifier must be between -1000 and +1000: got +1001");
    expect(reply("1d6-1001")).toBe("The modifier must be between -1000 and +1000: got -1001");
  });

  it("rolls 100 dice within bounds", async () => {
    const dice = await load("dice");
    let seed = 1;
    const ctx = fakeCtx("dice");
    ctx.random = () => {
      seed = (seed * 16807) % 2147483647;
      return (seed - 1) / 2147483646;
    };
    const reply = String(dice.default.onCommand(command("roll", "100d1000"), ctx));
    const match = /^console rolled 100d1000: \[([\d, ]+)\] = (\d+)$/.exec(reply);
    expect(match).not.toBeNull();
    const rolls = match![1]!.split(", ").map(Number);
    expect(rolls).toHaveLength(100);
    for (const r of rolls) expect(r >= 1 && r <= 1000).toBe(true);
    expect(Number(match![2])).toBe(rolls.reduce((a, b) => a + b, 0));
  });
});

describe("eightball", () => {
  it("has the classic 20 answers and picks one with ctx.random()", async () => {
    const ball = await load("eightball");
    const answers = ball.ANSWERS as string[];
    expect(answers).toHaveLength(20);
    expect(new Set(answers).size).toBe(20);
    expect(ball.default.onCommand(command("8ball", "will it rain?"), fakeCtx("eightball", [0]))).toBe(
      `🎱 console: ${answers[0]}`,
    );
    expect(ball.default.onCommand(command("8ball", "will it rain?"), fakeCtx("eightball", [0.99]))).toBe(
      `🎱 console: ${answers[19]}`,
    );
  });

  it("asks for a question when none is given", async () => {
    const ball = await load("eightball");
    expect(ball.default.onCommand(command("8ball", "  "), fakeCtx("eightball"))).toMatch(
      /Ask me a yes\/no question/,
    );
  });
});

describe("echo", () => {
  it("repeats the text as typed, and explains its usage when empty", async () => {
    const echo = await load("echo");
    expect(echo.default.onCommand(command("echo", "hello   there"), fakeCtx("echo"))).toBe("hello   there");
    expect(echo.default.onCommand(command("echo", ""), fakeCtx("echo"))).toBe("Usage: !echo <text>");
    expect(String(echo.default.onCommand(command("echo", "x".repeat(600)), fakeCtx("echo")))).toHaveLength(
      501,
    );
  });
});

describe("help", () => {
  const directory = {
    commands: [
      { name: "roll", usage: "!roll NdM[+K]", description: "Rolls dice", plugin: "dice", aliases: ["dice"] },
      { name: "help", usage: "!help [command]", description: "Lists commands", plugin: "help", aliases: [] },
      { name: "8ball", usage: "!8ball <question>", description: "Asks", plugin: "eightball", aliases: [] },
      { name: "echo", usage: "!echo <text>", description: "", plugin: "echo", aliases: [] },
    ],
  };

  it("lists the directory's commands, help last, by asking rosey.api.commands.list", async () => {
    const help = await load("help");
    const ctx = fakeCtx("help", [0], directory);
    expect(await help.default.onCommand(command("help"), ctx)).toBe(
      "roll, 8ball, echo, help — !help <command> for usage",
    );
    expect(ctx.requests.map((r) => r.subject)).toEqual(["rosey.api.commands.list"]);
  });

  it("shows one command's usage and description, found by name, alias or with the prefix", async () => {
    const help = await load("help");
    const ctx = fakeCtx("help", [0], directory);
    expect(await help.default.onCommand(command("help", "roll"), ctx)).toBe(
      "!roll NdM[+K] — Rolls dice (also: !dice)",
    );
    expect(await help.default.onCommand(command("help", "!DICE"), ctx)).toBe(
      "!roll NdM[+K] — Rolls dice (also: !dice)",
    );
    expect(await help.default.onCommand(command("help", "echo"), ctx)).toBe("!echo <text>");
    expect(await help.default.onCommand(command("help", "nope"), ctx)).toBe("No command !nope — try !help");
  });
});
