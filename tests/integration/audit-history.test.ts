import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readHistory } from "../../src/core/audit/history.js";
import { type Database, openDatabase } from "../../src/core/db/connection.js";
import { loadCoreMigrations } from "../../src/core/migrations/files.js";
import { MigrationRunner } from "../../src/core/migrations/runner.js";
import { startTestPostgres, type TestPostgres } from "../support/postgres.js";

/**
 * `rosey audit`'s history queries on both engines: the severe flag lives in the JSON `details` column,
 * whose path syntax differs (SQLite `$.severe`, PostgreSQL `["severe"]`), and the counts are aggregates.
 */

let pgServer: TestPostgres;
const tmp = mkdtempSync(path.join(os.tmpdir(), "rosey-audit-history-"));
beforeAll(async () => {
  pgServer = await startTestPostgres();
});
afterAll(async () => {
  await pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const engines: Array<[string, () => Promise<Database>]> = [
  ["sqlite", () => openDatabase({ engine: "sqlite", file: path.join(tmp, "audit.sqlite") })],
  [
    "postgresql",
    async () => openDatabase({ engine: "postgresql", url: await pgServer.createDatabase(), poolSize: 2 }),
  ],
];

const T0 = Date.UTC(2026, 0, 1);
const at = (ms: number) => new Date(T0 + ms);

describe.each(engines)("audit history on %s", (_engine, open) => {
  let db: Database;

  beforeAll(async () => {
    db = await open();
    await new MigrationRunner(db, { actor: "test" }).applyCore(loadCoreMigrations(db.engine));
    const refusal = (i: number, subject: string, severe: boolean, ms: number) => ({
      eventId: `v${i}`,
      kind: "violation",
      plugin: "probe",
      action: "publish",
      subject,
      reason: severe
        ? "'rosey.admin.>' is reserved for the core"
        : "capability 'users.kick' was not requested",
      details: { plugin: "probe", operation: "publish", subject, capability: null, severe },
      source: "core",
      createdAt: at(ms),
    });
    await db.prisma.auditLog.createMany({
      data: [
        refusal(0, "rosey.admin.plugins.resume", true, 1_000),
        { ...refusal(1, "rosey.admin.plugins.resume", true, 2_000), details: { severe: "true" } },
        {
          eventId: "a0",
          kind: "audit",
          plugin: "probe",
          action: "plugin.resumed",
          reason: "by cli:operator",
          source: "core",
          createdAt: at(3_000),
        },
        refusal(2, "rosey.admin.plugins.suspend", true, 4_000),
        ...Array.from({ length: 520 }, (_, i) =>
          refusal(3 + i, "rosey.actions.users.kick", false, 5_000 + i),
        ),
      ],
    });
  });

  afterAll(async () => {
    await db?.close();
  });

  it("counts all of it, severe ones by the JSON flag, and reads severe ones apart from the flood", async () => {
    const h = await readHistory(db, "probe");
    expect(h.since).toBe(at(1_000).toISOString());
    // The string "true" is not the gate's flag.
    expect(h.violations).toMatchObject({ count: 523, severe: 2, severeSinceResume: 1, truncated: true });
    expect(h.violations.recent).toHaveLength(100);
    expect(h.violations.recentSevere.map((v) => [v.subject, v.at])).toEqual([
      ["rosey.admin.plugins.suspend", at(4_000).toISOString()],
      ["rosey.admin.plugins.resume", at(1_000).toISOString()],
    ]);
    expect(h.violations.bySubject.map((s) => [s.subject, s.count])).toEqual([
      ["rosey.actions.users.kick", 520],
      ["rosey.admin.plugins.resume", 2],
      ["rosey.admin.plugins.suspend", 1],
    ]);
    expect(h.events.counts).toEqual([
      { action: "plugin.resumed", count: 1, lastAt: at(3_000).toISOString() },
    ]);
  });
});
