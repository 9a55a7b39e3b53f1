import { RoseyError } from "../errors.js";

/**
 * Fair scheduling of work that arrives from several senders (the database service's storage requests,
 * keyed by plugin): at most `concurrency` tasks run at once, at most `perKey` of them for one key; the
 * rest wait in a queue per key (first in, first out), and a free slot goes to the waiting key served least
 * recently, not to whoever sent first: keys with backlogs take turns (round-robin), and a quiet key,
 * served long ago or never, goes first. A sender with a backlog therefore holds at most `perKey` slots,
 * and a quiet sender's next task starts as soon as one slot frees. Past `queuePerKey` waiting tasks, a
 * key's new task is refused at once with `BUSY`: its backlog stays bounded, and the sender learns at once
 * instead of timing out.
 *
 *   key a: [a3 a4 a5 …] ─┐
 *   key b: [b1]         ─┼─ least recently served ─▶ running (≤ concurrency in all, ≤ perKey per key)
 *   key c: []           ─┘
 */

export interface FairSchedulerOptions {
  /** Tasks running at once, over every key. @default 1 */
  concurrency?: number;
  /** Tasks of one key running at once. @default 2 */
  perKey?: number;
  /** Tasks of one key waiting for a slot; past it, new ones are refused with `BUSY`. @default 32 */
  queuePerKey?: number;
  /** What a task is, for error messages. @default "task" */
  name?: string;
}

const DEFAULTS = Object.freeze({ concurrency: 1, perKey: 2, queuePerKey: 32, name: "task" });

interface Waiting {
  work: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

interface KeyState {
  queue: Waiting[];
  running: number;
  /** When it last got a slot (a count of slots given); -1 for never. */
  lastServed: number;
}

export class FairScheduler {
  readonly options: Readonly<Required<FairSchedulerOptions>>;
  readonly #keys = new Map<string, KeyState>();
  /** Keys with a waiting task and room under `perKey`: those a free slot may go to. */
  readonly #ready = new Set<string>();
  /** Slots given so far: the clock of `lastServed`. */
  #served = 0;
  #running = 0;
  #closed = false;
  #handoff: ReturnType<typeof setImmediate> | undefined;
  #idle: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  /** @throws {RoseyError} VALIDATION_FAILED naming the option that is not a positive integer. */
  constructor(options: FairSchedulerOptions = {}) {
    const resolved = { ...DEFAULTS, ...options };
    for (const key of ["concurrency", "perKey", "queuePerKey"] as const) {
      const value = resolved[key];
      if (!Number.isInteger(value) || value < 1)
        throw new RoseyError(
          "VALIDATION_FAILED",
          `Cannot create a scheduler as '${key}' must be a positive integer: current value is ${value}`,
        );
    }
    this.options = Object.freeze(resolved);
  }

  /**
   * Runs `work` once `key` has its turn, and settles as it does.
   * @throws {RoseyError} BUSY when `queuePerKey` tasks of `key` are already waiting; BUS_CLOSED after
   * `close()`, and for tasks still waiting when it is called.
   */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const { name, queuePerKey } = this.options;
    if (this.#closed) return Promise.reject(closedError(name, key));
    let state = this.#keys.get(key);
    if (!state) {
      state = { queue: [], running: 0, lastServed: -1 };
      this.#keys.set(key, state);
    }
    if (state.queue.length >= queuePerKey) {
      return Promise.reject(
        new RoseyError(
          "BUSY",
          `Cannot take another ${name} from '${key}' as ${state.queue.length} are already waiting (at most ${queuePerKey} may wait, ${this.options.perKey} run at once): retry once some are answered`,
          { details: { key, waiting: state.queue.length, queuePerKey } },
        ),
      );
    }
    const task = new Promise<T>((resolve, reject) => {
      state.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
    });
    if (state.running < this.options.perKey) this.#ready.add(key);
    this.#handOff();
    return task;
  }

  /** Tasks waiting for a slot, for `key` or over every key. */
  waiting(key?: string): number {
    if (key !== undefined) return this.#keys.get(key)?.queue.length ?? 0;
    let n = 0;
    for (const state of this.#keys.values()) n += state.queue.length;
    return n;
  }

  /** Tasks running now. */
  get running(): number {
    return this.#running;
  }

  /**
   * Refuses new tasks and the waiting ones (`BUS_CLOSED`), and resolves once the running ones have
   * settled. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#closed = true;
      clearImmediate(this.#handoff);
      this.#ready.clear();
      for (const [key, state] of this.#keys) {
        for (const waiting of state.queue.splice(0)) waiting.reject(closedError(this.options.name, key));
      }
      if (this.#running === 0) resolve();
      else this.#idle = resolve;
    });
    return this.#closing;
  }

  #dispatch(): void {
    while (this.#running < this.options.concurrency) {
      const key = this.#leastRecentlyServed();
      if (key === undefined) return;
      const state = this.#keys.get(key)!;
      const next = state.queue.shift()!;
      state.running++;
      state.lastServed = this.#served++;
      this.#running++;
      if (state.queue.length === 0 || state.running >= this.options.perKey) this.#ready.delete(key);
      void this.#start(key, state, next);
    }
  }

  /** A scan, not a heap: the keys are plugins with work waiting, a handful. */
  #leastRecentlyServed(): string | undefined {
    let best: string | undefined;
    let bestServed = Number.POSITIVE_INFINITY;
    for (const key of this.#ready) {
      const served = this.#keys.get(key)!.lastServed;
      if (served < bestServed) {
        best = key;
        bestServed = served;
      }
    }
    return best;
  }

  async #start(key: string, state: KeyState, task: Waiting): Promise<void> {
    try {
      task.resolve(await task.work());
    } catch (err) {
      task.reject(err);
    } finally {
      state.running--;
      this.#running--;
      if (state.queue.length > 0) this.#ready.add(key);
      else if (state.running === 0) this.#keys.delete(key);
      if (this.#running === 0) this.#idle?.();
      this.#handOff();
    }
  }

  /**
   * Slots are given on a later turn of the event loop, never straight from a finished task's continuation
   * or from `run`: work that blocks the thread (better-sqlite3 runs each statement synchronously) chained
   * task to task through promise callbacks alone keeps the loop from reading its sockets, so a quiet key's
   * request is not even seen, let alone queued, until the busy key's backlog is gone (measured: a `get`
   * waited behind the whole backlog of full scans). The loop polls for I/O before `setImmediate` callbacks
   * run, so everything that arrived meanwhile is queued before the choice is made.
   */
  #handOff(): void {
    if (this.#closed) return;
    this.#handoff ??= setImmediate(() => {
      this.#handoff = undefined;
      this.#dispatch();
    });
  }
}

function closedError(name: string, key: string): RoseyError {
  return new RoseyError("BUS_CLOSED", `Cannot run a ${name} from '${key}' as the service is stopping`);
}
