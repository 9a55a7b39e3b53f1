import { escapeControls } from "../../sandbox/escape-text.js";
import type { Engine } from "../db/connection.js";
import { policyFromManifest, type Quota } from "../db/kv-store.js";
import { errorMessage } from "../errors.js";
import {
  checksumMismatch,
  loadPluginMigrations,
  type MigrationFile,
  type MigrationSet,
} from "../migrations/files.js";
import type { Catalog } from "../migrations/foreign-schema.js";
import { ownerClash } from "../migrations/owner-clash.js";
import type { PluginManifest } from "../plugins/manifest.js";

/**
 * The data side of `rosey audit`: what a plugin may keep (`storage`, its collections and quota) and what its
 * own SQL would do to the database (its migrations, against the ledger when a database is open). Every
 * figure comes from the code that enforces it: `policyFromManifest` for the quota as the database service
 * caps it, `loadPluginMigrations` and `confine` as `rosey migrate status` checks migrations.
 */

export interface StorageAudit {
  /** `storage` is requested and granted: the plugin has `ctx.storage`. */
  effective: boolean;
  /** Manifest `storage.collections`; `schemaError` when its schema is refused (every write to it fails). */
  collections: Array<{ name: string; schema: boolean; schemaError: string | null }>;
  quota: {
    /** Manifest `storage.quota`; null where it asks nothing (the default applies). */
    requested: { records: number | null; bytes: number | null };
    /** As the database service enforces it: the ask (else the default), capped by `database.maxQuota`. */
    effective: Quota;
    /** The manifest asked for more than `database.maxQuota` allows. */
    capped: boolean;
  };
}

/** Why the database service does not apply a plugin's migrations at start. */
export type NotAutoApplied = "disabled" | "not granted storage";

/** One ERROR of the text validator or the engine's confinement check. */
export interface MigrationError {
  version: number;
  section: "up" | "down";
  line: number;
  message: string;
}

export interface MigrationsAudit {
  /** `NNN_description.sql` files in its `migrations/` folder; null when they cannot be loaded. */
  files: number | null;
  loadError: string | null;
  /** Empty when the database service applies them at start (enabled and granted `storage`). */
  notAutoApplied: NotAutoApplied[];
  /** Highest version the ledger records as applied (0: none); null when the ledger was not read. */
  appliedVersion: number | null;
  pending: number | null;
  /** Why the ledger was not read, or the engine check did not run; null also when no database was open. */
  databaseError: string | null;
  /**
   * What the ledger makes `rosey migrate` and the database service refuse outright, before any migration
   * is looked at: an applied migration whose file changed (CHECKSUM_MISMATCH), or another owner's tables
   * under an overlapping prefix (PLUGIN_PREFIX_CLASH). Null when none, or the ledger was not read.
   */
  refusal: string | null;
  /** ERRORs in the migrations not recorded as applied: all of them when the ledger was not read. */
  errors: MigrationError[];
  /**
   * The engine's confinement check ran too. It needs the database, and (as in `rosey migrate status`) it
   * waits until the text validator finds no ERROR.
   */
  engineChecked: boolean;
}

/** Read-only access to the migration ledger, through the connection the audit log was read with. */
export interface MigrationLedger {
  readonly engine: Engine;
  /** Catalog queries for the confinement check. */
  readonly catalog: Catalog;
  /** The ledger's rows of migrations applied for `plugin`. */
  applied(
    plugin: string,
  ): Promise<Array<{ version: number; description: string; checksum: string; status: string }>>;
  /** Plugins with applied migrations: whose tables the database holds. */
  owners(): Promise<string[]>;
}

export function storageAudit(
  manifest: PluginManifest,
  effective: readonly string[],
  maxQuota: Readonly<Quota>,
): StorageAudit {
  const policy = policyFromManifest(manifest, maxQuota);
  const asked = manifest.storage?.quota;
  const requested = { records: asked?.records ?? null, bytes: asked?.bytes ?? null };
  return {
    effective: effective.includes("storage"),
    collections: policy.collections.map((name) => {
      const broken = policy.brokenSchemas.get(name);
      return {
        name,
        schema: policy.validators.has(name) || broken !== undefined,
        schemaError: broken === undefined ? null : escapeControls(broken),
      };
    }),
    quota: { requested, effective: policy.quota, capped: cappedFields(requested, policy.quota).length > 0 },
  };
}

/** The quota fields the manifest asked above `database.maxQuota` for. */
export function cappedFields(
  requested: StorageAudit["quota"]["requested"],
  effective: Readonly<Quota>,
): Array<keyof Quota> {
  return (["records", "bytes"] as const).filter((f) => (requested[f] ?? 0) > effective[f]);
}

/** Mirrors the database service's auto-migrate rule (database-service.ts `autoMigrate`). */
export function notAutoApplied(enabled: boolean, storage: boolean): NotAutoApplied[] {
  const reasons: NotAutoApplied[] = [];
  if (!enabled) reasons.push("disabled");
  if (!storage) reasons.push("not granted storage");
  return reasons;
}

export async function migrationsAudit(input: {
  plugin: string;
  dir: string;
  engine: Engine;
  ledger: MigrationLedger | undefined;
  notAutoApplied: NotAutoApplied[];
}): Promise<MigrationsAudit> {
  const audit: MigrationsAudit = {
    files: null,
    loadError: null,
    notAutoApplied: input.notAutoApplied,
    appliedVersion: null,
    pending: null,
    databaseError: null,
    refusal: null,
    errors: [],
    engineChecked: false,
  };
  let set: MigrationSet;
  try {
    set = loadPluginMigrations(input.plugin, input.dir, input.ledger?.engine ?? input.engine);
  } catch (err) {
    audit.loadError = escapeControls(errorMessage(err));
    return audit;
  }
  audit.files = set.migrations.length;
  let unapplied = set.migrations;
  if (input.ledger) {
    try {
      const rows = await input.ledger.applied(input.plugin);
      const refusal = checksumMismatch(set, rows) ?? ownerClash(input.plugin, await input.ledger.owners());
      audit.refusal = refusal ? escapeControls(`${refusal.code}: ${refusal.message}`) : null;
      const applied = new Set(rows.map((r) => r.version));
      audit.appliedVersion = Math.max(0, ...applied);
      unapplied = set.migrations.filter((m) => !applied.has(m.version));
      audit.pending = unapplied.length;
    } catch (err) {
      audit.databaseError = escapeControls(errorMessage(err));
    }
  }
  audit.errors = textErrors(unapplied);
  if (input.ledger && audit.pending !== null && audit.errors.length === 0) {
    try {
      audit.errors = await engineErrors(input.ledger.catalog, set, unapplied);
      audit.engineChecked = true;
    } catch (err) {
      audit.databaseError = escapeControls(errorMessage(err));
    }
  }
  return audit;
}

function textErrors(migrations: MigrationFile[]): MigrationError[] {
  return migrations.flatMap((m) =>
    m.issues
      .filter((i) => i.level === "ERROR")
      .map((i) => ({
        version: m.version,
        section: i.section,
        line: i.line,
        message: escapeControls(i.message),
      })),
  );
}

/** As `MigrationRunner.status` reports them: confinement escapes, then the rehearsal's first failure. */
async function engineErrors(
  catalog: Catalog,
  set: MigrationSet,
  pending: MigrationFile[],
): Promise<MigrationError[]> {
  // libpg-query and better-sqlite3 are loaded only when there is a database to check against.
  const { confine } = await import("../migrations/confinement.js");
  const confined = await confine(catalog, set, pending, "up");
  const errors: MigrationError[] = confined.issues.map((i) => ({
    version: i.version,
    section: i.section,
    line: i.line,
    message: escapeControls(i.message),
  }));
  const failed = confined.failure;
  if (failed)
    errors.push({
      version: failed.version,
      section: "up",
      line: failed.line,
      message: escapeControls(`Fails on the plugin's current tables: ${failed.message}`),
    });
  return errors;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** The `storage:` line of a plugin's block in the text report. */
export function formatStorage(s: StorageAudit, requested: boolean): string {
  const state = s.effective ? "effective" : requested ? "not granted" : "not requested";
  const collections = s.collections.map(
    (c) => `${c.name}${c.schemaError ? ` (schema refused: ${c.schemaError})` : c.schema ? " (schema)" : ""}`,
  );
  const { requested: asked, effective, capped } = s.quota;
  const cut = cappedFields(asked, effective).map((f) => `${asked[f]} ${f}`);
  return [
    state,
    `collections: ${collections.length ? collections.join(", ") : "—"}`,
    `quota ${effective.records} records, ${effective.bytes} bytes${capped ? `  ! capped by database.maxQuota (asked ${cut.join(", ")})` : ""}`,
  ].join("; ");
}

/** The `migrations:` line, then one line per ERROR, of a plugin's block in the text report. */
export function formatMigrations(m: MigrationsAudit, indent: string): string[] {
  if (m.files === null) return [`cannot load: ${m.loadError}`];
  if (m.files === 0) return ["none"];
  const parts = [plural(m.files, "file")];
  if (m.appliedVersion === null)
    parts.push(m.databaseError ? `ledger not read: ${m.databaseError}` : "ledger not read (no database)");
  else parts.push(m.appliedVersion ? `applied v${m.appliedVersion}` : "none applied", `${m.pending} pending`);
  if ((m.pending ?? m.files) > 0) {
    const scope = m.engineChecked ? "" : " (text check only)";
    parts.push(`${m.errors.length ? plural(m.errors.length, "ERROR") : "no ERRORs"}${scope}`);
  }
  if (m.appliedVersion !== null && m.databaseError) parts.push(`engine check failed: ${m.databaseError}`);
  if (m.refusal) parts.push("REFUSED (below)");
  const line =
    parts.join(", ") + (m.notAutoApplied.length ? `; not auto-applied: ${m.notAutoApplied.join(", ")}` : "");
  return [
    line,
    ...m.errors.map(
      (e) => `${indent}ERROR v${e.version} ${e.section.toUpperCase()} line ${e.line}: ${e.message}`,
    ),
  ];
}
