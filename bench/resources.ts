import type { EventLoopUtilization } from "node:perf_hooks";

/**
 * Samples the core process while a phase runs: RSS, main-thread heap, CPU (user + system of the whole
 * process, i.e. the main thread *and* the plugin workers, as a percentage of one core) and the main
 * thread's event-loop utilisation. Worker heaps come from `pluginHeaps`, a probe the runner wires to the
 * plugin manager's status (over `rosey.monitoring.plugins`).
 */

export interface ResourceWindow {
  samples: number;
  rssMb: { start: number; max: number; end: number };
  heapUsedMb: { max: number };
  /** Mean CPU over the window, % of one core (can exceed 100 on several cores). */
  cpuPercent: number;
  /** Main thread's event-loop utilisation over the window, 0..1. */
  eventLoopUtilization: number;
  /** Largest heapUsed seen per plugin worker, MB. */
  workerHeapMb: Record<string, number>;
}

export type HeapProbe = () => Promise<Record<string, number>>;

const MB = 1024 * 1024;
const mb = (bytes: number): number => Math.round((bytes / MB) * 10) / 10;

export class ResourceSampler {
  readonly #intervalMs: number;
  readonly #probe: HeapProbe | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #cpu = process.cpuUsage();
  #wall = performance.now();
  #elu: EventLoopUtilization = performance.eventLoopUtilization();
  #samples = 0;
  #rssStart = process.memoryUsage.rss();
  #rssMax = 0;
  #heapMax = 0;
  #workers: Record<string, number> = {};
  #probing = false;

  constructor(options: { intervalMs?: number; pluginHeaps?: HeapProbe } = {}) {
    this.#intervalMs = options.intervalMs ?? 1_000;
    this.#probe = options.pluginHeaps;
  }

  start(): void {
    this.window();
    this.#timer ??= setInterval(() => this.#sample(), this.#intervalMs);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Figures since the previous call (or `start`), then starts a new window. */
  window(): ResourceWindow {
    this.#sample();
    const now = performance.now();
    const cpu = process.cpuUsage(this.#cpu);
    const wallMs = Math.max(1, now - this.#wall);
    const elu = performance.eventLoopUtilization(this.#elu);
    const result: ResourceWindow = {
      samples: this.#samples,
      rssMb: { start: mb(this.#rssStart), max: mb(this.#rssMax), end: mb(process.memoryUsage.rss()) },
      heapUsedMb: { max: mb(this.#heapMax) },
      cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 10,
      eventLoopUtilization: Math.round(elu.utilization * 1000) / 1000,
      workerHeapMb: { ...this.#workers },
    };
    this.#cpu = process.cpuUsage();
    this.#wall = now;
    this.#elu = performance.eventLoopUtilization();
    this.#samples = 0;
    this.#rssStart = process.memoryUsage.rss();
    this.#rssMax = 0;
    this.#heapMax = 0;
    this.#workers = {};
    return result;
  }

  /** Asks the probe for worker heaps now (also done on every sample). */
  async probeWorkers(): Promise<Record<string, number>> {
    if (!this.#probe) return {};
    const heaps = await this.#probe();
    for (const [name, bytes] of Object.entries(heaps)) {
      const value = mb(bytes);
      if (value > (this.#workers[name] ?? 0)) this.#workers[name] = value;
    }
    return heaps;
  }

  #sample(): void {
    this.#samples++;
    const memory = process.memoryUsage();
    if (memory.rss > this.#rssMax) this.#rssMax = memory.rss;
    if (memory.heapUsed > this.#heapMax) this.#heapMax = memory.heapUsed;
    if (this.#probe && !this.#probing) {
      this.#probing = true;
      this.probeWorkers()
        .catch(() => undefined)
        .finally(() => {
          this.#probing = false;
        });
    }
  }
}
