import { z } from "zod";
import type { Bus, BusSubscription } from "../bus.js";
import type { RoseyConfig } from "../config/schema.js";
import { errorMessage, RoseyError } from "../errors.js";
import type { Logger } from "../logger.js";
import { dbPingSubject } from "../subjects.js";
import { describeProblem } from "../validation.js";

/**
 * Liveness of the database process. A live process is not a serving one: a synchronous SQLite statement
 * or a pathological validation can hold its event loop for minutes while the pid stays up. The core
 * pings its own child on `rosey.db.ping.<id>` (an id only that child was given on stdin, so another
 * database service on the same NATS cannot answer for it) and the child answers from its event loop, so a
 * frozen loop goes unanswered.
 *
 *   core ──request rosey.db.ping.<id> every intervalMs──▶ child's event loop ──reply──▶ core
 *        maxMissed misses in a row ──▶ SIGKILL ──▶ the usual restart with backoff (service.ts)
 */

export interface LivenessOptions {
  /** Time between the starts of two pings. @default 5000 */
  intervalMs?: number;
  /** How long a ping waits for its answer; less than `intervalMs`. @default 2000 */
  timeoutMs?: number;
  /** Missed pings in a row after which the process is killed and restarted. @default 3 */
  maxMissed?: number;
}

/**
 * ~15 s from a freeze to the kill: longer than any statement the service runs in normal operation. The
 * same as the config's `database.liveness` defaults (a unit test holds them equal).
 */
export const LIVENESS_DEFAULTS: Readonly<Required<LivenessOptions>> = Object.freeze({
  intervalMs: 5_000,
  timeoutMs: 2_000,
  maxMissed: 3,
});

const livenessSchema = z
  .strictObject({
    intervalMs: z.number().int().positive(),
    timeoutMs: z.number().int().positive(),
    maxMissed: z.number().int().positive(),
  })
  .refine((o) => o.timeoutMs < o.intervalMs, {
    path: ["timeoutMs"],
    message: "must be less than 'intervalMs' (a ping would still be waiting when the next one is due)",
  });

/**
 * The options with their defaults, validated and frozen.
 * @throws {RoseyError} VALIDATION_FAILED naming the key.
 */
export function livenessOptions(options: LivenessOptions = {}): Readonly<Required<LivenessOptions>> {
  const merged = { ...LIVENESS_DEFAULTS, ...options };
  const parsed = livenessSchema.safeParse(merged);
  if (!parsed.success) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Invalid database liveness options: ${describeProblem(parsed.error)}: current values (defaults filled in) are ${JSON.stringify(merged)}`,
    );
  }
  return Object.freeze(parsed.data);
}

/** The operator's `database.liveness` (bounded by the config schema) as options. */
export function configuredLiveness(
  config: Pick<Readonly<RoseyConfig>, "database">,
): Readonly<Required<LivenessOptions>> {
  const { intervalMs, timeoutMs, misses } = config.database.liveness;
  return livenessOptions({ intervalMs, timeoutMs, maxMissed: misses });
}

/** The child's side: answers its pings. Released with the bus. */
export function answerPings(bus: Bus, id: string): BusSubscription {
  return bus.subscribe(dbPingSubject(id), (m) => void m.respond(null));
}

export interface LivenessWatch {
  /** Pings missed in a row so far. */
  readonly missed: number;
  /** Idempotent; a ping in flight is ignored when it settles. */
  stop(): void;
}

/**
 * The core's side: pings the child with `id` until stopped, and calls `onUnresponsive` once (then stops)
 * when `maxMissed` pings in a row went unanswered.
 */
export function watchLiveness(
  bus: Bus,
  id: string,
  options: Readonly<Required<LivenessOptions>>,
  log: Logger,
  onUnresponsive: () => void,
): LivenessWatch {
  const { intervalMs, timeoutMs, maxMissed } = options;
  const subject = dbPingSubject(id);
  let missed = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const ping = async (): Promise<void> => {
    timer = undefined;
    const started = Date.now();
    try {
      await bus.request(subject, null, { timeoutMs });
      if (missed > 0) log.info({ missed }, "database process answers pings again");
      missed = 0;
    } catch (err) {
      if (stopped) return;
      // A ping lost on the core's own link to NATS says nothing about the child: count it only when the
      // server answers us, or a NATS outage would have every database process killed.
      const counts = await serverAnswers(bus, timeoutMs);
      if (stopped) return;
      if (counts) {
        missed++;
        log.warn({ missed, maxMissed, err: errorMessage(err) }, "database process missed a liveness ping");
        if (missed >= maxMissed) {
          stopped = true;
          log.error(
            { missed, intervalMs, timeoutMs },
            "database process unresponsive (event loop frozen?); killing it",
          );
          onUnresponsive();
          return;
        }
      }
    }
    if (!stopped) timer = setTimeout(ping, Math.max(0, intervalMs - (Date.now() - started)));
  };
  timer = setTimeout(ping, intervalMs);

  return {
    get missed() {
      return missed;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** Whether the NATS server answers a round trip of our own within `timeoutMs`. */
async function serverAnswers(bus: Bus, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, false);
  });
  try {
    return await Promise.race([bus.flush().then(() => true), late]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
