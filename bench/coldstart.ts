import type { RoseyConfig } from "../src/core/config/schema.js";
import type { Logger } from "../src/core/logger.js";
import { bundlePlugin } from "../src/core/plugins/bundle.js";
import { resolveLimits, workerResourceLimits } from "../src/core/plugins/limits.js";
import { discoverPlugins } from "../src/core/plugins/manifest.js";
import { ProcessSpawner } from "../src/core/plugins/plugin-host-process.js";
import {
  type SandboxSpawner,
  type SandboxThread,
  ThreadSpawner,
} from "../src/core/plugins/sandbox-thread.js";
import type { WorkerInit } from "../src/sandbox/protocol.js";
import { rssOfPid } from "./procfs.js";

/**
 * Plugin cold start and idle memory, measured with the platform's own sandbox spawner (the one the
 * plugin manager uses for the configured isolation) and the real worker entry:
 * - cold start: spawn → the worker's READY message (SES import + lockdown, compartment, plugin load);
 * - idle memory: the worker's V8 heap (`heapUsed` from its pong, as the manager reports it) once idle,
 *   and the resident memory each extra idle worker adds to the process that hosts it.
 */

export interface ColdStartResult {
  isolation: "thread" | "process";
  /** ms per spawn, in order (round-major). Under process isolation the very first includes forking the host. */
  samplesMs: Array<{ plugin: string; round: number; ms: number }>;
  p50Ms: number;
  maxMs: number;
  /** Max excluding the first spawn (which may include the host fork). */
  maxWarmMs: number;
  idle: {
    /** heapUsed of each idle worker, MB. */
    heapMb: Record<string, number>;
    maxHeapMb: number;
    /** (RSS with N extra idle workers − RSS before) / N, MB; of the host process under process isolation. */
    rssPerWorkerMb: number | undefined;
  };
}

const MB = 1024 * 1024;
const r1 = (x: number) => Math.round(x * 10) / 10;

interface Spawned {
  thread: SandboxThread;
  ready: Promise<void>;
  pong: (seq: number) => Promise<number>;
}

function spawnOne(spawner: SandboxSpawner, init: WorkerInit, memoryMb: number, timeoutMs: number): Spawned {
  const thread = spawner.spawn({
    name: `bench-coldstart:${init.plugin.name}`,
    workerData: init,
    resourceLimits: workerResourceLimits(memoryMb),
  });
  const pongs = new Map<number, (heap: number) => void>();
  let readyResolve: () => void = () => {};
  let readyReject: (e: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  const timer = setTimeout(() => readyReject(new Error(`no READY within ${timeoutMs} ms`)), timeoutMs);
  thread.onMessage((raw) => {
    const m = raw as { type?: string; seq?: number; heapUsed?: number; message?: string };
    if (m.type === "ready") {
      clearTimeout(timer);
      readyResolve();
    } else if (m.type === "load-failed") {
      clearTimeout(timer);
      readyReject(new Error(`load failed: ${m.message}`));
    } else if (m.type === "pong" && typeof m.seq === "number") pongs.get(m.seq)?.(m.heapUsed ?? 0);
  });
  thread.onExit((exit) => {
    clearTimeout(timer);
    readyReject(new Error(`exited with code ${exit.code}${exit.reason ? `: ${exit.reason}` : ""}`));
  });
  thread.onOutput(() => {});
  return {
    thread,
    ready,
    pong: (seq) =>
      new Promise<number>((resolve) => {
        pongs.set(seq, resolve);
        thread.postMessage({ type: "ping", seq });
      }),
  };
}

export interface ColdStartOptions {
  config: Readonly<RoseyConfig>;
  logger: Logger;
  rounds: number;
}

/** RSS of the process hosting the workers: the core under thread isolation, the plugin host otherwise. */
function hostRssMb(spawner: SandboxSpawner): number | undefined {
  if (spawner instanceof ProcessSpawner) {
    const pid = spawner.hostPid;
    return pid === undefined ? undefined : rssOfPid(pid);
  }
  return process.memoryUsage.rss() / MB;
}

export async function measureColdStart(options: ColdStartOptions): Promise<ColdStartResult> {
  const { config } = options;
  const isolation = config.sandbox.isolation;
  const spawner: SandboxSpawner =
    isolation === "process" ? new ProcessSpawner(options.logger) : new ThreadSpawner();
  const { plugins } = discoverPlugins(config.plugins.directory);
  const enabled = plugins.filter(
    (p) => !config.plugins.enabled || config.plugins.enabled.includes(p.manifest.name),
  );
  const prepared = await Promise.all(
    enabled.map(async (p) => ({
      init: {
        plugin: { name: p.manifest.name, version: p.manifest.version },
        source: await bundlePlugin(p.entryFile, p.dir),
        config: {},
      } satisfies WorkerInit,
      memoryMb: resolveLimits(config, p.manifest).memoryMb,
    })),
  );
  const samplesMs: ColdStartResult["samplesMs"] = [];
  let idle: ColdStartResult["idle"] = { heapMb: {}, maxHeapMb: 0, rssPerWorkerMb: undefined };
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const live: Array<{ name: string; spawned: Spawned }> = [];
      // The host process (process isolation) exists after the first spawn; measure its RSS from then on.
      const rssBefore = round === 1 ? undefined : hostRssMb(spawner);
      try {
        for (const p of prepared) {
          const t0 = performance.now();
          const spawned = spawnOne(spawner, p.init, p.memoryMb, config.sandbox.readyTimeoutMs);
          await spawned.ready;
          samplesMs.push({ plugin: p.init.plugin.name, round, ms: r1(performance.now() - t0) });
          live.push({ name: p.init.plugin.name, spawned });
        }
        if (round === options.rounds) {
          // Let start-up garbage settle, then read each idle worker's heap.
          await new Promise((r) => setTimeout(r, 1_500));
          const heapMb: Record<string, number> = {};
          let seq = 1;
          for (const { name, spawned } of live) heapMb[name] = r1((await spawned.pong(seq++)) / MB);
          const rssAfter = hostRssMb(spawner);
          idle = {
            heapMb,
            maxHeapMb: Math.max(...Object.values(heapMb)),
            rssPerWorkerMb:
              rssBefore !== undefined && rssAfter !== undefined && live.length > 0
                ? r1((rssAfter - rssBefore) / live.length)
                : undefined,
          };
        }
      } finally {
        for (const { spawned } of live) spawned.thread.terminate();
        await new Promise((r) => setTimeout(r, 300));
      }
    }
  } finally {
    await spawner.close();
  }
  const sorted = samplesMs.map((s) => s.ms).sort((a, b) => a - b);
  return {
    isolation,
    samplesMs,
    p50Ms: sorted[Math.floor((sorted.length - 1) / 2)] ?? 0,
    maxMs: sorted.at(-1) ?? 0,
    maxWarmMs: Math.max(0, ...samplesMs.slice(1).map((s) => s.ms)),
    idle,
  };
}
