import { cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough, Writable } from "node:stream";
import { connect, type NatsConnection } from "nats";
import { type Bus, createBus } from "../src/core/bus.js";
import { validateConfig } from "../src/core/config/load.js";
import type { RoseyConfig, RoseyConfigInput } from "../src/core/config/schema.js";
import type { Logger } from "../src/core/logger.js";
import { type Rosey, startRosey } from "../src/core/orchestrator.js";
import { PACKAGE_ROOT } from "../src/core/paths.js";
import { SUBJECTS } from "../src/core/subjects.js";
import { BENCH_COMMANDS, chatEventFor } from "./load.js";
import type { Reply } from "./matcher.js";
import type { BenchPath } from "./phase.js";
import { RELAY_IN, RELAY_OUT, RELAY_SOURCE, type Relay, startRelay } from "./relay.js";

/**
 * Starts the platform in this process the way `rosey start` does (the orchestrator: embedded nats-server
 * in a temporary data dir, core bus, core services, plugin manager, router, console connector on an idle
 * stream), with the five benchmarked plugins copied into a temporary plugins folder, and builds the two
 * measured paths on top of it.
 */

/** Bundled plugins the bench loads; the fifth comes from bench/plugins/. */
const BUNDLED = ["dice", "echo", "eightball", "help"] as const;
const BENCH_ONLY = ["reverse"] as const;

export interface PlatformSettings {
  logger: Logger;
  /** `process` (the default of `rosey start`) or `thread`. */
  isolation?: "process" | "thread";
  /** How long the router waits for a plugin. @default 5000 */
  routerTimeoutMs?: number;
}

export interface BenchPlatform {
  readonly config: Readonly<RoseyConfig>;
  readonly natsUrl: string;
  /** ms from `startRosey` to everything running. */
  readonly startupMs: number;
  readonly platformPath: BenchPath;
  readonly relayPath: BenchPath;
  /** Worker heaps (bytes) and states from the manager, over `rosey.monitoring.plugins`. */
  plugins(): Promise<PluginSnapshot[]>;
  stop(): Promise<void>;
}

export interface PluginSnapshot {
  name: string;
  state: string;
  heapUsed: number;
  restarts: number;
  violations: number;
  handlerMeanMs: number;
}

/** The bench's config: every plugin granted `basic`, publish caps lifted so the gate's rate limit is not what is measured. */
export function benchConfigInput(
  dataDir: string,
  pluginsDir: string,
  settings: PlatformSettings,
): RoseyConfigInput {
  const names = [...BUNDLED, ...BENCH_ONLY];
  return {
    version: 2,
    dataDir,
    platforms: [],
    // The database is not on the command path; the bench leaves it out so its figures are the path's.
    database: { enabled: false },
    plugins: {
      directory: pluginsDir,
      enabled: names,
      entries: Object.fromEntries(
        names.map((name) => [name, { grants: ["basic"], limits: { publishPerSecond: 100_000 } }]),
      ),
    },
    router: { defaultCooldownMs: 0, timeoutMs: settings.routerTimeoutMs ?? 5_000 },
    sandbox: {
      ...(settings.isolation ? { isolation: settings.isolation } : {}),
      maxLimits: { publishPerSecond: 100_000 },
    },
    logging: { level: "warn" },
  };
}

/** A long-lived subscription whose handler each phase swaps in (no subscribe/publish race per phase). */
class ReplyTap {
  handler: ((reply: Reply) => void) | undefined;

  constructor(nc: NatsConnection, subject: string) {
    const decoder = new TextDecoder();
    nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err || !this.handler) return;
        let parsed: { correlationId?: unknown; source?: unknown };
        try {
          parsed = JSON.parse(decoder.decode(msg.data)) as typeof parsed;
        } catch {
          return;
        }
        this.handler({ correlationId: parsed.correlationId, source: parsed.source });
      },
    });
  }

  attach(onReply: (reply: Reply) => void): () => void {
    this.handler = onReply;
    return () => {
      if (this.handler === onReply) this.handler = undefined;
    };
  }
}

export async function startBenchPlatform(settings: PlatformSettings): Promise<BenchPlatform> {
  const root = mkdtempSync(path.join(os.tmpdir(), "rosey-bench-"));
  const dataDir = path.join(root, "data");
  const pluginsDir = path.join(root, "plugins");
  for (const name of BUNDLED)
    cpSync(path.join(PACKAGE_ROOT, "plugins", name), path.join(pluginsDir, name), { recursive: true });
  for (const name of BENCH_ONLY)
    cpSync(path.join(PACKAGE_ROOT, "bench", "plugins", name), path.join(pluginsDir, name), {
      recursive: true,
    });
  const config = validateConfig(benchConfigInput(dataDir, pluginsDir, settings), "bench settings");

  let rosey: Rosey | undefined;
  let generator: Bus | undefined;
  let taps: NatsConnection | undefined;
  let relay: Relay | undefined;
  const cleanup = async () => {
    await generator?.close().catch(() => undefined);
    await relay?.stop().catch(() => undefined);
    await taps?.drain().catch(() => undefined);
    await rosey?.stop();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const t0 = performance.now();
    rosey = await startRosey({
      config,
      logger: settings.logger,
      stdin: new PassThrough(),
      stdout: new Writable({ write: (_chunk, _enc, done) => done() }),
    });
    const startupMs = Math.round(performance.now() - t0);
    const natsUrl = rosey.natsUrl;
    generator = await createBus({
      url: natsUrl,
      source: "connector:bench",
      name: "bench-generator",
      logger: settings.logger,
    });
    relay = await startRelay(natsUrl);
    taps = await connect({ servers: natsUrl, name: "bench-matcher" });
    const chatTap = new ReplyTap(taps, SUBJECTS.actionsChatSend);
    const relayTap = new ReplyTap(taps, RELAY_OUT);
    await taps.flush();
    const bus = generator;
    const platformPath: BenchPath = {
      name: "platform",
      send: (seq) => bus.publish(SUBJECTS.eventsMessage, chatEventFor(seq, BENCH_COMMANDS)).id,
      onReplies: (onReply) => chatTap.attach(onReply),
      isSuccess: (source) => source.startsWith("plugin:"),
    };
    const relayPath: BenchPath = {
      name: "relay",
      send: (seq) => bus.publish(RELAY_IN, chatEventFor(seq, BENCH_COMMANDS)).id,
      onReplies: (onReply) => relayTap.attach(onReply),
      isSuccess: (source) => source === RELAY_SOURCE,
    };
    return {
      config,
      natsUrl,
      startupMs,
      platformPath,
      relayPath,
      async plugins() {
        const reply = await bus.request<{ plugins: Array<Record<string, unknown>> }>(
          SUBJECTS.monitoringPlugins,
          {},
          { timeoutMs: 2_000 },
        );
        return (reply.data.plugins ?? []).map((p) => ({
          name: String(p.name),
          state: String(p.state),
          heapUsed: Number((p.memory as { heapUsed?: number } | undefined)?.heapUsed ?? 0),
          restarts: Number(p.restarts ?? 0),
          violations: Number(p.violations ?? 0),
          handlerMeanMs: Number((p.handlerLatencyMs as { mean?: number } | undefined)?.mean ?? 0),
        }));
      },
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
