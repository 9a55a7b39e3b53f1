import { randomUUID } from "node:crypto";
import type { Command } from "../../src/core/commands.js";

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
