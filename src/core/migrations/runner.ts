import { type Database, liftStatementTimeout, type Tx } from "../db/connection.js";
import { errorMessage, isRoseyError, RoseyError } from "../errors.js";
import { confine } from "./confinement.js";
import { CORE_OWNER, checksumMismatch, type MigrationFile, type MigrationSet } from "./files.js";
import { type Catalog, hasCoreHistory, refuseForeignSchema } from "./foreign-schema.js";
import { LOCK_DEFAULTS, withMigrationLock } from "./lock.js";
import { refuseOwnerClash } from "./owner-clash.js";
import type { ValidationIssue } from "./validator.js";

/**
 * Applies and rolls back migrations, recording each in `plugin_schema_migrations`.
 *
 * - Every run holds the owner's row in `migration_locks` (a second runner waits, then fails with
 *   LOCK_TIMEOUT); a lock older than its TTL belongs to a crashed runner and is taken over (lock.ts).
 * - A plugin whose table prefix overlaps that of another owner with applied migrations is refused
 *   (PLUGIN_PREFIX_CLASH, owner-clash.ts): that owner's tables are still in the database.
 * - Before anything, every applied migration's file is checked against its recorded SHA-256
 *   (CHECKSUM_MISMATCH blocks status, apply and rollback alike).
 * - Validation ERRORs block (VALIDATION_FAILED); each migration runs in its own transaction, and a failing
 *   statement rolls that migration back (MIGRATION_FAILED), leaving the earlier ones applied.
 * - `dryRun` runs the very same statements inside a transaction that is then rolled back: it proves the SQL
 *   executes against the real schema and changes nothing.
 */

export interface RunnerOptions {
  /** Recorded as applied_by / rolled_back_by, e.g. `cli:alice`, `core`. */
  actor: string;
  /** How long to wait for another runner's lock. @default 10000 */
  lockTimeoutMs?: number;
  /** A lock older than this is stale. @default 300000 */
  lockTtlMs?: number;
}

export interface AppliedMigration {
  version: number;
  description: string;
  checksum: string;
  appliedAt: string;
  appliedBy: string;
}

export interface MigrationStatus {
  plugin: string;
  currentVersion: number;
  availableVersion: number;
  pending: Array<{ version: number; description: string }>;
  applied: AppliedMigration[];
  rolledBack: Array<{ version: number; rolledBackAt: string | null; rolledBackBy: string | null }>;
  issues: Array<ValidationIssue & { version: number }>;
}

export interface RunOptions {
  /** apply: up to and including N; rollback: down to N (N stays applied). */
  toVersion?: number | undefined;
  /** At most this many migrations. */
  count?: number | undefined;
  dryRun?: boolean | undefined;
}

export interface RunResult {
  plugin: string;
  action: "apply" | "rollback";
  dryRun: boolean;
  /** Versions applied or rolled back, in the order it happened. */
  versions: number[];
  currentVersion: number;
  issues: Array<ValidationIssue & { version: number }>;
}

interface LedgerRow {
  version: number;
  description: string;
  checksum: string;
  status: string;
  appliedAt: Date;
  appliedBy: string;
  rolledBackAt: Date | null;
  rolledBackBy: string | null;
}

class DryRunRollback extends Error {}

const LEDGER_TABLE = "plugin_schema_migrations";

export class MigrationRunner {
  readonly #db: Database;
  readonly #actor: string;
  readonly #lockTimeoutMs: number;
  readonly #lockTtlMs: number;

  constructor(db: Database, options: RunnerOptions) {
    this.#db = db;
    this.#actor = options.actor;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? LOCK_DEFAULTS.timeoutMs;
    this.#lockTtlMs = options.lockTtlMs ?? LOCK_DEFAULTS.ttlMs;
  }

  /**
   * Brings the core schema up to date. On an empty database the first migration creates the ledger
   * and lock tables themselves, so that one runs unlocked (PostgreSQL: under an advisory lock).
   *
   * A database without Rosey's core history that already has tables the core migrations would create
   * (another program's, e.g. the Python Rosey-Robot's SQLite file) is refused with DATABASE_NOT_EMPTY
   * before anything is written: see foreign-schema.ts.
   */
  async applyCore(set: MigrationSet): Promise<RunResult> {
    if (set.owner !== CORE_OWNER) throw new RoseyError("INTERNAL", "applyCore needs the core migration set");
    let bootstrapped: number | undefined;
    if (!(await this.#ledgerExists())) {
      const first = set.migrations[0];
      if (!first) throw new RoseyError("MIGRATION_FAILED", "No core migrations found");
      if (await this.#bootstrap(set, first)) bootstrapped = first.version;
    } else if (!(await hasCoreHistory(this.#catalog(this.#db.prisma)))) {
      // A `plugin_schema_migrations` table that records no core migration was not made by Rosey (its
      // bootstrap creates the table and the first core row in one transaction). Checked here, before
      // `apply` takes a row in `migration_locks`, so such a database is left exactly as it was.
      await refuseForeignSchema(this.#catalog(this.#db.prisma), set, this.#db.description);
    }
    const result = await this.apply(set, {});
    // The first migration, applied by the bootstrap, is reported with the rest.
    return bootstrapped === undefined ? result : { ...result, versions: [bootstrapped, ...result.versions] };
  }

  async status(set: MigrationSet): Promise<MigrationStatus> {
    await this.#refuseOwnerClash(set);
    const rows = await this.#ledger(set.owner);
    this.#verifyChecksums(set, rows);
    const status = this.#describe(set, rows);
    if (!status.issues.some((i) => i.level === "ERROR")) {
      const pending = set.migrations.filter((m) => status.pending.some((p) => p.version === m.version));
      const confined = await confine(this.#catalog(this.#db.prisma), set, pending, "up");
      status.issues.push(...confined.issues);
      const failed = confined.failure;
      if (failed)
        status.issues.push({
          level: "ERROR",
          section: "up",
          ...failed,
          message: `Fails on the plugin's current tables: ${failed.message}`,
        });
    }
    return status;
  }

  /**
   * Checks running `migrations` in `direction`: the text validator's issues, then, when those have no ERROR,
   * the engine's confinement check (confinement.ts). `runnable` are the migrations before the first one
   * that the SQLite rehearsal saw fail; `failure` (when set) throws that failure as MIGRATION_FAILED, to be
   * called once the runnable ones have run, as if the failing one had run and been rolled back.
   * @throws {RoseyError} VALIDATION_FAILED when either check finds an ERROR.
   */
  async #checked(
    set: MigrationSet,
    migrations: MigrationFile[],
    direction: "up" | "down",
  ): Promise<{ issues: Issue[]; runnable: MigrationFile[]; failure?: () => never }> {
    const issues = issuesOf(migrations).filter((i) => direction === "up" || i.section === "down");
    blockOnErrors(set.owner, issues);
    const confined = await confine(this.#catalog(this.#db.prisma), set, migrations, direction);
    blockOnErrors(set.owner, confined.issues);
    const failed = confined.failure;
    if (!failed) return { issues, runnable: migrations };
    const migration = migrations.find((m) => m.version === failed.version)!;
    return {
      issues,
      runnable: migrations.slice(0, migrations.indexOf(migration)),
      failure: () => {
        throw new RoseyError(
          "MIGRATION_FAILED",
          `Migration ${migration.version} (${migration.description}) of '${set.owner}' failed (${direction.toUpperCase()}, line ${failed.line}) when rehearsed on the plugin's current tables and was not run: ${failed.message}`,
          { details: { plugin: set.owner, version: migration.version, line: failed.line } },
        );
      },
    };
  }

  async apply(set: MigrationSet, options: RunOptions): Promise<RunResult> {
    return this.#locked(set.owner, async () => {
      await this.#refuseOwnerClash(set);
      const rows = await this.#ledger(set.owner);
      this.#verifyChecksums(set, rows);
      const applied = new Set(rows.filter((r) => r.status === "applied").map((r) => r.version));
      let targets = set.migrations.filter((m) => !applied.has(m.version));
      if (options.toVersion !== undefined) targets = targets.filter((m) => m.version <= options.toVersion!);
      if (options.count !== undefined) targets = targets.slice(0, options.count);
      const { issues, runnable, failure } = await this.#checked(set, targets, "up");
      await this.#run(set.owner, runnable, "up", !!options.dryRun, async (tx, migration) => {
        const existing = rows.find((r) => r.version === migration.version);
        const data = {
          description: migration.description,
          checksum: migration.checksum,
          status: "applied",
          appliedAt: new Date(),
          appliedBy: this.#actor,
          rolledBackAt: null,
          rolledBackBy: null,
        };
        if (existing) {
          await tx.pluginSchemaMigration.update({
            where: { pluginName_version: { pluginName: set.owner, version: migration.version } },
            data,
          });
        } else {
          await tx.pluginSchemaMigration.create({
            data: { pluginName: set.owner, version: migration.version, ...data },
          });
        }
      });
      failure?.();
      const done = targets.map((m) => m.version);
      const current = options.dryRun ? currentOf(rows) : Math.max(currentOf(rows), ...done, 0);
      return {
        plugin: set.owner,
        action: "apply",
        dryRun: !!options.dryRun,
        versions: done,
        currentVersion: current,
        issues,
      };
    });
  }

  async rollback(set: MigrationSet, options: RunOptions): Promise<RunResult> {
    return this.#locked(set.owner, async () => {
      await this.#refuseOwnerClash(set);
      const rows = await this.#ledger(set.owner);
      this.#verifyChecksums(set, rows);
      const applied = rows
        .filter((r) => r.status === "applied")
        .map((r) => r.version)
        .sort((a, b) => b - a);
      let versions: number[];
      if (options.toVersion !== undefined) versions = applied.filter((v) => v > options.toVersion!);
      else versions = applied.slice(0, options.count ?? 1);
      if (options.count !== undefined) versions = versions.slice(0, options.count);
      const targets = versions.map((v) => set.migrations.find((m) => m.version === v)!);
      for (const migration of targets) {
        if (migration.down.length === 0) {
          throw new RoseyError(
            "MIGRATION_FAILED",
            `Cannot roll back '${set.owner}' migration ${migration.version} (${migration.description}) as it has no DOWN section`,
            { details: { plugin: set.owner, version: migration.version } },
          );
        }
      }
      const { issues, runnable, failure } = await this.#checked(set, targets, "down");
      await this.#run(set.owner, runnable, "down", !!options.dryRun, async (tx, migration) => {
        await tx.pluginSchemaMigration.update({
          where: { pluginName_version: { pluginName: set.owner, version: migration.version } },
          data: { status: "rolled_back", rolledBackAt: new Date(), rolledBackBy: this.#actor },
        });
      });
      failure?.();
      const done = targets.map((m) => m.version);
      const remaining = applied.filter((v) => options.dryRun || !done.includes(v));
      return {
        plugin: set.owner,
        action: "rollback",
        dryRun: !!options.dryRun,
        versions: done,
        currentVersion: remaining.length ? Math.max(...remaining) : 0,
        issues,
      };
    });
  }

  /**
   * Runs migrations one transaction each; a dry run runs them all in one transaction (later ones may
   * depend on earlier ones) and rolls it back.
   */
  async #run(
    owner: string,
    migrations: MigrationFile[],
    direction: "up" | "down",
    dryRun: boolean,
    record: (tx: Tx, migration: MigrationFile) => Promise<void>,
  ): Promise<void> {
    const batches = dryRun ? [migrations] : migrations.map((m) => [m]);
    for (const batch of batches) {
      if (batch.length === 0) continue;
      try {
        await this.#db.prisma.$transaction(
          async (tx) => {
            await liftStatementTimeout(this.#db, tx);
            for (const migration of batch) {
              await this.#runStatements(tx, owner, migration, direction);
              await record(tx, migration);
            }
            if (dryRun) throw new DryRunRollback();
          },
          { timeout: 120_000, maxWait: 30_000 },
        );
      } catch (err) {
        if (err instanceof DryRunRollback) continue;
        if (isRoseyError(err)) throw err;
        throw new RoseyError(
          "MIGRATION_FAILED",
          `Migration ${batch.map((m) => m.version).join(", ")} of '${owner}' failed and was rolled back: ${dbMessage(err)}`,
          { cause: err, details: { plugin: owner, versions: batch.map((m) => m.version) } },
        );
      }
    }
  }

  /** Creates the ledger with the first migration; false when another runner created it meanwhile. */
  async #bootstrap(set: MigrationSet, first: MigrationFile): Promise<boolean> {
    blockOnErrors(set.owner, issuesOf([first]));
    try {
      return await this.#db.prisma.$transaction(
        async (tx) => {
          await liftStatementTimeout(this.#db, tx);
          // Two services starting on one empty PostgreSQL database: the first takes this transaction-scoped
          // advisory lock, the second waits for it and then finds the ledger there. (SQLite: one writer.)
          if (this.#db.engine === "postgresql")
            await tx.$executeRawUnsafe("SELECT pg_advisory_xact_lock(7263311)");
          if (await this.#ledgerExists(tx)) return false;
          // Inside the transaction, after the advisory lock and the ledger re-check: a second service that
          // waited here while the first created the schema returns above instead of seeing the first's
          // tables as clashes. Only reads; throwing rolls back a transaction that has written nothing.
          await refuseForeignSchema(this.#catalog(tx), set, this.#db.description);
          await this.#runStatements(tx, set.owner, first, "up");
          await tx.pluginSchemaMigration.create({
            data: {
              pluginName: set.owner,
              version: first.version,
              description: first.description,
              checksum: first.checksum,
              status: "applied",
              appliedAt: new Date(),
              appliedBy: this.#actor,
            },
          });
          return true;
        },
        { timeout: 120_000, maxWait: this.#lockTimeoutMs },
      );
    } catch (err) {
      if (isRoseyError(err)) throw err;
      throw new RoseyError("MIGRATION_FAILED", `Cannot create the core schema: ${dbMessage(err)}`, {
        cause: err,
      });
    }
  }

  async #runStatements(
    tx: Tx,
    owner: string,
    migration: MigrationFile,
    direction: "up" | "down",
  ): Promise<void> {
    for (const statement of direction === "up" ? migration.up : migration.down) {
      try {
        await tx.$executeRawUnsafe(statement.text);
      } catch (err) {
        throw new RoseyError(
          "MIGRATION_FAILED",
          `Migration ${migration.version} (${migration.description}) of '${owner}' failed (${direction.toUpperCase()}, line ${statement.line}) and was rolled back: ${dbMessage(err)}`,
          { cause: err, details: { plugin: owner, version: migration.version, line: statement.line } },
        );
      }
    }
  }

  async #ledgerExists(client: Pick<Tx, "$queryRawUnsafe"> = this.#db.prisma): Promise<boolean> {
    const rows =
      this.#db.engine === "sqlite"
        ? await client.$queryRawUnsafe<unknown[]>(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
            LEDGER_TABLE,
          )
        : await client.$queryRawUnsafe<unknown[]>(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1",
            LEDGER_TABLE,
          );
    return rows.length > 0;
  }

  /** Read-only catalog queries through the client (or transaction) given. */
  #catalog(client: Pick<Tx, "$queryRawUnsafe">): Catalog {
    return {
      engine: this.#db.engine,
      query: (sql, params) => client.$queryRawUnsafe<Array<Record<string, unknown>>>(sql, ...params),
    };
  }

  async #ledger(owner: string): Promise<LedgerRow[]> {
    return this.#db.prisma.pluginSchemaMigration.findMany({
      where: { pluginName: owner },
      orderBy: { version: "asc" },
    });
  }

  #verifyChecksums(set: MigrationSet, rows: LedgerRow[]): void {
    const mismatch = checksumMismatch(set, rows);
    if (mismatch) throw mismatch;
  }

  #describe(set: MigrationSet, rows: LedgerRow[]): MigrationStatus {
    const applied = rows.filter((r) => r.status === "applied");
    const appliedVersions = new Set(applied.map((r) => r.version));
    const pending = set.migrations.filter((m) => !appliedVersions.has(m.version));
    return {
      plugin: set.owner,
      currentVersion: currentOf(rows),
      availableVersion: set.migrations.at(-1)?.version ?? 0,
      pending: pending.map((m) => ({ version: m.version, description: m.description })),
      applied: applied.map((r) => ({
        version: r.version,
        description: r.description,
        checksum: r.checksum,
        appliedAt: r.appliedAt.toISOString(),
        appliedBy: r.appliedBy,
      })),
      rolledBack: rows
        .filter((r) => r.status === "rolled_back")
        .map((r) => ({
          version: r.version,
          rolledBackAt: r.rolledBackAt?.toISOString() ?? null,
          rolledBackBy: r.rolledBackBy,
        })),
      issues: issuesOf(set.migrations),
    };
  }

  /**
   * A plugin's SQL may name any table under its prefix, so it must not run while another owner's tables
   * under an overlapping prefix are in the database (owner-clash.ts). The core schema has no prefix.
   */
  async #refuseOwnerClash(set: MigrationSet): Promise<void> {
    if (set.prefix !== undefined) await refuseOwnerClash(this.#db.prisma, set.owner);
  }

  /** Runs `work` holding the owner's migration lock. */
  #locked<T>(owner: string, work: () => Promise<T>): Promise<T> {
    return withMigrationLock(
      this.#db,
      owner,
      { actor: this.#actor, timeoutMs: this.#lockTimeoutMs, ttlMs: this.#lockTtlMs },
      work,
    );
  }
}

function currentOf(rows: LedgerRow[]): number {
  return Math.max(0, ...rows.filter((r) => r.status === "applied").map((r) => r.version));
}

type Issue = ValidationIssue & { version: number };

function issuesOf(migrations: MigrationFile[]): Issue[] {
  return migrations.flatMap((m) => m.issues.map((i) => ({ ...i, version: m.version })));
}

function blockOnErrors(owner: string, issues: Issue[]): void {
  const errors = issues.filter((i) => i.level === "ERROR");
  if (errors.length === 0) return;
  const lines = errors.map((e) => `version ${e.version} line ${e.line}: ${e.message}`);
  throw new RoseyError(
    "VALIDATION_FAILED",
    `Cannot migrate '${owner}' as its migrations have errors:\n  - ${lines.join("\n  - ")}`,
    { details: { plugin: owner, issues: errors } },
  );
}

/** The database's own message for a failed statement, as the driver adapter passed it on. */
export function dbMessage(err: unknown): string {
  const e = err as {
    meta?: { driverAdapterError?: { cause?: { originalMessage?: string; message?: string } } };
  };
  return e.meta?.driverAdapterError?.cause?.originalMessage ?? errorMessage(err);
}
