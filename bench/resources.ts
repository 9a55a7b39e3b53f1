import type { EventLoopUtilization } from "node:perf_hooks";
import { cpuMsOfPid, peakRssOfPid, rssOfPid, threadCpuMsOf } from "./procfs.js";

/**
 * Samples, while a phase runs (every `intervalMs` and at each window's end):
 * - the **core**: the `rosey start` child (router, plugin manager, gates, core NATS clients; plus the
 *   plugin workers under thread isolation), from outside via /proc: RSS (VmRSS) and CPU (utime + stime),
 *   in total and for its main thread. Its event-loop utilisation cannot be read from outside the process;
 *   the main thread's CPU (the event loop's work plus V8's work on that thread) stands in for it;
 * - the **bench** process itself (load generator, reply matcher, raw relay, histograms): RSS, heap, CPU
 *   and its main thread's event-loop utilisation;
 * - worker heaps from `pluginHeaps`, a probe the runner wires to the plugin manager's status (over
 *   `rosey.monitoring.plugins`).
 */

export interface ProcessWindow {
  rssMb: { start: number; max: number; end: number };
  /** Mean CPU over the window, % of one core (can exceed 100 on several cores). */
  cpuPercent: number;
}

export interface CoreWindow extends ProcessWindow {
  pid: number;
  /**
   * CPU of the core's main thread (router, plugin manager, gates, connectors), % of one core; near 100 the
   * core's event loop is saturated whatever the total says. Undefined where /proc has no per-thread figures.
   */
  mainThreadCpuPercent?: number | undefined;
  /** VmHWM: the core's peak RSS since it started (not only this window). */
  peakRssMb: number | undefined;
}

export interface BenchProcessWindow extends ProcessWindow {
  heapUsedMb: { max: number };
  /** The bench's main-thread event-loop utilisation over the window, 0..1 (the generator's headroom). */
  eventLoopUtilization: number;
}

export interface ResourceWindow {
  samples: number;
  /** The `rosey start` child, from /proc; undefined where /proc cannot be read. */
  core: CoreWindow | undefined;
  /** This process: generator and matcher. */
  bench: BenchProcessWindow;
  /** Largest heapUsed seen per plugin worker, MB. */
  workerHeapMb: Record<string, number>;
}

export type HeapProbe = () => Promise<Record<string, number>>;

const MB = 1024 * 1024;
const mb = (bytes: number): number => Math.round((bytes / MB) * 10) / 10;
const pct = (cpuMs: number, wallMs: number): number => Math.round((cpuMs / Math.max(1, wallMs)) * 1000) / 10;

export class ResourceSampler {
  readonly #intervalMs: number;
  readonly #probe: HeapProbe | undefined;
  readonly #corePid: number | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #cpu = process.cpuUsage();
  #wall = performance.now();
  #elu: EventLoopUtilization = performance.eventLoopUtilization();
  #samples = 0;
  #rssStart = process.memoryUsage.rss();
  #rssMax = 0;
  #heapMax = 0;
  #coreCpuMs: number | undefined;
  #coreMainCpuMs: number | undefined;
  #coreRssStart: number | undefined;
  #coreRssMax = 0;
  #workers: Record<string, number> = {};
  #probing = false;

  constructor(options: { intervalMs?: number; pluginHeaps?: HeapProbe; corePid?: number } = {}) {
    this.#intervalMs = options.intervalMs ?? 1_000;
    this.#probe = options.pluginHeaps;
    this.#corePid = options.corePid;
    this.#resetCore();
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
      core: this.#coreWindow(wallMs),
      bench: {
        rssMb: { start: mb(this.#rssStart), max: mb(this.#rssMax), end: mb(process.memoryUsage.rss()) },
        heapUsedMb: { max: mb(this.#heapMax) },
        cpuPercent: pct((cpu.user + cpu.system) / 1000, wallMs),
        eventLoopUtilization: Math.round(elu.utilization * 1000) / 1000,
      },
      workerHeapMb: { ...this.#workers },
    };
    this.#cpu = process.cpuUsage();
    this.#wall = now;
    this.#elu = performance.eventLoopUtilization();
    this.#samples = 0;
    this.#rssStart = process.memoryUsage.rss();
    this.#rssMax = 0;
    this.#heapMax = 0;
    this.#resetCore();
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

  #resetCore(): void {
    if (this.#corePid === undefined) return;
    this.#coreCpuMs = cpuMsOfPid(this.#corePid);
    this.#coreMainCpuMs = threadCpuMsOf(this.#corePid);
    this.#coreRssStart = rssOfPid(this.#corePid);
    this.#coreRssMax = this.#coreRssStart ?? 0;
  }

  #coreWindow(wallMs: number): CoreWindow | undefined {
    const pid = this.#corePid;
    if (pid === undefined) return undefined;
    const cpuMs = cpuMsOfPid(pid);
    const mainCpuMs = threadCpuMsOf(pid);
    const rss = rssOfPid(pid);
    if (cpuMs === undefined || rss === undefined || this.#coreCpuMs === undefined) return undefined;
    return {
      pid,
      rssMb: { start: this.#coreRssStart ?? rss, max: Math.max(this.#coreRssMax, rss), end: rss },
      cpuPercent: pct(cpuMs - this.#coreCpuMs, wallMs),
      mainThreadCpuPercent:
        mainCpuMs !== undefined && this.#coreMainCpuMs !== undefined
          ? pct(mainCpuMs - this.#coreMainCpuMs, wallMs)
          : undefined,
      peakRssMb: peakRssOfPid(pid),
    };
  }

  #sample(): void {
    this.#samples++;
    const memory = process.memoryUsage();
    if (memory.rss > this.#rssMax) this.#rssMax = memory.rss;
    if (memory.heapUsed > this.#heapMax) this.#heapMax = memory.heapUsed;
    if (this.#corePid !== undefined) {
      const rss = rssOfPid(this.#corePid);
      if (rss !== undefined && rss > this.#coreRssMax) this.#coreRssMax = rss;
    }
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
