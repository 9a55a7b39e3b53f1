import { randomUUID } from "node:crypto";
import { z } from "zod";
import { RoseyError } from "./errors.js";
import { compileCheck } from "./validation.js";

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

/** The verified source of what the core itself publishes (router, plugin manager, core services). */
export const CORE_SOURCE = "core";

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

const decoder = new TextDecoder();
const checkEnvelope = compileCheck(envelopeSchema);

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return encodeText(JSON.stringify(envelope));
}

/**
 * UTF-8 bytes of message text. `Buffer.from` carves short strings out of a shared pool; TextEncoder
 * allocates a new ArrayBuffer per call and was ~5× slower per message (measured: 165 vs 820 ns).
 */
export function encodeText(text: string): Uint8Array {
  return Buffer.from(text, "utf8");
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
  const checked = checkEnvelope(raw);
  if (!checked.success) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Message on '${subject}' is not a valid envelope: ${checked.problem}`,
    );
  }
  // Only the envelope's own fields travel on: a sender's extra keys are dropped here.
  const { id, subject: s, source, timestamp, correlationId, data } = checked.data;
  return { id, subject: s, source, timestamp, correlationId, data };
}
