/**
 * Timers a plugin can set. The plugin gets numeric ids, never the host's timer objects (those expose
 * host state), every callback runs guarded, and `clearAll()` releases them all when the plugin stops.
 */

export const MAX_TIMERS = 64;
export const MIN_INTERVAL_MS = 10;

export interface TimerHost {
  /** Runs a plugin callback, reporting (not propagating) what it throws. */
  guard(label: string, fn: () => unknown): void;
}

export class PluginTimers {
  readonly #host: TimerHost;
  readonly #timers = new Map<number, ReturnType<typeof setTimeout>>();
  #nextId = 1;
  #closed = false;

  constructor(host: TimerHost) {
    this.#host = host;
  }

  get size(): number {
    return this.#timers.size;
  }

  setTimeout(callback: unknown, ms: unknown): number {
    return this.#add(callback, ms, false);
  }

  setInterval(callback: unknown, ms: unknown): number {
    return this.#add(callback, ms, true);
  }

  clear(id: unknown): void {
    if (typeof id !== "number") return;
    const handle = this.#timers.get(id);
    if (handle === undefined) return;
    clearTimeout(handle);
    this.#timers.delete(id);
  }

  clearAll(): void {
    this.#closed = true;
    for (const handle of this.#timers.values()) clearTimeout(handle);
    this.#timers.clear();
  }

  #add(callback: unknown, ms: unknown, repeat: boolean): number {
    if (typeof callback !== "function") throw new TypeError("timer callback must be a function");
    if (this.#closed) throw new Error("plugin is stopping: no new timers");
    if (this.#timers.size >= MAX_TIMERS) throw new RangeError(`at most ${MAX_TIMERS} timers may be active`);
    const delay =
      typeof ms === "number" && Number.isFinite(ms) ? Math.max(repeat ? MIN_INTERVAL_MS : 0, ms) : 0;
    const id = this.#nextId++;
    const run = () => this.#host.guard(repeat ? "interval" : "timeout", callback as () => unknown);
    const handle = repeat
      ? setInterval(run, delay)
      : setTimeout(() => {
          this.#timers.delete(id);
          run();
        }, delay);
    this.#timers.set(id, handle);
    return id;
  }
}
