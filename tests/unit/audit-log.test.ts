import { readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuditReport, buildAuditReport } from "../../src/core/audit/audit.js";
import { openAuditLog } from "../../src/core/audit/audit-log.js";
import { formatAuditReport } from "../../src/core/audit/report-text.js";
import { type Bus, createBus } from "../../src/core/bus.js";
import { validateConfig } from "../../src/core/config/load.js";
import { openDatabase } from "../../src/core/db/connection.js";
import { silentLogger } from "../../src/core/logger.js";
import { loadCoreMigrations } from "../../src/core/migrations/files.js";
import { MigrationRunner } from "../../src/core/migrations/runner.js";
import { expectValidAuditReport } from "../support/audit-schema.js";
import { writePluginFolder } from "../support/plugin-folder.js";
import { usePrivateNats } from "../support/private-nats.js";
import { tempDirForTest, useTempDir } from "../support/temp-dir.js";

/**
 * `rosey audit` reads each plugin's history from the database's audit_log (where the database service
 * persists rosey.security.violation / rosey.security.audit), read-only and without creating it: all-time
 * counts by aggregate, the newest rows of each kind on their own, so no flood hides anything.
 */

const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/sandbox-plugins");
const T0 = Date.UTC(2026, 0, 1);
const at = (ms: number) => new Date(T0 + ms).toISOString();

interface Row {
  kind: "violation" | "audit";
  plugin: string;
  action: string;
  subject?: string;
  reason: string;
  details?: Record<string, unknown>;
  ms: number;
}

const violation = (plugin: string, ms: number, subject: string, reason: string, more = {}): Row => ({
  kind: "violation",
  plugin,
  action: "publish",
  subject,
  reason,
  details: { plugin, operation: "publish", subject, capability: null, reason, severe: false, ...more },
  ms,
});
const kick = (plugin: string, ms: number) =>
  violation(plugin, ms, "rosey.actions.users.kick", "capability 'users.kick' was not requested", {
    capability: "users.kick",
  });
const severe = (plugin: string, ms: number) =>
  violation(plugin, ms, "rosey.admin.plugins.resume", "'rosey.admin.>' is reserved for the core", {
    severe: true,
  });
const event = (plugin: string, ms: number, action: string, reason: string): Row => ({
  kind: "audit",
  plugin,
  action,
  reason,
  ms,
});

/** A database holding the core schema and `rows`, in a folder of its own; returns the folder. */
async function databaseWith(dir: string, rows: Row[]): Promise<string> {
  const db = await openDatabase({ engine: "sqlite", file: path.join(dir, "rosey.sqlite") });
  try {
    await new MigrationRunner(db, { actor: "test" }).applyCore(loadCoreMigrations(db.engine));
    await db.prisma.auditLog.createMany({
      data: rows.map((r, i) => ({
        eventId: `e${i}`,
        kind: r.kind,
        plugin: r.plugin,
        action: r.action,
        subject: r.subject ?? null,
        reason: r.reason,
        details: (r.details ?? { type: r.action, plugin: r.plugin, reason: r.reason }) as object,
        source: "core",
        createdAt: new Date(T0 + r.ms),
      })),
    });
  } finally {
    await db.close();
  }
  return dir;
}

const plugins = (dir: string) => {
  const pluginsDir = path.join(dir, "plugins");
  for (const name of ["flooder", "prober", "quiet"])
    writePluginFolder(pluginsDir, name, { manifest: { capabilities: ["chat.send"] } });
  return validateConfig(
    {
      dataDir: dir,
      plugins: {
        directory: pluginsDir,
        entries: Object.fromEntries(
          ["flooder", "prober", "quiet"].map((n) => [n, { grants: ["chat.send"] }]),
        ),
      },
    },
    "audit-log-test",
  );
};

const report = (config: ReturnType<typeof plugins>, natsUrl?: string) =>
  buildAuditReport({ config, natsUrl, openAuditLog: () => openAuditLog(config, {}) });
const byName = (r: AuditReport, name: string) => r.plugins.find((p) => p.name === name)!;

describe("rosey audit over the database's audit log", () => {
  const tmp = useTempDir("rosey-audit-log-", "all");
  let config: ReturnType<typeof plugins>;

  // flooder: a refusal, a severe one that suspends it, an operator's resume, a suspension for the threshold,
  // and then 600 refusals in a loop, all newer than the rest. prober: a severe refusal nobody resumed.
  beforeAll(async () => {
    const dir = tmp();
    const flood = Array.from({ length: 600 }, (_, i) =>
      violation("flooder", 10_000 + i, "rosey.actions.chat.pm", "capability 'chat.pm' was not requested", {
        capability: "chat.pm",
      }),
    );
    await databaseWith(dir, [
      kick("flooder", 1_000),
      severe("flooder", 2_000),
      event(
        "flooder",
        2_000,
        "plugin.suspended",
        "severe violation: 'rosey.admin.>' is reserved for the core",
      ),
      event("flooder", 4_000, "plugin.resumed", "by cli:operator"),
      event("flooder", 5_000, "plugin.suspended", "10 violations within 10000 ms"),
      ...flood,
      severe("prober", 3_000),
      { ...kick("prober", 3_500), action: "protocol", details: "not an object" } as unknown as Row,
    ]);
    config = plugins(dir);
  });

  it("counts every violation and event by aggregate: 600 refusals in a loop hide no suspension, resume or severe one", async () => {
    const r = await report(config);
    expectValidAuditReport(r);
    expect(r.auditLog).toMatchObject({ available: true, error: null });
    const h = byName(r, "flooder").history!;
    expect(h.since).toBe(at(1_000));
    expect(h.violations).toMatchObject({
      count: 602,
      severe: 1,
      severeSinceResume: 0,
      lastAt: at(10_599),
      truncated: true,
      bySubjectTruncated: false,
    });
    expect(h.violations.recent).toHaveLength(100);
    expect(h.violations.recent[0]).toEqual({
      at: at(10_599),
      operation: "publish",
      subject: "rosey.actions.chat.pm",
      capability: "chat.pm",
      reason: "capability 'chat.pm' was not requested",
      severe: false,
    });
    // Read on its own: 600 newer refusals do not push it out.
    expect(h.violations.recentSevere).toEqual([
      {
        at: at(2_000),
        operation: "publish",
        subject: "rosey.admin.plugins.resume",
        capability: null,
        reason: "'rosey.admin.>' is reserved for the core",
        severe: true,
      },
    ]);
    expect(h.violations.bySubject).toEqual([
      { operation: "publish", subject: "rosey.actions.chat.pm", count: 600, lastAt: at(10_599) },
      { operation: "publish", subject: "rosey.admin.plugins.resume", count: 1, lastAt: at(2_000) },
      { operation: "publish", subject: "rosey.actions.users.kick", count: 1, lastAt: at(1_000) },
    ]);
    expect(h.events).toEqual({
      counts: [
        { action: "plugin.resumed", count: 1, lastAt: at(4_000) },
        { action: "plugin.suspended", count: 2, lastAt: at(5_000) },
      ],
      recent: [
        { at: at(5_000), action: "plugin.suspended", reason: "10 violations within 10000 ms" },
        { at: at(4_000), action: "plugin.resumed", reason: "by cli:operator" },
        {
          at: at(2_000),
          action: "plugin.suspended",
          reason: "severe violation: 'rosey.admin.>' is reserved for the core",
        },
      ],
      truncated: false,
    });
    // A row whose details are not the gate's (another source, an older version) is neither severe nor named.
    expect(byName(r, "prober").history!.violations.recent[0]).toMatchObject({
      operation: "protocol",
      capability: null,
      severe: false,
    });
    expect(byName(r, "quiet").history).toEqual({
      since: null,
      violations: expect.objectContaining({ count: 0, severe: 0, recent: [], truncated: false }),
      events: { counts: [], recent: [], truncated: false },
    });
  });

  it("the text lists the newest refusals, says the list is cut, flags severe ones however old, and shows resumes", async () => {
    const text = formatAuditReport(await report(config));
    expect(text).toMatch(/\nflooder +1\.0\.0 +not running .* 602 \(1 severe !\) +— +2\n/);
    expect(text).toContain(
      "violations, suspensions all-time: the audit log in the database; this run: the running platform's count since it started",
    );
    const block = text.slice(text.indexOf("\nflooder 1.0.0\n"), text.indexOf("\nprober 1.0.0\n"));
    expect(block).toContain(
      `  history:     all-time (audit log, since ${at(1_000)}): 602 violations, 1 severe (0 not followed by an operator resume or reload); resumed 1×, suspended 2×\n`,
    );
    expect(block).toContain(
      `  state:       not running; last event ${at(5_000)} plugin.suspended: 10 violations within 10000 ms\n`,
    );
    // 20 identical refusals in a row make one line, with their count and the oldest's time.
    expect(block).toContain(
      "  refused:     newest 20 of 602 (truncated; --json holds the newest 100)\n" +
        `    ${at(10_599)} (×20, oldest ${at(10_580)}) publish rosey.actions.chat.pm [chat.pm]: capability 'chat.pm' was not requested\n` +
        "  older severe: 1 more, newest first\n" +
        `  ! ${at(2_000)} SEVERE publish rosey.admin.plugins.resume: 'rosey.admin.>' is reserved for the core\n`,
    );
    expect(block).toMatch(/ {2}most refused:\n {4}600× publish rosey\.actions\.chat\.pm, last /);
    expect(block).toContain(`    ${at(4_000)} plugin.resumed: by cli:operator\n`);
    expect(text).toContain(
      `! flooder has 602 violations on record (1 severe) and was suspended 2× (latest ${at(5_000)})`,
    );
    expect(text).toMatch(
      /\nquiet 1\.0\.0\n[\s\S]*? {2}history: {5}all-time \(audit log\): nothing recorded\n/,
    );
  });

  it("--strict fails on severe violations no operator resume or reload has followed, and passes once one has", async () => {
    const problem = `prober has 1 severe violation on record that no operator resume or reload has followed (after review: rosey plugin resume|reload prober); newest: ${at(3_000)} SEVERE publish rosey.admin.plugins.resume: 'rosey.admin.>' is reserved for the core`;
    const before = await report(config);
    expect(byName(before, "prober").history!.violations.severeSinceResume).toBe(1);
    expect(before.strict).toEqual({ ok: false, problems: [problem] });

    const dir = await databaseWith(tempDirForTest("rosey-audit-resumed-"), [
      severe("prober", 3_000),
      event("prober", 3_100, "plugin.reloaded", "by cli:operator"),
    ]);
    const after = await report({ ...config, dataDir: dir });
    expect(byName(after, "prober").history!.violations).toMatchObject({ severe: 1, severeSinceResume: 0 });
    expect(after.strict).toEqual({ ok: true, problems: [] });

    // A disabled plugin never runs: its record is shown, not gated.
    const disabled = validateConfig(
      { ...config, plugins: { ...config.plugins, entries: { prober: { enabled: false } } } },
      "t",
    );
    expect((await report(disabled)).strict.problems).not.toContain(problem);
  });

  it("without a database file it reports no audit log and creates nothing", async () => {
    const empty = tempDirForTest("rosey-audit-none-");
    const none = validateConfig({ dataDir: empty, plugins: { directory: FIXTURES } }, "t");
    expect(await openAuditLog(none, {})).toBeUndefined();
    const r = await buildAuditReport({ config: none, openAuditLog: () => openAuditLog(none, {}) });
    expect(r.auditLog.available).toBe(false);
    expect(r.plugins.every((p) => p.history === null)).toBe(true);
    expect(formatAuditReport(r)).toMatch(/\ngreeter +1\.0\.0 +not running .* \? +— +\?\n/);
    expect(readdirSync(empty)).toEqual([]);
  });
});

describe("rosey audit: the live state beside the audit log", () => {
  const nats = usePrivateNats();
  const tmp = useTempDir("rosey-audit-live-log-", "all");
  let bus: Bus;
  let config: ReturnType<typeof plugins>;

  beforeAll(async () => {
    const dir = tmp();
    await databaseWith(dir, [
      severe("flooder", 1_000),
      event(
        "flooder",
        1_000,
        "plugin.suspended",
        "severe violation: 'rosey.admin.>' is reserved for the core",
      ),
      event("flooder", 9_000, "plugin.resumed", "by cli:operator"),
      severe("prober", 1_000),
      event(
        "prober",
        1_000,
        "plugin.suspended",
        "severe violation: 'rosey.admin.>' is reserved for the core",
      ),
    ]);
    config = plugins(dir);
    bus = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
    // The manager keeps a plugin's last error after an operator resumes it.
    const reason = "severe violation: 'rosey.admin.>' is reserved for the core";
    bus.subscribe("rosey.monitoring.plugins", (m) => {
      m.respond({
        plugins: [
          { name: "flooder", state: "running", restarts: 0, violations: 0, lastError: reason },
          { name: "prober", state: "suspended", restarts: 0, violations: 1, lastError: reason },
        ],
      });
    });
    await bus.flush();
  });

  afterAll(async () => {
    await bus?.close();
  });

  it("after a resume, the old reason is not shown as the current one: state, last event and its time", async () => {
    const r = await report(config, nats.url);
    expectValidAuditReport(r);
    const text = formatAuditReport(r);
    const flooder = text.slice(text.indexOf("\nflooder 1.0.0\n"), text.indexOf("\nprober 1.0.0\n"));
    expect(flooder).toContain(
      `  state:       running (live; this run: 0 restarts, 0 violations); last event ${at(9_000)} plugin.resumed: by cli:operator\n` +
        "  earlier error: severe violation: 'rosey.admin.>' is reserved for the core  (before its latest start, resume or reload)\n",
    );
    expect(flooder).not.toContain("  why:");
    const prober = text.slice(text.indexOf("\nprober 1.0.0\n"), text.indexOf("\nquiet 1.0.0\n"));
    expect(prober).toContain(
      `  state:       suspended (live; this run: 0 restarts, 1 violations); last event ${at(1_000)} plugin.suspended: severe violation: 'rosey.admin.>' is reserved for the core\n` +
        "  why:         severe violation: 'rosey.admin.>' is reserved for the core\n",
    );
    // All-time and this run side by side, each labelled.
    expect(text).toMatch(/\nprober +1\.0\.0 +suspended .* 1 \(1 severe !\) +1 +1\n/);
  });
});
