import { z } from "zod";

/**
 * What the router sends on `rosey.commands.<plugin>.execute` and what the plugin side answers.
 * These are the only shapes that cross that subject; both ends validate them.
 */
export const commandSchema = z.object({
  /** The command as typed (an alias resolves to its command's name). */
  name: z.string().min(1).max(32),
  args: z.array(z.string()),
  /** Everything after the command word, untouched. */
  text: z.string(),
  user: z.string().min(1),
  rank: z.number(),
  platform: z.string().min(1),
  channel: z.string().min(1),
  correlationId: z.string().min(1),
  /**
   * Epoch ms after which the sender no longer waits (the router's timeout). Work for a command past it is
   * not started, and its reply is not sent: the user has already been told it took too long. Not shown to
   * the plugin.
   */
  deadline: z.number().int().positive().optional(),
});
export type Command = z.infer<typeof commandSchema>;

export const commandResultSchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), replied: z.boolean() }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }) }),
]);
export type CommandResult = z.infer<typeof commandResultSchema>;

/** A command as the router's directory knows it (from the manifests of running plugins). */
export interface CommandInfo {
  name: string;
  plugin: string;
  usage: string;
  description: string;
  cooldownMs: number;
  aliases: readonly string[];
}

/**
 * The router's answer to a chat message sent with a reply subject, once its command has been fully handled
 * (reply sent, error or timeout reported).
 */
export const commandCompletedSchema = z.object({
  correlationId: z.string(),
  command: z.string(),
  status: z.enum(["ok", "error", "timeout", "unknown", "cooldown", "unavailable"]),
});
export type CommandCompleted = z.infer<typeof commandCompletedSchema>;
export const COMMANDS_LIST_SUBJECT = "rosey.api.commands.list";
