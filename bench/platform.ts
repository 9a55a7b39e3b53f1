import type { ChildProcess } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "nats";
import YAML from "yaml";
import { type Bus, createBus } from "../src/core/bus.js";
import { validateConfig } from "../src/core/config/load.js";
import type { RoseyConfig, RoseyConfigInput } from "../src/core/config/schema.js";
import type { Logger } from "../src/core/logger.js";
import { natsConnectOptions } from "../src/core/nats/connect-options.js";
import { type EmbeddedNats, startEmbeddedNats } from "../src/core/nats/embedded-server.js";
import { coreNodeFlags } from "../src/core/node-flags.js";
import { PACKAGE_ROOT } from "../src/core/paths.js";
import { SUBJECTS } from "../src/core/subjects.js";
import { spawnTied, stopChild } from "../src/core/tied-child.js";
import { FLOOR_IN, FLOOR_OUT, FLOOR_SOURCE } from "./floor/subjects.mjs";
import { type Floor, startFloor } from "./floor.js";
import { BENCH_COMMANDS, BENCH_PLATFORM, chatEventFor } from "./load.js";
import type { Reply } from "./matcher.js";
import type { BenchPath } from "./phase.js";
import { isAlive, sampleChildren } from "./procfs.js";
import { RELAY_IN, RELAY_OUT, RELAY_SOURCE, type Relay, startRelay } from "./relay.js";

/**
 * Runs the platform the way an operator does, as its own process: `node bin/rosey.js start --config
 * <temp rosey.yaml>` with `NATS_URL` pointing at the bench's own embedded nats-server (which the raw relay
 * uses too, from a process of its own), the five benchmarked plugins copied into a temporary plugins folder.
 * The load generator and the reply matcher stay in this (the bench) process, so the core's RSS and CPU are
 * read from /proc for the child alone, and the core's event loop is not shared with the generator.
 */

/** Bundled plugins the bench loads; the fifth comes from bench/plugins/. */
const BUNDLED = ["dice", "echo", "eightball", "help"] as const;
const BENCH_ONLY = ["reverse"] as const;
const PLUGIN_NAMES: readonly string[] = [...BUNDLED, ...BENCH_ONLY];

export interface PlatformSettings {
  logger: Logger;
  /** `process` (the default of `rosey start`) or `thread`. */
  isolation?: "process" | "thread";
  /** The core's young-generation cap (`--max-semi-space-size`), MB. @default the core's own (node-flags.ts) */
  coreSemiSpaceMb?: number;
  /** How long the router waits for a plugin. @default 5000 */
  routerTimeoutMs?: number;
  /** How long to wait for the child to have all five plugins running and answering. @default 60000 */
  readyTimeoutMs?: number;
}

/** How the `rosey start` child ended. */
export interface CoreExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** How it was stopped: SIGTERM (a clean stop, exit code 0), SIGKILL when that timed out, or not at all. */
  stoppedBy: "SIGTERM" | "SIGKILL" | "exited-early";
  /** Pids of the core's children (the plugin host) still alive after it exited; should be empty. */
  leftover: number[];
}

export interface BenchPlatform {
  /** The config the child runs (also what the in-process cold-start measurement uses). */
  readonly config: Readonly<RoseyConfig>;
  readonly natsUrl: string;
  /** pid of the `rosey start` child. */
  readonly corePid: number;
  /** How the child was started, node flags included; the temp config is shown as `<temp rosey.yaml>`. */
  readonly coreCommand: string;
  /** pid of the bench's embedded nats-server. */
  readonly natsPid: number;
  /** ms from spawning `rosey start` to all five plugins running and a command answered. */
  readonly startupMs: number;
  readonly platformPath: BenchPath;
  readonly relayPath: BenchPath;
  /**
   * Starts the hop floor (floor.ts) on the same nats-server, with one worker per benchmarked plugin, and
   * returns its path; it runs until `stop`. Its pid is `floorPid()`.
   */
  startFloorPath(): Promise<BenchPath>;
  floorPid(): number | undefined;
  /** pid of the raw relay's process (relay.ts). */
  relayPid(): number | undefined;
  /** The plugin host's pid (a child of the core; process isolation only), read from /proc. */
  hostPid(): number | undefined;
  /** Worker heaps (bytes) and states from the manager, over `rosey.monitoring.plugins`. */
  plugins(): Promise<PluginSnapshot[]>;
  /** Ends the child (SIGTERM, then SIGKILL on timeout), then the nats-server. Idempotent. */
  stop(): Promise<CoreExit>;
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
  settings: Omit<PlatformSettings, "logger">,
): RoseyConfigInput {
  return {
    version: 2,
    dataDir,
    // The load generator is the connector of platform "bench", in its own process: the core runs none.
    platforms: [{ type: "external", name: BENCH_PLATFORM }],
    // The database is not on the command path; the bench leaves it out so its figures are the path's.
    database: { enabled: false },
    plugins: {
      directory: pluginsDir,
      enabled: [...PLUGIN_NAMES],
      entries: Object.fromEntries(
        PLUGIN_NAMES.map((name) => [name, { grants: ["basic"], limits: { publishPerSecond: 100_000 } }]),
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

/** Last lines of the child's stderr, for error messages. */
class Tail {
  #lines: string[] = [];
  #partial = "";
  push(chunk: string): void {
    const parts = (this.#partial + chunk).split("\n");
    this.#partial = parts.pop() ?? "";
    this.#lines.push(...parts.filter((l) => l.trim()));
    if (this.#lines.length > 40) this.#lines.splice(0, this.#lines.length - 40);
  }
  text(): string {
    return [...this.#lines, this.#partial].filter((l) => l.trim()).join("\n");
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

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
  const input = benchConfigInput(dataDir, pluginsDir, settings);
  // Validated here too: a bad bench config fails before anything is spawned, and cold start uses it.
  const config = validateConfig(input, "bench settings");
  const configFile = path.join(root, "rosey.yaml");
  writeFileSync(configFile, YAML.stringify(input));
  const flags = coreNodeFlags(settings.coreSemiSpaceMb);
  const coreCommand = ["node", ...flags, "bin/rosey.js", "start", "--config", "<temp rosey.yaml>"].join(" ");

  let nats: EmbeddedNats | undefined;
  let child: ChildProcess | undefined;
  let generator: Bus | undefined;
  let taps: NatsConnection | undefined;
  let relay: Relay | undefined;
  let floor: Floor | undefined;
  const tail = new Tail();
  let stopping: Promise<CoreExit> | undefined;
  let lastHostPid: number | undefined;
  const hostPid = (): number | undefined => {
    if (!child?.pid) return undefined;
    const host = sampleChildren(child.pid).find((c) => c.role === "plugin-host");
    if (host) lastHostPid = host.pid;
    return host?.pid;
  };

  const stopCore = async (): Promise<CoreExit> => {
    if (!child) return { code: null, signal: null, stoppedBy: "exited-early", leftover: [] };
    const hosts = new Set<number>();
    const seen = hostPid() ?? lastHostPid;
    if (seen) hosts.add(seen);
    const exitedEarly = child.exitCode !== null || child.signalCode !== null;
    // `rosey start` stops everything on SIGTERM and exits 0; a SIGKILL after the grace means it did not.
    if (!exitedEarly) await stopChild(child, 15_000);
    const stoppedBy: CoreExit["stoppedBy"] = exitedEarly
      ? "exited-early"
      : child.signalCode === "SIGKILL"
        ? "SIGKILL"
        : "SIGTERM";
    // The plugin host exits with its parent; give it a moment, then report any that did not.
    const deadline = Date.now() + 3_000;
    while ([...hosts].some(isAlive) && Date.now() < deadline) await sleep(50);
    const leftover = [...hosts].filter(isAlive);
    for (const pid of leftover) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    return { code: child.exitCode, signal: child.signalCode, stoppedBy, leftover };
  };

  const cleanup = (): Promise<CoreExit> => {
    stopping ??= (async () => {
      await generator?.close().catch(() => undefined);
      await relay?.stop().catch(() => undefined);
      await floor?.stop().catch(() => undefined);
      await taps?.drain().catch(() => undefined);
      const exit = await stopCore();
      await nats?.stop();
      rmSync(root, { recursive: true, force: true });
      return exit;
    })();
    return stopping;
  };
  try {
    nats = await startEmbeddedNats({
      bin: config.nats.serverBin,
      dataDir: path.join(root, "nats"),
      maxPayloadBytes: config.nats.maxPayloadBytes,
    });
    const natsUrl = nats.url;
    generator = await createBus({
      url: natsUrl,
      source: "connector:bench",
      name: "bench-generator",
      logger: settings.logger,
    });
    relay = await startRelay(natsUrl);
    taps = await connect({ ...natsConnectOptions(natsUrl), name: "bench-matcher" });
    const chatTap = new ReplyTap(taps, SUBJECTS.actionsChatSend);
    const relayTap = new ReplyTap(taps, RELAY_OUT);
    const floorTap = new ReplyTap(taps, FLOOR_OUT);
    await taps.flush();
    const bus = generator;

    const t0 = performance.now();
    const { NATS_URL: _url, ROSEY_CONFIG: _cfg, LOG_LEVEL: _lvl, ...env } = process.env;
    // Tied like the relay and the floor: it dies with the bench even when the bench is killed.
    const spawned = spawnTied(
      process.execPath,
      [...flags, path.join(PACKAGE_ROOT, "bin", "rosey.js"), "start", "--config", configFile],
      { cwd: root, env: { ...env, NATS_URL: natsUrl }, stdio: ["ignore", "ignore", "pipe"] },
    );
    child = spawned;
    spawned.stderr?.setEncoding("utf8");
    spawned.stderr?.on("data", (chunk: string) => tail.push(chunk));
    const early = new Promise<never>((_, reject) => {
      spawned.once("error", reject);
      spawned.once("exit", (code, signal) =>
        reject(new Error(`rosey start exited early (code ${code}, signal ${signal}):\n${tail.text()}`)),
      );
    });
    early.catch(() => undefined);

    const plugins = async (): Promise<PluginSnapshot[]> => {
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
    };
    const readyDeadline = Date.now() + (settings.readyTimeoutMs ?? 60_000);
    const ready = async (): Promise<void> => {
      // 1. the manager answers with all five plugins running;
      for (;;) {
        if (Date.now() > readyDeadline)
          throw new Error(`rosey start did not get its plugins running in time:\n${tail.text()}`);
        const list = await plugins().catch(() => []);
        const running = new Set(list.filter((p) => p.state === "running").map((p) => p.name));
        if (PLUGIN_NAMES.every((n) => running.has(n))) break;
        await sleep(100);
      }
      // 2. the router (started after the manager) answers a command end to end.
      for (let probe = 0; ; probe++) {
        if (Date.now() > readyDeadline)
          throw new Error(`rosey start's router did not answer in time:\n${tail.text()}`);
        const answered = await new Promise<boolean>((resolve) => {
          let id = "";
          const timer = setTimeout(() => {
            detach();
            resolve(false);
          }, 500);
          const detach = chatTap.attach((r) => {
            if (r.correlationId !== id) return;
            clearTimeout(timer);
            detach();
            resolve(true);
          });
          id = bus.publish(SUBJECTS.eventsMessage, chatEventFor(1_000_000_000 + probe, BENCH_COMMANDS)).id;
        });
        if (answered) return;
      }
    };
    await Promise.race([ready(), early]);
    const startupMs = Math.round(performance.now() - t0);
    const corePid = spawned.pid ?? -1;

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
    const floorPath: BenchPath = {
      name: "floor",
      send: (seq) => bus.publish(FLOOR_IN, chatEventFor(seq, BENCH_COMMANDS)).id,
      onReplies: (onReply) => floorTap.attach(onReply),
      isSuccess: (source) => source === FLOOR_SOURCE,
    };
    return {
      config,
      natsUrl,
      corePid,
      coreCommand,
      natsPid: nats.pid,
      startupMs,
      platformPath,
      relayPath,
      async startFloorPath() {
        floor ??= await startFloor(natsUrl, PLUGIN_NAMES.length);
        return floorPath;
      },
      floorPid: () => floor?.pid,
      relayPid: () => relay?.pid,
      hostPid,
      plugins,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
