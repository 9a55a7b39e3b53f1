import { MAX_PAYLOAD_CHARS } from "../../sandbox/wire-limits.js";
import { backoffDelay } from "../backoff.js";
import type { Bus, BusMessage, BusSubscription } from "../bus.js";
import { type Command, type CommandInfo, type CommandResult, commandSchema } from "../commands.js";
import type { RoseyConfig } from "../config/schema.js";
import { type ErrorCode, errorMessage, type RoseyError } from "../errors.js";
import { LogBudget } from "../log-budget.js";
import type { Logger } from "../logger.js";
import { commandSubject, SUBJECTS } from "../subjects.js";
import { compileCheck } from "../validation.js";
import { bundlePlugin } from "./bundle.js";
import { PermissionGate, type SendOutcome, type Violation } from "./gate.js";
import { computeGrants, type EffectiveGrants } from "./grants.js";
import { type ResolvedLimits, resolveLimits } from "./limits.js";
import { type DiscoveredPlugin, discoverPlugins, sha256 } from "./manifest.js";
import { checkPluginConfig } from "./plugin-config.js";
import { createSpawner } from "./plugin-host-process.js";
import type { PluginState } from "./plugin-state.js";
import { PluginWorker, type WorkerAlert, type WorkerExit } from "./plugin-worker.js";
import { claimCommands, isPluginEnabled, setupFindings } from "./preflight.js";
import type { SandboxSpawner } from "./sandbox-thread.js";

/**
 * Loads every plugin in the plugins folder into its own sandboxed worker and keeps it running:
 * a bad manifest or a plugin that fails to load disables that plugin only; a crashed worker restarts
 * with exponential backoff until `sandbox.maxRestarts` within `sandbox.restartWindowMs`, then the plugin
 * is `failed`. Commands arrive on `rosey.commands.<plugin>.execute` (one queue group per plugin).
 */

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
  /** onEvent, subscription and timer handlers whose promise has not settled (last heartbeat). */
  pendingHandlers: number;
  handlerLatencyMs: { count: number; mean: number; max: number };
  /** Commands not run, no longer awaited, or whose reply was not sent, because their sender's deadline had passed. */
  lateCommands: number;
  grants: { requested: readonly string[]; effective: readonly string[]; missing: readonly string[] };
}

export interface PluginManagerOptions {
  bus: Bus;
  config: Readonly<RoseyConfig>;
  logger: Logger;
}

const checkCommand = compileCheck(commandSchema);
const LATE_LOGS_PER_SECOND = 20;
const RESTART_BASE_MS = 250;
const RESTART_MAX_MS = 30_000;
/**
 * Refusals for a plugin's rate suspend it only past this many times what its rate lets through in a
 * violation window (10/s over 10 s: 1,000 refused operations), and at most `RATE_FLOOD_MAX`: every refusal
 * is published and persisted, so a plugin allowed 1,000/s must not get to make 100,000 records first. A
 * burst of users' commands costs a plugin some replies, not its place; a plugin publishing in a loop gets
 * there in milliseconds.
 */
const RATE_FLOOD_FACTOR = 10;
const RATE_FLOOD_MAX = 1_000;

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
  /** Commands not run, no longer awaited, or whose reply was not sent, because their sender's deadline had passed. */
  late: number;
  lateLog: LogBudget;
}

export class PluginManager {
  readonly #bus: Bus;
  readonly #config: Readonly<RoseyConfig>;
  readonly #log: Logger;
  readonly #plugins = new Map<string, ManagedPlugin>();
  readonly #rejected: Array<{ dir: string; error: string }> = [];
  #commandOwners = new Map<string, string>();
  #subs: BusSubscription[] = [];
  #directory: readonly CommandInfo[] | undefined;
  #stopping: Promise<void> | undefined;
  readonly #spawner: SandboxSpawner;
  readonly #root: Logger;

  constructor(options: PluginManagerOptions) {
    this.#bus = options.bus;
    this.#config = options.config;
    this.#root = options.logger;
    this.#log = options.logger.child({ component: "plugin-manager" });
    this.#spawner = createSpawner(options.config.sandbox.isolation, options.logger);
  }

  /** The sandbox spawner (exposed for monitoring and tests: host pid, host restarts). */
  get spawner(): SandboxSpawner {
    return this.#spawner;
  }

  async start(): Promise<void> {
    const discovered = discoverPlugins(this.#config.plugins.directory);
    for (const r of discovered.rejected) this.#rejected.push({ dir: r.dir, error: r.error.message });
    for (const finding of setupFindings(this.#config, discovered)) {
      const fields = { plugin: finding.plugin, where: finding.where };
      if (finding.level === "error") this.#log.error(fields, finding.message);
      else this.#log.warn(fields, finding.message);
    }
    for (const plugin of discovered.plugins) {
      const { name } = plugin.manifest;
      if (!isPluginEnabled(this.#config, name)) {
        this.#log.info({ plugin: name }, "plugin disabled by config");
        continue;
      }
      this.#plugins.set(name, this.#manage(plugin));
    }
    this.#commandOwners = claimCommands(
      [...this.#plugins.values()].map((p) => p.discovered.manifest),
      this.#config.router.commands,
    ).owners;
    await Promise.all([...this.#plugins.values()].map((p) => this.#launch(p)));
    this.#subs.push(
      this.#bus.subscribe(SUBJECTS.monitoringPlugins, (m) => {
        m.respond({ isolation: this.#spawner.isolation, plugins: this.status(), rejected: this.rejected() });
      }),
      this.#bus.subscribe("rosey.admin.plugins.*", (m) => this.#onAdmin(m)),
    );
    // Subscriptions must reach the server before anyone is told the plugins are up.
    await this.#bus.flush();
    const running = [...this.#plugins.values()]
      .filter((p) => p.state === "running")
      .map((p) => p.discovered.manifest.name);
    this.#log.info(
      { running, failed: this.#plugins.size - running.length + discovered.rejected.length },
      "plugins started",
    );
  }

  /**
   * Commands of running plugins, in plugin then manifest order. The router asks on every chat message,
   * so the list is built once per change of which plugins are running (`#setState`), not per call.
   */
  commands(): readonly CommandInfo[] {
    this.#directory ??= Object.freeze(this.#buildDirectory());
    return this.#directory;
  }

  #buildDirectory(): CommandInfo[] {
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

  /** The plugin that provides a command name or alias, whether or not it is running now. */
  ownerOf(command: string): string | undefined {
    return this.#commandOwners.get(command);
  }

  /** Plugin folders that were not loaded (invalid manifest), with why. */
  rejected(): ReadonlyArray<{ dir: string; error: string }> {
    return this.#rejected;
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
      pendingHandlers: p.worker?.pendingHandlers ?? 0,
      handlerLatencyMs: {
        count: p.latency.count,
        mean: p.latency.count ? p.latency.total / p.latency.count : 0,
        max: p.latency.max,
      },
      lateCommands: p.late,
      grants: { requested: p.grants.requested, effective: p.grants.effective, missing: p.grants.missing },
    }));
  }

  /** Stops every plugin (their stop hooks run, timers and subscriptions are released). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const sub of this.#subs) sub.unsubscribe();
      await Promise.all(
        [...this.#plugins.values()].map(async (p) => {
          if (p.restartTimer) clearTimeout(p.restartTimer);
          p.commandSub?.unsubscribe();
          p.commandSub = undefined;
          const worker = p.worker;
          this.#setState(p, "stopped");
          await worker?.stop();
          p.gate.close();
        }),
      );
      await this.#spawner.close();
    })();
    return this.#stopping;
  }

  #manage(discovered: DiscoveredPlugin): ManagedPlugin {
    const { manifest } = discovered;
    const grants = computeGrants(manifest, this.#config);
    const limits = resolveLimits(this.#config, manifest);
    // The gate reports violations to the plugin's record, which holds the gate: tie the knot via `managed`.
    let managed: ManagedPlugin | undefined;
    const gate = new PermissionGate({
      grants,
      bus: this.#bus,
      // The root logger: the gate names its own component (a second `component` key would repeat in JSON).
      logger: this.#root,
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
      late: 0,
      lateLog: new LogBudget(LATE_LOGS_PER_SECOND),
    };
    return managed;
  }

  async #launch(p: ManagedPlugin): Promise<void> {
    const { manifest } = p.discovered;
    this.#setState(p, "starting");
    // This launch's worker once spawned; until then p.worker is still the previous one.
    let launched: PluginWorker | undefined;
    try {
      const entry = this.#config.plugins.entries[manifest.name];
      checkPluginConfig(manifest.name, manifest.configSchema, entry?.config ?? {});
      if (p.code === undefined) {
        p.code = await bundlePlugin(p.discovered.entryFile, p.discovered.dir);
        p.codeSha256 = sha256(p.code);
      }
      const sandbox = this.#config.sandbox;
      const worker = new PluginWorker({
        spawner: this.#spawner,
        heartbeatMs: sandbox.heartbeatMs,
        maxArrayBufferBytes: sandbox.maxArrayBufferMb * 1024 * 1024,
        cpuHogUtilization: sandbox.cpuHogUtilization,
        cpuHogSamples: Math.max(1, Math.ceil((sandbox.cpuHogSeconds * 1000) / sandbox.heartbeatMs)),
        onAlert: (alert) => this.#onAlert(p, alert),
        init: {
          plugin: { name: manifest.name, version: manifest.version },
          source: p.code,
          config: structuredClone(entry?.config ?? {}) as Record<string, unknown>,
        },
        limits: p.limits,
        gate: p.gate,
        logger: this.#log,
        readyTimeoutMs: this.#config.sandbox.readyTimeoutMs,
        subscribe: manifest.subscribe ?? [],
      });
      launched = worker;
      p.worker = worker;
      await worker.start();
      if (this.#stopping) {
        await worker.stop();
        return;
      }
      // Suspended while its start() ran: the worker is already being ended.
      if (p.state === "suspended") return;
      this.#setState(p, "running");
      p.startedAt = Date.now();
      this.#answerCommands(p);
      this.#log.info(
        { plugin: manifest.name, version: manifest.version, threadId: worker.threadId },
        "plugin running",
      );
      void worker.exited().then((exit) => this.#onExit(p, worker, exit));
    } catch (err) {
      // Its worker was killed because start() broke the rules: the suspension is the outcome, and its reason.
      if (p.state === "suspended") return;
      p.lastError = errorMessage(err);
      // A start that failed because its worker ended has its exit settled by now: peek at it without waiting.
      const exit = launched && (await Promise.race([launched.exited(), undefined]));
      if (launched && exit?.hostCrash) {
        // Not a load error of this plugin's: the plugin host died under it (another plugin took it down, or it
        // was killed). It restarts like a crash, spending its restart budget: it may also be the plugin whose
        // load takes the host down (a huge allocation at the top level), which only repetition tells apart,
        // and a free restart would let that one crash the host for every plugin forever.
        this.#onExit(p, launched, { ...exit, hostCrash: false, reason: p.lastError });
        return;
      }
      // Load errors are deterministic: retrying the same code cannot help.
      this.#setState(p, "failed");
      this.#log.error(
        { plugin: manifest.name, code: (err as RoseyError).code },
        `plugin failed to start: ${p.lastError}`,
      );
    }
  }

  #onExit(p: ManagedPlugin, worker: PluginWorker, exit: WorkerExit): void {
    if (p.worker !== worker || p.state === "stopped" || this.#stopping) return;
    const name = p.discovered.manifest.name;
    // A suspended plugin's worker was ended on purpose: the suspension's reason stays its last error.
    if (p.state === "suspended" || p.state === "failed") return;
    p.lastError = exit.reason;
    if (exit.hostCrash && exit.busy) {
      // The host died while this plugin's handler ran: it is the one that took the process down.
      this.#fail(p, `took down the plugin host while handling a command (${exit.reason})`);
      return;
    }
    this.#setState(p, "crashed");
    const now = Date.now();
    p.restarts = p.restarts.filter((t) => t > now - this.#config.sandbox.restartWindowMs);
    // A plugin that merely shared a host with the culprit is restarted without spending its budget.
    if (!exit.hostCrash && p.restarts.length >= this.#config.sandbox.maxRestarts) {
      this.#fail(
        p,
        `${p.restarts.length + 1} crashes within ${this.#config.sandbox.restartWindowMs} ms; last: ${exit.reason}`,
      );
      return;
    }
    const delay = exit.hostCrash
      ? RESTART_BASE_MS
      : backoffDelay(p.restarts.length, RESTART_BASE_MS, RESTART_MAX_MS);
    if (!exit.hostCrash) p.restarts.push(now);
    this.#log.warn(
      { plugin: name, reason: exit.reason, restartInMs: delay },
      "plugin worker ended; restarting",
    );
    this.#audit("plugin.crashed", name, exit.reason);
    p.restartTimer = setTimeout(() => {
      p.restartTimer = undefined;
      void this.#launch(p);
    }, delay);
  }

  /** Takes the plugin's command subject; `#onCommand` answers from its state. */
  #answerCommands(p: ManagedPlugin): void {
    const { name } = p.discovered.manifest;
    p.commandSub ??= this.#bus.subscribe(commandSubject(name), (m) => this.#onCommand(p, m), {
      queue: `plugin:${name}`,
    });
  }

  /** Every state change goes through here: the command directory depends on which plugins run. */
  #setState(p: ManagedPlugin, state: PluginState): void {
    if (p.state === state) return;
    if (p.state === "running" || state === "running") this.#directory = undefined;
    p.state = state;
  }

  #fail(p: ManagedPlugin, reason: string): void {
    this.#setState(p, "failed");
    p.lastError = reason;
    p.commandSub?.unsubscribe();
    p.commandSub = undefined;
    this.#log.error({ plugin: p.grants.plugin, reason }, "plugin quarantined (failed)");
    this.#audit("plugin.failed", p.grants.plugin, reason);
  }

  #audit(type: string, plugin: string, reason: string): void {
    try {
      this.#bus.publish(SUBJECTS.securityAudit, { type, plugin, reason });
    } catch (err) {
      this.#log.error({ err: errorMessage(err), type, plugin }, "could not publish audit event");
    }
  }

  /**
   * A suspended plugin runs no code: its worker ends, since a gate that drops everything still lets a
   * running worker spend the core's time on messages that are refused one by one. A misbehaving worker is
   * killed; one the operator suspends is stopped (its `onStop` runs). `resume` starts a new one.
   */
  #suspend(p: ManagedPlugin, reason: string, end: "kill" | "stop"): void {
    // A plugin is judged from its first operation: what its start() does counts as much as its handlers.
    if (p.state !== "running" && p.state !== "starting") return;
    this.#setState(p, "suspended");
    p.gate.suspended = true;
    p.lastError = reason;
    // Suspended before it ever ran: its commands are still answered (PLUGIN_NOT_RUNNING), as after running.
    this.#answerCommands(p);
    this.#log.error({ plugin: p.grants.plugin, reason }, "plugin suspended");
    this.#audit("plugin.suspended", p.grants.plugin, reason);
    if (end === "kill") void p.worker?.kill(`suspended: ${reason}`);
    else void p.worker?.stop();
  }

  #onAlert(p: ManagedPlugin, alert: WorkerAlert): void {
    if (alert.type === "offheap") {
      this.#suspend(
        p,
        `off-heap memory ${Math.round(alert.bytes / 1048576)} MB above the ${Math.round(alert.limit / 1048576)} MB cap`,
        "kill",
      );
      return;
    }
    this.#log.warn(
      { plugin: p.grants.plugin, utilization: alert.utilization },
      "worker hogs the CPU; terminating",
    );
    void p.worker?.kill(
      `CPU hog: event-loop utilisation ${alert.utilization.toFixed(2)} for ${alert.seconds} s`,
    );
  }

  /** `rosey.admin.plugins.resume|suspend|reload` with `{ plugin }`: operators' controls. */
  #onAdmin(message: BusMessage): void {
    const action = message.subject.split(".").pop();
    const name = (message.envelope.data as { plugin?: unknown } | null)?.plugin;
    const p = typeof name === "string" ? this.#plugins.get(name) : undefined;
    const answer = (ok: boolean, detail: string) =>
      message.respond(
        ok ? { ok, state: p?.state, detail } : { ok, error: { code: "VALIDATION_FAILED", message: detail } },
      );
    if (!p) {
      answer(false, `no plugin named ${JSON.stringify(name)}`);
      return;
    }
    switch (action) {
      case "suspend":
        this.#suspend(p, `suspended by operator (${message.envelope.source})`, "stop");
        answer(p.state === "suspended", `plugin '${p.grants.plugin}' is ${p.state}`);
        return;
      case "resume":
      case "reload": {
        if (action === "resume" && p.state !== "suspended" && p.state !== "failed") {
          answer(false, `plugin '${p.grants.plugin}' is ${p.state}, not suspended`);
          return;
        }
        p.gate.suspended = false;
        p.restarts = [];
        if (action === "reload") p.code = undefined;
        this.#audit(`plugin.${action}d`, p.grants.plugin, `by ${message.envelope.source}`);
        const relaunch = async () => {
          // Detached first: its exit is then not taken for a crash (which would schedule a second launch).
          const old = p.worker;
          p.worker = undefined;
          if (old?.ready) await old.stop();
          await this.#launch(p);
          await this.#bus.flush();
          const running = p.state === "running";
          // What an operator who just fixed something needs: why it is still down, and what reload reads.
          const why = running
            ? ""
            : `: ${p.lastError ?? "no reason recorded"} (reload re-reads the plugin's code, not its plugin.json or rosey.yaml: restart rosey for those)`;
          answer(running, `plugin '${p.grants.plugin}' is ${p.state}${why}`);
        };
        void relaunch();
        return;
      }
      default:
        answer(false, `unknown admin action '${action}': use suspend, resume or reload`);
    }
  }

  #onViolation(p: ManagedPlugin, violation: Violation): void {
    p.violations++;
    const { threshold, suspendOnSevere, windowMs } = this.#config.sandbox.violations;
    const rate = p.limits.publishPerSecond;
    const limit = violation.rate
      ? Math.max(threshold, Math.min(RATE_FLOOD_MAX, (RATE_FLOOD_FACTOR * rate * windowMs) / 1000))
      : threshold;
    if ((suspendOnSevere && violation.severe) || violation.count >= limit) {
      const reason = violation.severe
        ? `severe violation: ${violation.reason}`
        : violation.rate
          ? `${violation.count} operations refused for its rate (${rate}/s) within ${windowMs} ms`
          : `${violation.count} violations within ${windowMs} ms`;
      this.#suspend(p, reason, "kill");
    }
  }

  async #onCommand(p: ManagedPlugin, message: BusMessage): Promise<void> {
    const parsed = checkCommand(message.envelope.data);
    if (!parsed.success) {
      this.#reply(message, {
        ok: false,
        error: { code: "VALIDATION_FAILED", message: `invalid command: ${parsed.problem}` },
      });
      return;
    }
    // Built field by field: only the command's own fields reach plugin code.
    const { name, args, text, user, rank, platform, channel, correlationId, deadline } = parsed.data;
    const command: Command = { name, args, text, user, rank, platform, channel, correlationId };
    const worker = p.worker;
    if (p.state !== "running" || !worker) {
      this.#reply(message, {
        ok: false,
        error: { code: "PLUGIN_NOT_RUNNING", message: `plugin '${p.grants.plugin}' is ${p.state}` },
      });
      return;
    }
    const outcome = await worker.runCommand(command, deadline);
    const ms = outcome.handlerMs;
    if (ms !== undefined) {
      p.latency.count++;
      p.latency.total += ms;
      if (ms > p.latency.max) p.latency.max = ms;
    }
    if (outcome.late) {
      this.#late(p, message, command, outcome.late);
      return;
    }
    if (!outcome.ok) {
      this.#reply(message, {
        ok: false,
        error: outcome.error ?? { code: "PLUGIN_ERROR", message: "handler failed" },
      });
      return;
    }
    let replied = false;
    if (outcome.text && deadline !== undefined && Date.now() > deadline) {
      // The router has already told the user it took too long; a reply now would contradict it.
      this.#late(p, message, command, "its reply was not sent: it came after its sender's deadline");
      return;
    }
    if (outcome.text) {
      const sent = p.gate.publishData(
        SUBJECTS.actionsChatSend,
        { platform: command.platform, channel: command.channel, text: outcome.text },
        command.correlationId,
      );
      if (sent !== "sent") {
        this.#reply(message, { ok: false, error: unsentReply(p, sent) });
        return;
      }
      replied = true;
    }
    this.#reply(message, { ok: true, replied });
  }

  #late(p: ManagedPlugin, message: BusMessage, command: Command, what: string): void {
    p.late++;
    const fields = { plugin: p.grants.plugin };
    if (p.lateLog.admit(this.#log, "late command", fields))
      this.#log.info(
        { ...fields, command: command.name, correlationId: command.correlationId },
        `command ${what}`,
      );
    this.#reply(message, { ok: false, error: { code: "TIMEOUT", message: `'${command.name}' ${what}` } });
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

/** A command's reply the gate did not send: the plugin was suspended meanwhile, has no grant, or no tokens. */
function unsentReply(
  p: ManagedPlugin,
  why: Exclude<SendOutcome, "sent">,
): { code: ErrorCode; message: string } {
  const name = p.grants.plugin;
  switch (why) {
    case "suspended":
      return {
        code: "PLUGIN_NOT_RUNNING",
        message: `plugin '${name}' was suspended before its reply was sent`,
      };
    case "denied":
      return { code: "PERMISSION_DENIED", message: `plugin '${name}' may not send chat messages` };
    case "rate-limited":
      return {
        code: "RATE_LIMITED",
        message: `plugin '${name}' is above its publish rate (${p.limits.publishPerSecond}/s): its reply was not sent`,
      };
  }
}
