import { randomUUID } from "node:crypto";
import type { Command, CommandInfo } from "../../src/core/commands.js";

/** A command as the router would send it: from `alice` (rank 1) in the console channel. */
export function command(name: string, args: string[] = [], correlationId = `c-${randomUUID()}`): Command {
  return {
    name,
    args,
    text: args.join(" "),
    user: "alice",
    rank: 1,
    platform: "console",
    channel: "console",
    correlationId,
  };
}

/** A command directory entry of plugin `x`, no cooldown or aliases unless `extra` says otherwise. */
export function commandInfo(name: string, extra: Partial<CommandInfo> = {}): CommandInfo {
  return {
    name,
    plugin: "x",
    usage: `!${name}`,
    description: `does ${name}`,
    cooldownMs: 0,
    aliases: [],
    ...extra,
  };
}
