import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { expect, inject } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import type { Command, CommandResult } from "../../src/core/commands.js";
import { validateConfig } from "../../src/core/config/load.js";
import type { RoseyConfigInput } from "../../src/core/config/schema.js";
import { type DatabaseService, startDatabaseService } from "../../src/core/db/database-service.js";
import type { Envelope } from "../../src/core/envelope.js";
import { silentLogger } from "../../src/core/logger.js";
import type { Violation } from "../../src/core/plugins/gate.js";
import { PluginManager, type PluginStatus } from "../../src/core/plugins/plugin-manager.js";
import { collect } from "../support/bus.js";

import { command } from "../support/command.js";

export { command };

import { startPrivateNats } from "../support/private-nats.js";

/**
 * A platform of its own for the red-team suites: a private nats-server, the core's bus, an observer bus
 * that records violations, audit events and chat actions, and a PluginManager over hostile fixtures plus
 * the well-behaved `canary`, logging to an in-memory pino stream the tests can read.
 */

export interface Platform {
  nats: Awaited<ReturnType<typeof startPrivateNats>>;
  core: Bus;
  observer: Bus;
  manager: PluginManager;
  violations: ReturnType<typeof collect<Violation>>;
  audit: ReturnType<typeof collect<{ type: string; plugin: string; reason?: string }>>;
  chat: ReturnType<typeof collect<Envelope<{ text: string; channel: string; platform: string }>>>;
  /** Every JSON line the core logged. */
  logLines: string[];
  /** The real database service (SQLite in a temp dir), when started with `{ database: true }`. */
  database: DatabaseService | undefined;
  stop(): Promise<void>;
}

/** The sandbox isolation the suite runs under: the default (`process`) unless ROSEY_SECURITY_ISOLATION says. */
export function isolationUnderTest(): "process" | "thread" {
  return process.env.ROSEY_SECURITY_ISOLATION === "thread" ? "thread" : "process";
}

export function uid(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

type PluginEntry = {
  grants?: string[];
  config?: Record<string, unknown>;
  limits?: { publishPerSecond?: number; handlerTimeoutMs?: number; memoryMb?: number };
};

export async function startPlatform(
  plugins: Record<string, PluginEntry> | string[],
  sandbox: RoseyConfigInput["sandbox"] = {},
  options: {
    database?: boolean;
    /** A plugins folder of the test's own instead of the shared fixtures (it must hold `canary`). */
    directory?: string;
    /** Let the database service apply every discovered plugin's migrations at start. */
    autoMigrate?: boolean;
  } = {},
): Promise<Platform> {
  const nats = await startPrivateNats();
  const dbDir = options.database ? mkdtempSync(path.join(os.tmpdir(), "rosey-sec-db-")) : undefined;
  const logLines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) if (line) logLines.push(line);
      done();
    },
  });
  const logger = pino({ level: "debug" }, stream);
  const core = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
  const observer = await createBus({ url: nats.url, source: "test", logger: silentLogger() });
  const violations = collect<Violation>(10_000);
  const audit = collect<{ type: string; plugin: string; reason?: string }>(10_000);
  const chat = collect<Envelope<{ text: string; channel: string; platform: string }>>(10_000);
  observer.subscribe<Violation>("rosey.security.violation", (m) => violations.push(m.envelope.data));
  observer.subscribe<{ type: string; plugin: string }>("rosey.security.audit", (m) =>
    audit.push(m.envelope.data),
  );
  observer.subscribe<{ text: string; channel: string; platform: string }>("rosey.actions.chat.send", (m) =>
    chat.push(m.envelope),
  );
  await observer.flush();
  const entries = Object.fromEntries(
    Object.entries({
      canary: { grants: ["basic"] },
      ...(Array.isArray(plugins)
        ? Object.fromEntries(plugins.map((n) => [n, { grants: ["basic"] }]))
        : plugins),
    }).map(([name, e]: [string, PluginEntry]) => [
      name,
      { grants: e.grants ?? [], config: e.config ?? {}, ...(e.limits ? { limits: e.limits } : {}) },
    ]),
  );
  const config = validateConfig(
    {
      plugins: {
        directory: options.directory ?? inject("securityFixtures"),
        enabled: Object.keys(entries),
        entries,
      },
      // Both isolation modes must pass this suite (except huge-alloc): ROSEY_SECURITY_ISOLATION=thread.
      sandbox: { readyTimeoutMs: 20_000, isolation: isolationUnderTest(), ...sandbox },
    },
    "security-suite",
  );
  // The database service persists rosey.security.violation / .audit into audit_log (and serves storage).
  const database = dbDir
    ? await startDatabaseService({
        natsUrl: nats.url,
        config,
        logger: silentLogger(),
        target: { engine: "sqlite", file: path.join(dbDir, "rosey.sqlite") },
        ingest: { ackWaitMs: 2_000 },
        autoMigratePlugins: options.autoMigrate ?? false,
      })
    : undefined;
  const manager = new PluginManager({ bus: core, config, logger });
  await manager.start();
  return {
    nats,
    core,
    observer,
    manager,
    violations,
    audit,
    chat,
    logLines,
    database,
    async stop() {
      await manager.stop();
      await database?.stop();
      await observer.close();
      await core.close();
      await nats.stop();
      if (dbDir) rmSync(dbDir, { recursive: true, force: true });
    },
  };
}

/** Sends a command through the bus exactly as the router does and returns the manager's result. */
export async function run(p: Platform, plugin: string, cmd: Command): Promise<CommandResult> {
  return (
    await p.observer.request<CommandResult>(`rosey.commands.${plugin}.execute`, cmd, { timeoutMs: 10_000 })
  ).data;
}

/** Runs the plugin's own command (named after it) whose plugin reports by returning text; resolves with that text. */
export async function report(p: Platform, plugin: string, args: string[] = []): Promise<string> {
  const cmd = command(plugin, args);
  const result = await run(p, plugin, cmd);
  expect(result, `${plugin} result`).toMatchObject({ ok: true, replied: true });
  await expect.poll(() => p.chat.items.some((e) => e.correlationId === cmd.correlationId)).toBe(true);
  return p.chat.items.find((e) => e.correlationId === cmd.correlationId)!.data.text;
}

/** Every probe in a report is "blocked". */
export function expectAllBlocked(text: string): void {
  const parsed = JSON.parse(text) as Record<string, unknown>;
  if (typeof parsed.probes === "number") {
    // Compact form (shared/probe.js summarize): the count of probes run and the ones that escaped.
    expect(parsed.probes).toBeGreaterThan(20);
    expect(parsed.escaped).toEqual({});
    return;
  }
  const results = parsed as Record<string, string>;
  expect(Object.keys(results).length).toBeGreaterThan(0);
  for (const [probe, outcome] of Object.entries(results))
    expect({ probe, outcome }).toEqual({ probe, outcome: "blocked" });
}

export function statusOf(p: Platform, name: string): PluginStatus | undefined {
  return p.manager.status().find((s) => s.name === name);
}

/** Violations of one plugin seen so far. */
export function violationsOf(p: Platform, plugin: string): Violation[] {
  return p.violations.items.filter((v) => v.plugin === plugin);
}

/**
 * The core and the well-behaved plugin still answer: `rosey.monitoring.plugins` (the manager) replies,
 * and `canary`'s `ping` returns a reply it publishes through the gate. Also checks the main thread's
 * intrinsics were not polluted.
 */
export async function expectPlatformHealthy(p: Platform): Promise<void> {
  const monitoring = await p.observer.request<{ plugins: PluginStatus[] }>(
    "rosey.monitoring.plugins",
    {},
    {
      timeoutMs: 5_000,
    },
  );
  expect(monitoring.data.plugins.find((s) => s.name === "canary")?.state).toBe("running");
  const cmd = command("ping");
  expect(await run(p, "canary", cmd)).toEqual({ ok: true, replied: true });
  await expect
    .poll(() => p.chat.items.find((e) => e.correlationId === cmd.correlationId)?.data.text)
    .toBe("pong");
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.hasOwn(Object.prototype, "polluted")).toBe(false);
  // A key bound twice (a child logger's `component` over its parent's) repeats in the JSON, which strict
  // log pipelines refuse.
  expect(p.logLines.filter((line) => (line.match(/"component":/g) ?? []).length > 1)).toEqual([]);
}

/** Rows the database service persisted in audit_log for a plugin (needs `{ database: true }`). */
export async function persisted(
  p: Platform,
  plugin: string,
  kind: "violation" | "audit",
): Promise<Array<{ action: string; reason: string | null; subject: string | null }>> {
  const reply = await p.observer.request<{
    success: boolean;
    data: Array<{ action: string; reason: string | null; subject: string | null }>;
  }>("rosey.db.query.audit", { plugin, kind, limit: 100 }, { timeoutMs: 5_000 });
  expect(reply.data.success).toBe(true);
  return reply.data.data;
}

/** Waits until the violation with this reason is in the audit log. */
export async function expectPersistedViolation(p: Platform, plugin: string, reason: RegExp): Promise<void> {
  await expect
    .poll(async () => (await persisted(p, plugin, "violation")).some((r) => reason.test(r.reason ?? "")), {
      timeout: 10_000,
      interval: 200,
    })
    .toBe(true);
}
