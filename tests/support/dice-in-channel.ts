import { expect } from "vitest";
import type { CytubeEmulator } from "../fixtures/cytube-emulator/index.js";

/**
 * Once `bot` has joined `channel`, an emulated user types `!roll 2d6`, and the bundled dice plugin's answer
 * must come back in the channel from the bot, as every user there sees it, with a consistent sum.
 */
export async function expectRollAnswered(emu: CytubeEmulator, channel: string, bot: string): Promise<void> {
  await expect.poll(() => emu.channel(channel).find(bot) !== undefined, { timeout: 10_000 }).toBe(true);
  const alice = emu.addUser(channel, "alice", 0);
  alice.say("!roll 2d6");
  await expect.poll(() => emu.chatFrom(channel, bot).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
  const reply = emu.chatFrom(channel, bot)[0]!.msg;
  const m = /^alice rolled 2d6: \[([1-6]), ([1-6])\] = (\d+)$/.exec(reply);
  expect(m, reply).not.toBeNull();
  expect(Number(m![1]) + Number(m![2])).toBe(Number(m![3]));
  expect(
    alice.frames.some((f) => f.event === "chatMsg" && (f.payload as { username: string }).username === bot),
  ).toBe(true);
}
