import { describe, expect, it } from "vitest";
import type { ChatEvent } from "../../src/core/envelope.js";
import { parseChatCommand, parseCommandLine, splitArgs } from "../../src/core/router/parse.js";

const event = (content: string, extra: Partial<ChatEvent> = {}): ChatEvent => ({
  platform: "console",
  channel: "console",
  user: "alice",
  content,
  timestamp: 0,
  ...extra,
});

describe("parseCommandLine", () => {
  it("splits the command word from its arguments and keeps the raw text", () => {
    expect(parseCommandLine("!roll 2d6+1", "!")).toEqual({ name: "roll", args: ["2d6+1"], text: "2d6+1" });
    expect(parseCommandLine("!echo  hello   world ", "!")).toEqual({
      name: "echo",
      args: ["hello", "world"],
      text: "hello   world",
    });
    expect(parseCommandLine("!help", "!")).toEqual({ name: "help", args: [], text: "" });
  });

  it("lowercases the command name but not the arguments", () => {
    expect(parseCommandLine("!ROLL D20", "!")).toEqual({ name: "roll", args: ["D20"], text: "D20" });
  });

  it("honours a configurable prefix, including multi-character ones", () => {
    expect(parseCommandLine("?roll", "?")?.name).toBe("roll");
    expect(parseCommandLine("!roll", "?")).toBeUndefined();
    expect(parseCommandLine(">>8ball will it rain?", ">>")).toEqual({
      name: "8ball",
      args: ["will", "it", "rain?"],
      text: "will it rain?",
    });
  });

  it("ignores ordinary chat and things that only look like a prefix", () => {
    for (const line of ["hello", "", "!", "! roll", "!!!", "wow!", "!?", "!#tag"]) {
      expect(parseCommandLine(line, "!"), line).toBeUndefined();
    }
  });

  it("groups quoted words into one argument; unmatched quotes stay literal", () => {
    expect(parseCommandLine(`!echo "a b" 'c d' e`, "!")?.args).toEqual(["a b", "c d", "e"]);
    expect(splitArgs(`don't stop`)).toEqual(["don't", "stop"]);
    expect(splitArgs(`"unterminated here`)).toEqual([`"unterminated`, "here"]);
    expect(splitArgs(`"" x`)).toEqual(["", "x"]);
  });
});

describe("parseChatCommand", () => {
  it("parses a user's message", () => {
    expect(parseChatCommand(event("!roll"), "!")?.name).toBe("roll");
  });

  it("never treats the bot's own messages as commands", () => {
    expect(parseChatCommand(event("!roll", { is_self: true }), "!")).toBeUndefined();
    expect(parseChatCommand(event("!roll", { is_self: false }), "!")?.name).toBe("roll");
  });
});
