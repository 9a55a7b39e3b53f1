import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Rosey } from "../../src/core/orchestrator.js";
import { type CytubeEmulator, startCytubeEmulator } from "../fixtures/cytube-emulator/index.js";
import { usePrivateNats } from "../support/private-nats.js";
import { startTestRosey } from "../support/test-rosey.js";

/**
 * An untrusted chat user against the whole platform: CyTube emulator, real nats-server, orchestrator, router,
 * the bundled plugins in their sandbox. The bot is a moderator (rank 2), as many bots are. The emulator runs
 * the rest of a `/me` or `/sp` line as a line of its own, commands included, as the real server does.
 */
const CHANNEL = "redteam";

describe("an untrusted chat user against the bot", () => {
  const nats = usePrivateNats();
  let emu: CytubeEmulator;
  let rosey: Rosey | undefined;

  beforeAll(async () => {
    emu = await startCytubeEmulator({
      connectionLimit: false,
      accounts: { rosey: { password: "pw", rank: 2 } },
    });
    rosey = await startTestRosey(nats.url, {
      database: { enabled: false },
      platforms: [{ type: "cytube", server: emu.url, channel: CHANNEL, username: "rosey", password: "pw" }],
      plugins: {
        directory: path.resolve("plugins"),
        enabled: ["echo", "dice"],
        entries: { echo: { grants: ["chat.send"] }, dice: { grants: ["chat.send"] } },
      },
    });
    const until = Date.now() + 10_000;
    while (!emu.channel(CHANNEL).find("rosey") && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
  }, 60_000);

  afterAll(async () => {
    await rosey?.stop();
    await emu?.close();
  });

  const botLines = (): string[] => emu.chatFrom(CHANNEL, "rosey").map((l) => l.msg);

  it("cannot make the moderator bot kick, ban or clear through a repeated '/me /kick' (attack 69)", async () => {
    const victim = emu.addUser(CHANNEL, "victim", 0);
    const mallory = emu.addUser(CHANNEL, "mallory", 0);
    const eve = emu.addUser(CHANNEL, "eve", 0);
    const before = botLines().length;
    mallory.say("!echo /me /kick victim bye");
    eve.say("!say /sp /clear");
    await expect.poll(() => botLines().length - before, { timeout: 10_000 }).toBe(2);
    expect(emu.channel(CHANNEL).find("victim")).toBeDefined();
    expect(victim.frames.some((f) => f.event === "kick" || f.event === "clearchat")).toBe(false);
    // The words are shown, styled as asked, with the command word made inert.
    const shown = emu.chatFrom(CHANNEL, "rosey").slice(before);
    expect(shown.map((l) => l.msg).sort()).toEqual(["\u200b/clear", "\u200b/kick victim bye"]);
    expect(shown.map((l) => l.meta.addClass).sort()).toEqual(["action", "spoiler"]);
  });

  it("gets one answer, not one per line, when flooding unknown commands, cooldowns or !echo (attack 70)", async () => {
    const flooder = emu.addUser(CHANNEL, "flooder", 0);
    const before = botLines().length;
    for (let i = 0; i < 20; i++) flooder.say(`!nosuch${i}`);
    for (let i = 0; i < 20; i++) flooder.say("!roll");
    for (let i = 0; i < 20; i++) flooder.say(`!echo spam ${i}`);
    const alice = emu.addUser(CHANNEL, "alice", 0);
    alice.say("!roll 1d6");
    await expect
      .poll(() => botLines().some((l) => l.startsWith("alice rolled 1d6")), { timeout: 10_000 })
      .toBe(true);
    // Everything the flood asked for has had time to be answered (the bot sends ~7 lines a second).
    await new Promise((r) => setTimeout(r, 3_000));
    const answers = botLines().slice(before);
    expect(answers.filter((l) => l.startsWith("Unknown command"))).toEqual(["Unknown command !nosuch0"]);
    expect(answers.filter((l) => l.startsWith("flooder rolled"))).toHaveLength(1);
    expect(answers.filter((l) => l.startsWith("flooder, please wait"))).toHaveLength(2);
    expect(answers.filter((l) => l.startsWith("spam"))).toEqual(["spam 0"]);
    // 60 lines typed: 5 answers (an unknown, a roll, a wait for !roll, an echo, a wait for !echo) and alice's.
    expect(answers).toHaveLength(6);
  });
});
