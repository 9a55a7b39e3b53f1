import type { ResourceLimits } from "node:worker_threads";
import { z } from "zod";

/**
 * Control frames between the core and the plugin-host process. The host owns worker threads and nothing
 * else: no NATS connection, no credentials, no config. Each worker's protocol messages (sandbox/protocol.ts)
 * travel in batch frames (framing.ts) keyed by a worker id, as text the host forwards without parsing.
 */

export type CoreToHost =
  | { t: "spawn"; wid: number; name: string; workerData: unknown; resourceLimits: ResourceLimits }
  | { t: "terminate"; wid: number };

export const hostFrameSchema = z.discriminatedUnion("t", [
  z.strictObject({ t: z.literal("ready"), pid: z.number().int() }),
  z.strictObject({ t: z.literal("online"), wid: z.number().int(), threadId: z.number().int() }),
  z.strictObject({
    t: z.literal("exit"),
    wid: z.number().int(),
    code: z.number().int(),
    error: z.string().optional(),
    oom: z.boolean(),
  }),
  z.strictObject({ t: z.literal("output"), wid: z.number().int(), text: z.string().max(4096) }),
  z.strictObject({ t: z.literal("elu"), wid: z.number().int(), value: z.number().min(0).max(1) }),
  z.strictObject({ t: z.literal("oversize"), wid: z.number().int(), bytes: z.number().int() }),
]);
export type HostToCore = z.infer<typeof hostFrameSchema>;

/** Largest worker message (JSON text) the host relays; larger ones are dropped and reported as `oversize`. */
export const MAX_RELAYED_MESSAGE_BYTES = 256 * 1024;
