import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { splitMessage } from "../../src/connectors/cytube/split.js";
import { PACKAGE_ROOT } from "../../src/core/paths.js";
import { readManifest } from "../../src/core/plugins/manifest.js";

/**
 * What one chat line can make a bundled plugin say (attack 70): anyone can type a command, so an answer
 * several chat lines long, or one for every line typed, spends the bot's chat rate for everybody.
 */

const PLUGINS_DIR = path.join(PACKAGE_ROOT, "plugins");

async function load(name: string): Promise<{
  default: { onCommand(command: unknown, ctx: unknown): unknown };
  parseNotation?: (text: string) => { error?: string };
}> {
  const { entryFile } = readManifest(path.join(PLUGINS_DIR, name));
  return import(pathToFileURL(entryFile).href);
}

const command = (name: string, text: string) => ({
  name,
  text,
  args: text.split(/\s+/).filter(Boolean),
  user: "mallory",
  rank: 0,
  platform: "cytube",
  channel: "c",
  correlationId: "c-1",
});

describe("bundled plugins answer a chat line in bounded chat lines", () => {
  it("echo has a cooldown: it repeats whatever anyone types", () => {
    const { manifest } = readManifest(path.join(PLUGINS_DIR, "echo"));
    expect(manifest.commands?.[0]?.cooldownMs).toBeGreaterThanOrEqual(1_000);
  });

  it("dice quotes at most 12 digits of a refused number, so a refusal is one line", async () => {
    const dice = await load("dice");
    const digits = "9".repeat(300);
    for (const text of [`${digits}d6`, `1d${digits}`, `1d6+${digits}`, `1d6-${digits}`]) {
      const { error } = dice.parseNotation!(text);
      expect(error, text).toMatch(/got [+-]?9{12}…$/);
      expect(splitMessage(error!)).toHaveLength(1);
    }
  });

  it("a quote search is one chat line however long the quotes", async () => {
    const quotes = await load("quotes");
    const stored = Array.from({ length: 8 }, (_, i) => ({
      id: i + 1,
      text: `needle ${"long words ".repeat(45)}`.slice(0, 500),
      addedBy: "someone-with-a-long-name",
      addedAt: 0,
    }));
    const ctx = {
      now: () => 0,
      random: () => 0,
      storage: {
        get: async () => null,
        set: async () => {},
        query: async () => stored.map((value) => ({ key: String(value.id), value })).reverse(),
      },
    };
    const reply = String(await quotes.default.onCommand(command("quote", "search needle"), ctx));
    expect(splitMessage(reply)).toHaveLength(1);
    expect(reply).toMatch(
      /^#8: "needle long words .*…" \(added by someone-with-a-long-name\) \| #7: .* \(\+\d more\)$/,
    );
    const one = [{ key: "1", value: { ...stored[0]!, text: "needle in a haystack" } }];
    ctx.storage.query = async () => one;
    expect(await quotes.default.onCommand(command("quote", "search needle"), ctx)).toBe(
      '#1: "needle in a haystack" (added by someone-with-a-long-name)',
    );
  });
});
