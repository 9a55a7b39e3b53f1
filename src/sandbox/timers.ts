import { escapeControls } from "./escape-text.js";

/**
 * Timers a plugin can set. The plugin gets numeric ids, never the host's timer objects (those expose
 * host state), every callback runs guarded, and `clearAll()` releases them all when the plugin stops.
 */

export const MAX_TIMERS = 64;
export const MIN_INTERVAL_MS = 10;

export interface TimerHost {
  /**
   * Runs a plugin callback, reporting (not propagating) what it throws. `detail` says which timer it is
   * (`'tick' (every 1000 ms)`), for the error line and the watchdog.
   */
  guard(kind: "timeout" | "interval", detail: string, fn: () => unknown): void;
}

/**
 * `'name' (every N ms)`, `(after N ms)` for an anonymous function. The name is read as a plain data property only: a getter (or a Proxy
 * trap) would run plugin code inside ctx.setTimeout.
 */
function describeTimer(callback: unknown, delay: number, repeat: boolean): string {
  let name: unknown;
  try {
    name = Object.getOwnPropertyDescriptor(callback, "name")?.value;
  } catch {
    name = undefined;
  }
  const when = repeat ? `(every ${delay} ms)` : `(after ${delay} ms)`;
  return typeof name === "string" && name !== "" ? `'${escapeControls(name.slice(0, 64))}' ${when}` : when;
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
    const detail = describeTimer(callback, delay, repeat);
    const run = () => this.#host.guard(repeat ? "interval" : "timeout", detail, callback as () => unknown);
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
