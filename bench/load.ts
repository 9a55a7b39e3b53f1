import type { ChatEvent } from "../src/core/envelope.js";

/**
 * What the load generator sends: normalized `rosey.events.message` payloads exactly as a connector
 * publishes them, cycling over one command of each benchmarked plugin. Every message comes from a
 * distinct user, so the router's per-user, per-command cooldowns never refuse a bench message.
 */

export interface BenchCommand {
  plugin: string;
  content: string;
}

/** One command per plugin; the five plugins the benchmark loads. */
export const BENCH_COMMANDS: readonly BenchCommand[] = Object.freeze([
  { plugin: "dice", content: "!roll 2d6" },
  { plugin: "echo", content: "!echo hello from the bench" },
  { plugin: "eightball", content: "!8ball will the bench pass?" },
  { plugin: "help", content: "!help roll" },
  { plugin: "reverse", content: "!reverse benchmark" },
]);

export const BENCH_PLATFORM = "bench";
export const BENCH_CHANNEL = "bench";

/** The chat event for message number `seq` (commands cycle in order). */
export function chatEventFor(
  seq: number,
  commands: readonly BenchCommand[] = BENCH_COMMANDS,
  now: number = Date.now(),
): ChatEvent {
  const command = commands[seq % commands.length]!;
  const user = `u${seq.toString(36)}`;
  return {
    platform: BENCH_PLATFORM,
    channel: BENCH_CHANNEL,
    user,
    content: command.content,
    timestamp: now,
    user_data: { username: user, rank: 1, is_afk: false, is_moderator: false },
  };
}
