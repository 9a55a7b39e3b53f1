import { randomUUID } from "node:crypto";
import { z } from "zod";
import { RoseyError } from "./errors.js";

/**
 * The JSON envelope every message on `rosey.>` carries (design.md §3).
 * `source` is the verified sender, stamped by whoever forwards the message: a plugin never chooses it.
 */
export const envelopeSchema = z.object({
  id: z.string().min(1).max(128),
  subject: z.string().min(1).max(256),
  source: z.string().min(1).max(128),
  timestamp: z.number().int().nonnegative(),
  correlationId: z.string().min(1).max(128),
  data: z.unknown(),
});

export type Envelope<T = unknown> = Omit<z.infer<typeof envelopeSchema>, "data"> & { data: T };

/** Normalized user as connectors publish it (design.md §3 `user_data`). */
export const userDataSchema = z.object({
  username: z.string(),
  rank: z.number(),
  is_afk: z.boolean(),
  is_moderator: z.boolean(),
});
export type UserData = z.infer<typeof userDataSchema>;

/** Normalized `rosey.events.message` / `rosey.events.pm` payload. */
export const chatEventSchema = z.object({
  platform: z.string().min(1),
  channel: z.string().min(1),
  user: z.string().min(1),
  content: z.string(),
  timestamp: z.number(),
  user_data: userDataSchema.optional(),
  recipient: z.string().optional(),
  is_self: z.boolean().optional(),
  platform_data: z.unknown().optional(),
});
export type ChatEvent = z.infer<typeof chatEventSchema>;

/** `rosey.actions.chat.send` payload. */
export const chatSendSchema = z.object({
  platform: z.string().min(1),
  channel: z.string().min(1),
  text: z.string().min(1).max(10_000),
});
export type ChatSend = z.infer<typeof chatSendSchema>;

/** `rosey.actions.chat.pm` payload. */
export const chatPmSchema = chatSendSchema.extend({ to: z.string().min(1) });
export type ChatPm = z.infer<typeof chatPmSchema>;

export interface EnvelopeFields {
  source: string;
  correlationId?: string | undefined;
  id?: string | undefined;
  timestamp?: number | undefined;
}

export function createEnvelope<T>(subject: string, data: T, fields: EnvelopeFields): Envelope<T> {
  const id = fields.id ?? randomUUID();
  return {
    id,
    subject,
    source: fields.source,
    timestamp: fields.timestamp ?? Date.now(),
    correlationId: fields.correlationId ?? id,
    data,
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return encoder.encode(JSON.stringify(envelope));
}

/**
 * Parses and validates bytes from the wire. Throws `VALIDATION_FAILED` naming what is wrong, so the
 * subscriber can log and drop the one bad message and keep going.
 */
export function decodeEnvelope(bytes: Uint8Array, subject: string): Envelope {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Message on '${subject}' is not JSON: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const parsed = envelopeSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join(".") : "(root)";
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Message on '${subject}' is not a valid envelope: '${where}' ${issue?.message ?? "is invalid"}`,
    );
  }
  return parsed.data as Envelope;
}
