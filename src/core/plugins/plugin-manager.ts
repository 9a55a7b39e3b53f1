import { MAX_PAYLOAD_CHARS } from "../../sandbox/protocol.js";
import type { Bus, BusMessage, BusSubscription } from "../bus.js";
import { type Command, type CommandInfo, type CommandResult, commandSchema } from "../commands.js";
import type { RoseyConfig } from "../config/schema.js";
import { errorMessage, type RoseyError } from "../errors.js";
import type { Logger } from "../logger.js";
import { commandSubject, SUBJECTS } from "../subjects.js";
import { bundlePlugin } from "./bundle.js";
import { PermissionGate, type Violation } from "./gate.js";
import { computeGrants, type EffectiveGrants, unknownGrantNames } from "./grants.js";
import { type DiscoveredPlugin, discoverPlugins, sha256 } from "./manifest.js";
import { PluginWorker, type ResolvedLimits } from "./plugin-worker.js";

/**
 * Loads every plugin in the plugins folder into its own sandboxed worker and keeps it running:
 * a bad manifest or a plugin that fails to load disables that plugin only; a crashed worker restarts
 * with exponential backoff until `sandbox.maxRestarts` within `sandbox.restartWindowMs`, then the plugin
 * is `failed`. Commands arrive on `rosey.commands.<plugin>.execute` (one queue group per plugin).
 */

export type PluginState = "loaded" | "starting" | "running" | "suspended" | "crashed" | "failed" | "stopped";

export interface PluginStatus {
  name: string;
  version: string;
  state: PluginState;
  codeSha256: string | undefined;
  restarts: number;
  uptimeMs: number;
  lastError: string | undefined;
  violations: number;
  memory: { heapUsed: number; arrayBuffers: number };
  handlerLatencyMs: { count: number; mean: number; max: number };
  grants: { requested: readonly string[]; effective: readonly string[]; missing: readonly string[] };
}

export interface PluginManagerOptions {
  bus: Bus;
  config: Readonly<RoseyConfig>;
  logger: Logger;
}

const DEFAULT_LIMITS: ResolvedLimits = { memoryMb: 64, handlerTimeoutMs: 5_000, publishPerSecond: 200 };
const RESTART_BASE_MS = 250;
const RESTART_MAX_MS = 30_000;

interface ManagedPlugin {
  discovered: DiscoveredPlugin;
  grants: EffectiveGrants;
  limits: ResolvedLimits;
  gate: PermissionGate;
  code?: string;
  codeSha256?: string;
  worker?: PluginWorker;
  state: PluginState;
  startedAt: number;
  restarts: number[];
  lastError?: string;
  violations: number;
  commandSub?: BusSubscription;
  restartTimer?: ReturnType<typeof setTimeout>;
  latency: { count: number; total: number; max: number };
}

export class PluginManager {
  readonly #bus: Bus;
  readonly #config: Readonly<RoseyConfig>;
  readonly #log: Logger;
  readonly #plugins = new Map<string, ManagedPlugin>();
  readonly #rejected: Array<{ dir: string; error: string }> = [];
  #commandOwners = new Map<string, string>();
  #monitoringSub: BusSubscription | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: PluginManagerOptions) {
    this.#bus = options.bus;
    this.#config = options.config;
    this.#log = options.logger.child({ component: "plugin-manager" });
  }

  async start(): Promise<void> {
    const badGrants = unknownGrantNames(this.#config);
    for (const bad of badGrants)
      this.#log.error({ grant: bad }, "config grants an unknown capability or group; ignored");
    const { plugins, rejected } = discoverPlugins(this.#config.plugins.directory);
    for (const r of rejected) {
      this.#rejected.push({ dir: r.dir, error: r.error.message });
      this.#log.error({ dir: r.dir, code: r.error.code }, r.error.message);
    }
    for (const discovered of plugins) {
      const { name } = discovered.manifest;
      const entry = this.#config.plugins.entries[name];
      if (
        entry?.enabled === false ||
        (this.#config.plugins.enabled && !this.#config.plugins.enabled.includes(name))
      ) {
        this.#log.info({ plugin: name }, "plugin disabled by config");
        continue;
      }
      this.#plugins.set(name, this.#manage(discovered));
    }
    this.#claimCommands();
    await Promise.all([...this.#plugins.values()].map((p) => this.#launch(p)));
    this.#monitoringSub = this.#bus.subscribe(SUBJECTS.monitoringPlugins, (m) => {
      m.respond({ plugins: this.status(), rejected: this.#rejected });
    });
    // Subscriptions must reach the server before anyone is told the plugins are up.
    await this.#bus.flush();
    const running = [...this.#plugins.values()]
      .filter((p) => p.state === "running")
      .map((p) => p.discovered.manifest.name);
    this.#log.info(
      { running, failed: this.#plugins.size - running.length + rejected.length },
      "plugins started",
    );
  }

  /** Commands of running plugins, in plugin then manifest order. */
  commands(): CommandInfo[] {
    const out: CommandInfo[] = [];
    for (const p of this.#plugins.values()) {
      if (p.state !== "running") continue;
      for (const c of p.discovered.manifest.commands ?? []) {
        if (this.#commandOwners.get(c.name) !== p.discovered.manifest.name) continue;
        out.push({
          name: c.name,
          plugin: p.discovered.manifest.name,
          usage: c.usage ?? `${this.#config.router.prefix}${c.name}`,
          description: c.description ?? "",
          cooldownMs: c.cooldownMs ?? this.#config.router.defaultCooldownMs,
          aliases: (c.aliases ?? []).filter((a) => this.#commandOwners.get(a) === p.discovered.manifest.name),
        });
      }
    }
    return out;
  }

  status(): PluginStatus[] {
    return [...this.#plugins.values()].map((p) => ({
      name: p.discovered.manifest.name,
      version: p.discovered.manifest.version,
      state: p.state,
      codeSha256: p.codeSha256,
      restarts: p.restarts.length,
      uptimeMs: p.state === "running" ? Date.now() - p.startedAt : 0,
      lastError: p.lastError,
      violations: p.violations,
      memory: p.worker?.memory ?? { heapUsed: 0, arrayBuffers: 0 },
      handlerLatencyMs: {
        count: p.latency.count,
        mean: p.latency.count ? p.latency.total / p.latency.count : 0,
        max: p.latency.max,
      },
      grants: { requested: p.grants.requested, effective: p.grants.effective, missing: p.grants.missing },
    }));
  }

  /** Stops every plugin (their stop hooks run, timers and subscriptions are released). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#monitoringSub?.unsubscribe();
      await Promise.all(
        [...this.#plugins.values()].map(async (p) => {
          if (p.restartTimer) clearTimeout(p.restartTimer);
          p.commandSub?.unsubscribe();
          p.commandSub = undefined;
          const worker = p.worker;
          p.state = "stopped";
          await worker?.stop();
        }),
      );
    })();
    return this.#stopping;
  }

  #manage(discovered: DiscoveredPlugin): ManagedPlugin {
    const { manifest } = discovered;
    const grants = computeGrants(manifest, this.#config);
    if (grants.missing.length) {
      this.#log.warn(
        { plugin: manifest.name, missing: grants.missing },
        "plugin requests capabilities the config does not grant; it runs without them",
      );
    }
    if (grants.unknown.length) {
      this.#log.warn(
        { plugin: manifest.name, unknown: grants.unknown },
        "plugin requests capabilities that do not exist",
      );
    }
    const limits = this.#limitsFor(discovered);
    // The gate reports violations to the plugin's record, which holds the gate: tie the knot via `managed`.
    let managed: ManagedPlugin | undefined;
    const gate = new PermissionGate({
      grants,
      bus: this.#bus,
      logger: this.#log,
      publishPerSecond: limits.publishPerSecond,
      maxPayloadChars: MAX_PAYLOAD_CHARS,
      violationWindowMs: this.#config.sandbox.violations.windowMs,
      onViolation: (v) => {
        if (managed) this.#onViolation(managed, v);
      },
    });
    managed = {
      discovered,
      grants,
      limits,
      gate,
      state: "loaded",
      startedAt: 0,
      restarts: [],
      violations: 0,
      latency: { count: 0, total: 0, max: 0 },
    };
    return managed;
  }

  #limitsFor(discovered: DiscoveredPlugin): ResolvedLimits {
    const max = this.#config.sandbox.maxLimits;
    const fromManifest = discovered.manifest.limits ?? {};
    const fromConfig = this.#config.plugins.entries[discovered.manifest.name]?.limits ?? {};
    const pick = (key: keyof ResolvedLimits) =>
      Math.min(max[key], fromConfig[key] ?? fromManifest[key] ?? DEFAULT_LIMITS[key]);
    return {
      memoryMb: pick("memoryMb"),
      handlerTimeoutMs: pick("handlerTimeoutMs"),
      publishPerSecond: pick("publishPerSecond"),
    };
  }

  /** First plugin (alphabetically) to claim a command name or alias keeps it; later claims are refused loudly. */
  #claimCommands(): void {
    const owners = new Map<string, string>();
    for (const p of this.#plugins.values()) {
      const name = p.discovered.manifest.name;
      for (const c of p.discovered.manifest.commands ?? []) {
        for (const word of [c.name, ...(c.aliases ?? [])]) {
          const owner = owners.get(word);
          if (owner && owner !== name) {
            this.#log.error(
              { plugin: name, command: word, owner },
              `command '${word}' is already provided by '${owner}'; ignored`,
            );
            continue;
          }
          owners.set(word, name);
        }
      }
    }
    this.#commandOwners = owners;
  }

  async #launch(p: ManagedPlugin): Promise<void> {
    const { manifest } = p.discovered;
    p.state = "starting";
    try {
      if (p.code === undefined) {
        p.code = await bundlePlugin(p.discovered.entryFile, p.discovered.dir);
        p.codeSha256 = sha256(p.code);
      }
      const entry = this.#config.plugins.entries[manifest.name];
      const worker = new PluginWorker({
        init: {
          plugin: { name: manifest.name, version: manifest.version },
          source: p.code,
          config: structuredClone(entry?.config ?? {}) as Record<string, unknown>,
          handlerTimeoutMs: p.limits.handlerTimeoutMs,
        },
        limits: p.limits,
        gate: p.gate,
        logger: this.#log,
        readyTimeoutMs: this.#config.sandbox.readyTimeoutMs,
        subscribe: manifest.subscribe ?? [],
      });
      p.worker = worker;
      await worker.start();
      if (this.#stopping) {
        await worker.stop();
        return;
      }
      p.state = "running";
      p.startedAt = Date.now();
      p.commandSub ??= this.#bus.subscribe(commandSubject(manifest.name), (m) => this.#onCommand(p, m), {
        queue: `plugin:${manifest.name}`,
      });
      this.#log.info(
        { plugin: manifest.name, version: manifest.version, threadId: worker.threadId },
        "plugin running",
      );
      void worker.exited().then((exit) => this.#onExit(p, worker, exit.reason));
    } catch (err) {
      p.lastError = errorMessage(err);
      // Load errors are deterministic: retrying the same code cannot help.
      p.state = "failed";
      this.#log.error(
        { plugin: manifest.name, code: (err as RoseyError).code },
        `plugin failed to start: ${p.lastError}`,
      );
    }
  }

  #onExit(p: ManagedPlugin, worker: PluginWorker, reason: string): void {
    if (p.worker !== worker || p.state === "stopped" || this.#stopping) return;
    p.lastError = reason;
    p.state = "crashed";
    const now = Date.now();
    p.restarts = p.restarts.filter((t) => t > now - this.#config.sandbox.restartWindowMs);
    if (p.restarts.length >= this.#config.sandbox.maxRestarts) {
      p.state = "failed";
      this.#log.error(
        { plugin: p.discovered.manifest.name, reason },
        "plugin crashed too often; it stays failed",
      );
      this.#bus.publish(SUBJECTS.securityAudit, {
        type: "plugin.failed",
        plugin: p.discovered.manifest.name,
        reason: `${p.restarts.length + 1} crashes within ${this.#config.sandbox.restartWindowMs} ms; last: ${reason}`,
      });
      return;
    }
    const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** p.restarts.length);
    p.restarts.push(now);
    this.#log.warn(
      { plugin: p.discovered.manifest.name, reason, restartInMs: delay },
      "plugin worker ended; restarting",
    );
    p.restartTimer = setTimeout(() => {
      p.restartTimer = undefined;
      void this.#launch(p);
    }, delay);
  }

  #onViolation(p: ManagedPlugin, violation: Violation): void {
    p.violations++;
    const { threshold, suspendOnSevere } = this.#config.sandbox.violations;
    if (p.state === "running" && ((suspendOnSevere && violation.severe) || violation.count >= threshold)) {
      p.state = "suspended";
      p.gate.suspended = true;
      const reason = violation.severe
        ? `severe violation: ${violation.reason}`
        : `${violation.count} violations within the window`;
      p.lastError = reason;
      this.#log.error({ plugin: p.grants.plugin, reason }, "plugin suspended");
      this.#bus.publish(SUBJECTS.securityAudit, {
        type: "plugin.suspended",
        plugin: p.grants.plugin,
        reason,
      });
    }
  }

  async #onCommand(p: ManagedPlugin, message: BusMessage): Promise<void> {
    const parsed = commandSchema.safeParse(message.envelope.data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      this.#reply(message, {
        ok: false,
        error: {
          code: "VALIDATION_FAILED",
          message: `invalid command: '${issue?.path.join(".")}' ${issue?.message}`,
        },
      });
      return;
    }
    const command: Command = parsed.data;
    const worker = p.worker;
    if (p.state !== "running" || !worker) {
      this.#reply(message, {
        ok: false,
        error: { code: "PLUGIN_NOT_RUNNING", message: `plugin '${p.grants.plugin}' is ${p.state}` },
      });
      return;
    }
    const outcome = await worker.runCommand(command);
    for (const ms of worker.takeHandlerTimings()) {
      p.latency.count++;
      p.latency.total += ms;
      if (ms > p.latency.max) p.latency.max = ms;
    }
    if (!outcome.ok) {
      this.#reply(message, {
        ok: false,
        error: outcome.error ?? { code: "PLUGIN_ERROR", message: "handler failed" },
      });
      return;
    }
    let replied = false;
    if (outcome.text) {
      replied = p.gate.publishData(
        SUBJECTS.actionsChatSend,
        { platform: command.platform, channel: command.channel, text: outcome.text },
        command.correlationId,
      );
      if (!replied) {
        this.#reply(message, {
          ok: false,
          error: {
            code: "PERMISSION_DENIED",
            message: `plugin '${p.grants.plugin}' may not send chat messages`,
          },
        });
        return;
      }
    }
    this.#reply(message, { ok: true, replied });
  }

  #reply(message: BusMessage, result: CommandResult): void {
    try {
      message.respond(result);
    } catch (err) {
      this.#log.warn(
        { err: errorMessage(err), correlationId: message.envelope.correlationId },
        "could not answer command",
      );
    }
  }
}
