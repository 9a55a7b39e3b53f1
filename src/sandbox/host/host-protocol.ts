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

/**
 * How long a terminated worker has to end. One inside a single native call that checks for no interrupt
 * (`Array.prototype.indexOf` over a 2^53 `length`, a sparse `sort`) never does, and whatever waited for its
 * exit would wait for ever: past this, the plugin host kills itself (its workers end as a host crash), and a
 * thread in the core is reported ended though it still spins (sandbox-thread.ts).
 */
export const TERMINATE_GRACE_MS = 2_000;
