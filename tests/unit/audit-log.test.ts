import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { buildAuditReport } from "../../src/core/audit/audit.js";
import { openAuditLog } from "../../src/core/audit/audit-log.js";
import { validateConfig } from "../../src/core/config/load.js";
import { openDatabase } from "../../src/core/db/connection.js";
import { loadCoreMigrations } from "../../src/core/migrations/files.js";
import { MigrationRunner } from "../../src/core/migrations/runner.js";
import { expectValidAuditReport } from "../support/audit-schema.js";
import { tempDirForTest, useTempDir } from "../support/temp-dir.js";

/**
 * `rosey audit` reads violations and suspensions from the database's audit_log (where the database
 * service persists rosey.security.violation / rosey.security.audit), read-only and without creating it.
 */

const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/sandbox-plugins");

describe("rosey audit over the database's audit log", () => {
  const tmp = useTempDir("rosey-audit-log-", "all");
  let dir: string;

  beforeAll(async () => {
    dir = tmp();
    const db = await openDatabase({ engine: "sqlite", file: path.join(dir, "rosey.sqlite") });
    await new MigrationRunner(db, { actor: "test" }).applyCore(loadCoreMigrations(db.engine));
    const row = (n: number, kind: string, action: string, reason: string) => ({
      eventId: `e${n}`,
      kind,
      plugin: "intruder",
      action,
      subject: "rosey.admin.plugins.resume",
      reason,
      source: "core",
      createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)),
    });
    await db.prisma.auditLog.createMany({
      data: [
        row(1, "violation", "publish", "first"),
        row(2, "violation", "publish", "'rosey.admin.>' is reserved for the core"),
        row(3, "audit", "plugin.suspended", "severe violation: 'rosey.admin.>' is reserved for the core"),
      ],
    });
    await db.close();
  });

  it("counts a plugin's violations and suspensions with the last reason and time", async () => {
    const config = validateConfig({ dataDir: dir, plugins: { directory: FIXTURES } }, "t");
    const report = await buildAuditReport({ config, openAuditLog: () => openAuditLog(config, {}) });
    expectValidAuditReport(report);
    expect(report.auditLog).toMatchObject({ available: true, error: null });
    const intruder = report.plugins.find((p) => p.name === "intruder")!;
    expect(intruder.violations).toEqual({
      count: 2,
      truncated: false,
      lastReason: "'rosey.admin.>' is reserved for the core",
      lastAt: "2026-01-01T00:00:02.000Z",
    });
    expect(intruder.suspensions).toMatchObject({ count: 1, lastAt: "2026-01-01T00:00:03.000Z" });
    expect(report.plugins.find((p) => p.name === "greeter")?.violations).toMatchObject({ count: 0 });
  });

  it("without a database file it reports no audit log and creates nothing", async () => {
    const empty = tempDirForTest("rosey-audit-none-");
    const config = validateConfig({ dataDir: empty, plugins: { directory: FIXTURES } }, "t");
    expect(await openAuditLog(config, {})).toBeUndefined();
    const report = await buildAuditReport({ config, openAuditLog: () => openAuditLog(config, {}) });
    expect(report.auditLog.available).toBe(false);
    expect(report.plugins.every((p) => p.violations === null)).toBe(true);
    const { readdirSync } = await import("node:fs");
    expect(readdirSync(empty)).toEqual([]);
  });
});
