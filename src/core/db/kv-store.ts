import path from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsImport from "ajv-formats";
import { errorMessage, isRoseyError, RoseyError } from "../errors.js";
import type { Logger } from "../logger.js";
import { tablePrefix } from "../migrations/validator.js";
import { discoverPlugins, type PluginManifest } from "../plugins/manifest.js";
import { type Database, SqlBuilder, type Tx } from "./connection.js";
import type { KvRecord, KvRequest, KvResults } from "./kv-protocol.js";
import { VALUE_MAX_BYTES } from "./kv-protocol.js";

/**
 * Plugin storage: every row is keyed by (plugin, collection, key), where `plugin` is always the caller's
 * verified identity. Records of a collection with a JSON Schema in the manifest are validated with ajv;
 * per-plugin quotas (records, bytes) are checked inside the write's transaction, and writes of one
 * plugin are serialised so two concurrent sets cannot both slip under the quota. A quota's bytes are the
 * UTF-8 bytes of every record's key and JSON value: keys of up to 256 characters are not free to store.
 * The manifest asks for a quota; the operator's `database.maxQuota` caps it.
 *
 * Table-backed collections: when a plugin's own migrations created `<prefix><collection>` (e.g.
 * `quotes_quotes`) for a collection its manifest declares, that collection's records live in that table
 * instead of `plugin_records`, so the plugin's migrations can index and evolve it. The table must have
 * `"key"` (text primary key), `"value"` (TEXT, the JSON), `"size"` INTEGER, `"created_at"` and
 * `"updated_at"` BIGINT (epoch ms); extra columns need defaults. See docs/database.md.
 */

export interface Quota {
  records: number;
  bytes: number;
}

/** Defaults when a manifest declares no `storage.quota`. */
export const DEFAULT_QUOTA: Readonly<Quota> = Object.freeze({ records: 10_000, bytes: 10 * 1024 * 1024 });

export interface StoragePolicy {
  /** As enforced: the manifest's ask (else the default), capped by the operator's ceiling. */
  quota: Quota;
  /** Collection → validator, for collections with a schema. */
  validators: Map<string, ValidateFunction>;
  /** Collection → why its manifest schema does not compile. */
  brokenSchemas: Map<string, string>;
  /** Collections the manifest declares: the ones that may be backed by a table of the plugin's own. */
  collections: string[];
}

/**
 * A plugin's storage policy.
 * @throws {RoseyError} to refuse the plugin all storage (`PLUGIN_PREFIX_CLASH` from `manifestPolicies`).
 */
export type PolicySource = (plugin: string) => StoragePolicy;

// ajv-formats is CommonJS; its default export arrives as the module object or the function.
const addFormats = ((addFormatsImport as unknown as { default?: unknown }).default ??
  addFormatsImport) as unknown as (ajv: Ajv) => Ajv;

/** Keywords whose members are named by the schema's author (property names), not keywords. */
const NAMED_MEMBERS = new Set(["properties", "$defs", "definitions", "dependentSchemas"]);

/** Where a schema asks for a regular expression (`pattern`, `patternProperties`), as a JSON pointer. */
function regexKeyword(schema: unknown, at: string, names = false): string | undefined {
  if (schema === null || typeof schema !== "object") return undefined;
  for (const [key, value] of Object.entries(schema)) {
    if (!names && (key === "pattern" || key === "patternProperties")) return `${at}/${key}`;
    const found = regexKeyword(value, `${at}/${key}`, !names && NAMED_MEMBERS.has(key));
    if (found) return found;
  }
  return undefined;
}

/**
 * A plugin's storage policy from its manifest.
 * @param maxQuota the operator's ceiling (`database.maxQuota`); without one, a manifest cannot ask for more
 * than the defaults.
 */
export function policyFromManifest(
  manifest: Pick<PluginManifest, "storage"> | undefined,
  maxQuota: Readonly<Quota> = DEFAULT_QUOTA,
): StoragePolicy {
  const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
  const validators = new Map<string, ValidateFunction>();
  const brokenSchemas = new Map<string, string>();
  for (const [name, spec] of Object.entries(manifest?.storage?.collections ?? {})) {
    if (!spec.schema) continue;
    const regex = regexKeyword(spec.schema, "");
    if (regex) {
      brokenSchemas.set(
        name,
        `it uses '${regex}': regular expressions from a plugin are not run by the database service, since one that backtracks (e.g. "^(a+)+$") freezes it for every plugin; check the text in the plugin instead`,
      );
      continue;
    }
    try {
      validators.set(name, ajv.compile(spec.schema));
    } catch (err) {
      brokenSchemas.set(name, errorMessage(err));
    }
  }
  const asked = manifest?.storage?.quota;
  return {
    quota: {
      records: Math.min(maxQuota.records, asked?.records ?? DEFAULT_QUOTA.records),
      bytes: Math.min(maxQuota.bytes, asked?.bytes ?? DEFAULT_QUOTA.bytes),
    },
    validators,
    brokenSchemas,
    collections: Object.keys(manifest?.storage?.collections ?? {}),
  };
}

export interface ManifestPoliciesOptions {
  /** The operator's ceiling on every plugin's quota (`database.maxQuota`). @default DEFAULT_QUOTA */
  maxQuota?: Readonly<Quota>;
  /** Where a manifest asking above the ceiling is reported (once per plugin, field and value). */
  logger?: Logger;
  /** @default 5000 */
  ttlMs?: number;
}

/**
 * Policies read from the plugins folder's manifests, re-read at most every `ttlMs` so a reloaded plugin's
 * new schema applies without restarting the service. A plugin without a readable manifest gets defaults
 * (no declared collections, so only its own `plugin_records` rows). A plugin discovery refuses for a table
 * prefix overlapping another's is refused here too: a request in its name must not reach the shared tables
 * even if it was not started by this folder's plugin manager.
 */
export function manifestPolicies(pluginsDir: string, options: ManifestPoliciesOptions = {}): PolicySource {
  const { maxQuota = DEFAULT_QUOTA, logger, ttlMs = 5_000 } = options;
  let loadedAt = 0;
  let policies = new Map<string, StoragePolicy | RoseyError>();
  const fallback = policyFromManifest(undefined, maxQuota);
  // Manifests are re-read every few seconds: say each cut once, not at every re-read.
  const reported = new Set<string>();
  const reportCuts = (manifest: PluginManifest, policy: StoragePolicy) => {
    for (const field of ["records", "bytes"] as const) {
      const asked = manifest.storage?.quota?.[field];
      const allowed = policy.quota[field];
      const once = `${manifest.name}.${field}=${asked}>${allowed}`;
      if (asked === undefined || asked <= allowed || reported.has(once)) continue;
      reported.add(once);
      logger?.warn(
        { plugin: manifest.name, field: `storage.quota.${field}`, asked, allowed },
        `plugin '${manifest.name}' asks storage.quota.${field} ${asked}, above database.maxQuota.${field} (${maxQuota[field]}): it gets ${allowed}`,
      );
    }
  };
  return (plugin) => {
    if (Date.now() - loadedAt > ttlMs) {
      const next = new Map<string, StoragePolicy | RoseyError>();
      try {
        const discovered = discoverPlugins(pluginsDir);
        for (const p of discovered.plugins) {
          const policy = policyFromManifest(p.manifest, maxQuota);
          reportCuts(p.manifest, policy);
          next.set(p.manifest.name, policy);
        }
        for (const r of discovered.rejected)
          if (isRoseyError(r.error, "PLUGIN_PREFIX_CLASH")) next.set(path.basename(r.dir), r.error);
      } catch {
        // An unreadable plugins folder leaves every plugin on defaults; the orchestrator reports the folder.
      }
      policies = next;
      loadedAt = Date.now();
    }
    const policy = policies.get(plugin) ?? fallback;
    if (policy instanceof RoseyError) throw policy;
    return policy;
  };
}

/** One `query` answer: `truncated` when records were left out to fit the byte budget (not for `limit`). */
export interface KvPage {
  records: KvRecord[];
  truncated: boolean;
}

export class PluginStorage {
  readonly #db: Database;
  readonly #policies: PolicySource;
  readonly #writeQueues = new Map<string, Promise<unknown>>();
  readonly #tableCache = new Map<string, { exists: boolean; at: number }>();

  constructor(db: Database, policies: PolicySource) {
    this.#db = db;
    this.#policies = policies;
  }

  async get(plugin: string, req: KvRequest<"get">): Promise<KvResults["get"]> {
    const table = await this.#table(plugin, req.collection);
    if (table) {
      const sql = new SqlBuilder(this.#db.engine);
      const rows = await this.#db.prisma.$queryRawUnsafe<Array<{ value: string }>>(
        `SELECT "value" FROM "${table}" WHERE "key" = ${sql.param(req.key)}`,
        ...sql.params,
      );
      return rows[0] ? (JSON.parse(rows[0].value) as unknown) : null;
    }
    const row = await this.#db.prisma.pluginRecord.findUnique({
      where: { plugin_collection_key: { plugin, collection: req.collection, key: req.key } },
      select: { value: true },
    });
    return row ? row.value : null;
  }

  async set(plugin: string, req: KvRequest<"set">): Promise<KvResults["set"]> {
    const policy = this.#policies(plugin);
    const broken = policy.brokenSchemas.get(req.collection);
    if (broken) {
      throw new RoseyError(
        "VALIDATION_FAILED",
        `Cannot store in '${req.collection}' as its schema in plugin '${plugin}' manifest does not compile: ${broken}`,
      );
    }
    const validate = policy.validators.get(req.collection);
    if (validate && !validate(req.value)) {
      const problems = (validate.errors ?? []).map(
        (e) =>
          `'${e.instancePath ? e.instancePath.slice(1).replaceAll("/", ".") : "(root)"}' ${e.message ?? "is invalid"}`,
      );
      throw new RoseyError(
        "VALIDATION_FAILED",
        `Cannot store '${req.collection}/${req.key}' as it does not match the collection's schema: ${problems.join("; ")}`,
        { details: { problems } },
      );
    }
    const json = JSON.stringify(req.value);
    const size = Buffer.byteLength(json, "utf8");
    const keyBytes = Buffer.byteLength(req.key, "utf8");
    if (size > VALUE_MAX_BYTES) {
      throw new RoseyError(
        "VALIDATION_FAILED",
        `Cannot store '${req.collection}/${req.key}' as a value may be at most ${VALUE_MAX_BYTES} bytes: current value is ${size} bytes`,
      );
    }
    return this.#serialised(plugin, async () => {
      const table = await this.#table(plugin, req.collection);
      const tables = await this.#tables(plugin, policy);
      return this.#db.prisma.$transaction(async (tx) => {
        const where = { plugin_collection_key: { plugin, collection: req.collection, key: req.key } };
        let existing: { size: number } | null;
        if (table) {
          const sql = new SqlBuilder(this.#db.engine);
          const rows = await tx.$queryRawUnsafe<Array<{ size: number }>>(
            `SELECT "size" FROM "${table}" WHERE "key" = ${sql.param(req.key)}`,
            ...sql.params,
          );
          existing = rows[0] ? { size: Number(rows[0].size) } : null;
        } else {
          existing = await tx.pluginRecord.findUnique({ where, select: { size: true } });
        }
        const totals = await usageOf(tx, this.#db.engine, plugin, tables);
        const records = totals.records + (existing ? 0 : 1);
        // Replacing a record changes only its value's bytes; a new one adds its key's too.
        const bytes = totals.bytes + size + (existing ? -existing.size : keyBytes);
        if (records > policy.quota.records) {
          throw new RoseyError(
            "QUOTA_EXCEEDED",
            `Cannot store '${req.collection}/${req.key}' as plugin '${plugin}' may keep ${policy.quota.records} records: it has ${totals.records}`,
            { details: { quota: policy.quota, records: totals.records } },
          );
        }
        if (bytes > policy.quota.bytes) {
          throw new RoseyError(
            "QUOTA_EXCEEDED",
            `Cannot store '${req.collection}/${req.key}' (${keyBytes + size} bytes with its key) as plugin '${plugin}' may keep ${policy.quota.bytes} bytes: it would use ${bytes}`,
            { details: { quota: policy.quota, bytes } },
          );
        }
        const now = new Date();
        if (table) {
          const sql = new SqlBuilder(this.#db.engine);
          const ms = now.getTime();
          const text = existing
            ? `UPDATE "${table}" SET "value" = ${sql.param(json)}, "size" = ${sql.param(size)}, "updated_at" = ${sql.param(ms)} WHERE "key" = ${sql.param(req.key)}`
            : `INSERT INTO "${table}" ("key", "value", "size", "created_at", "updated_at") VALUES (${sql.param(req.key)}, ${sql.param(json)}, ${sql.param(size)}, ${sql.param(ms)}, ${sql.param(ms)})`;
          await tx.$executeRawUnsafe(text, ...sql.params);
          return { key: req.key };
        }
        await tx.pluginRecord.upsert({
          where,
          create: {
            plugin,
            collection: req.collection,
            key: req.key,
            value: req.value as object,
            size,
            createdAt: now,
            updatedAt: now,
          },
          update: { value: req.value as object, size, updatedAt: now },
        });
        return { key: req.key };
      });
    });
  }

  delete(plugin: string, req: KvRequest<"delete">): Promise<KvResults["delete"]> {
    return this.#serialised(plugin, async () => {
      const table = await this.#table(plugin, req.collection);
      let count: number;
      if (table) {
        const sql = new SqlBuilder(this.#db.engine);
        count = await this.#db.prisma.$executeRawUnsafe(
          `DELETE FROM "${table}" WHERE "key" = ${sql.param(req.key)}`,
          ...sql.params,
        );
      } else {
        ({ count } = await this.#db.prisma.pluginRecord.deleteMany({
          where: { plugin, collection: req.collection, key: req.key },
        }));
      }
      if (count === 0) {
        throw new RoseyError(
          "NOT_FOUND",
          `Cannot delete '${req.collection}/${req.key}' as no such record exists`,
        );
      }
      return { key: req.key, deleted: true as const };
    });
  }

  /**
   * Records in order, up to `req.limit` and as many as fit in `maxBytes` (UTF-8 JSON of the records, the
   * array's commas included): the reply has to fit in one bus message. `truncated` when some were left out
   * for size alone.
   */
  async query(plugin: string, req: KvRequest<"query">, maxBytes = Number.POSITIVE_INFINITY): Promise<KvPage> {
    const table = await this.#table(plugin, req.collection);
    const sql = new SqlBuilder(this.#db.engine);
    const where = this.#where(sql, plugin, req.collection, req.filter, table);
    const value = table && this.#db.engine === "postgresql" ? `("value"::jsonb)` : `"value"`;
    let orderBy = `"key" ASC`;
    if (req.order) {
      const dir = req.order.direction === "desc" ? "DESC" : "ASC";
      const expr =
        this.#db.engine === "postgresql"
          ? `${value} -> ${sql.param(req.order.field)}`
          : `json_extract("value", ${sql.param(jsonPath(req.order.field))})`;
      orderBy = `${expr} ${dir}, "key" ASC`;
    }
    const matched = await this.#db.prisma.$queryRawUnsafe<Array<{ key: string; size: number | bigint }>>(
      `SELECT "key", "size" FROM "${table ?? "plugin_records"}" WHERE ${where} ORDER BY ${orderBy} LIMIT ${sql.param(req.limit)} OFFSET ${sql.param(req.offset)}`,
      ...sql.params,
    );
    // Values are read only for the records whose stored size fits: a full limit of 256 KiB values would
    // otherwise load ~250 MiB into the service for a reply that cannot carry them.
    let room = maxBytes;
    const keys: string[] = [];
    for (const r of matched) {
      room -= Buffer.byteLength(JSON.stringify(r.key), "utf8") + Number(r.size) + RECORD_FRAME_BYTES;
      if (room < 0) break;
      keys.push(r.key);
    }
    let truncated = keys.length < matched.length;
    const values = await this.#values(plugin, req.collection, table, keys);
    // Stored sizes are an estimate: a row a plugin's own migration wrote may understate its value.
    const records: KvRecord[] = [];
    room = maxBytes;
    for (const key of keys) {
      if (!values.has(key)) continue; // deleted between the two reads
      const record: KvRecord = { key, value: values.get(key) };
      room -= Buffer.byteLength(JSON.stringify(record), "utf8") + 1;
      if (room < 0) {
        truncated = true;
        break;
      }
      records.push(record);
    }
    return { records, truncated };
  }

  /** Values by key; through the client for `plugin_records`, so JSON decoding is Prisma's on both engines. */
  async #values(
    plugin: string,
    collection: string,
    table: string | undefined,
    keys: string[],
  ): Promise<Map<string, unknown>> {
    if (keys.length === 0) return new Map();
    if (table) {
      const sql = new SqlBuilder(this.#db.engine);
      const rows = await this.#db.prisma.$queryRawUnsafe<Array<{ key: string; value: string }>>(
        `SELECT "key", "value" FROM "${table}" WHERE "key" IN (${keys.map((k) => sql.param(k)).join(", ")})`,
        ...sql.params,
      );
      return new Map(rows.map((r) => [r.key, JSON.parse(r.value) as unknown]));
    }
    const rows = await this.#db.prisma.pluginRecord.findMany({
      where: { plugin, collection, key: { in: keys } },
      select: { key: true, value: true },
    });
    return new Map(rows.map((r) => [r.key, r.value]));
  }

  async count(plugin: string, req: KvRequest<"count">): Promise<KvResults["count"]> {
    const table = await this.#table(plugin, req.collection);
    if (table) {
      const sql = new SqlBuilder(this.#db.engine);
      const where = this.#where(sql, plugin, req.collection, req.filter, table);
      const rows = await this.#db.prisma.$queryRawUnsafe<Array<{ n: number | bigint }>>(
        `SELECT COUNT(*) AS n FROM "${table}" WHERE ${where}`,
        ...sql.params,
      );
      return Number(rows[0]?.n ?? 0);
    }
    if (!req.filter || Object.keys(req.filter).length === 0) {
      return this.#db.prisma.pluginRecord.count({ where: { plugin, collection: req.collection } });
    }
    const sql = new SqlBuilder(this.#db.engine);
    const where = this.#where(sql, plugin, req.collection, req.filter);
    const rows = await this.#db.prisma.$queryRawUnsafe<Array<{ n: number | bigint }>>(
      `SELECT COUNT(*) AS n FROM "plugin_records" WHERE ${where}`,
      ...sql.params,
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Records and bytes a plugin uses. */
  async usage(plugin: string): Promise<{ records: number; bytes: number }> {
    return usageOf(
      this.#db.prisma,
      this.#db.engine,
      plugin,
      await this.#tables(plugin, this.#policies(plugin)),
    );
  }

  /** The table backing a collection, when the plugin's migrations created one. Cached briefly. */
  async #table(plugin: string, collection: string): Promise<string | undefined> {
    if (!this.#policies(plugin).collections.includes(collection)) return undefined;
    const name = `${tablePrefix(plugin)}${collection}`;
    const cached = this.#tableCache.get(name);
    if (cached && Date.now() - cached.at < TABLE_CACHE_MS) return cached.exists ? name : undefined;
    const exists = await tableExists(this.#db, name);
    this.#tableCache.set(name, { exists, at: Date.now() });
    return exists ? name : undefined;
  }

  async #tables(plugin: string, policy: StoragePolicy): Promise<string[]> {
    const out: string[] = [];
    for (const c of policy.collections) {
      const t = await this.#table(plugin, c);
      if (t) out.push(t);
    }
    return out;
  }

  /** Forgets cached table lookups (after a migration created or dropped a table). */
  invalidateTables(): void {
    this.#tableCache.clear();
  }

  /** Equality on top-level JSON fields: same JSON type and value (a missing field never equals null). */
  #where(
    sql: SqlBuilder,
    plugin: string,
    collection: string,
    filter: Record<string, unknown> | undefined,
    table?: string,
  ): string {
    const parts = table
      ? ["1 = 1"]
      : [`"plugin" = ${sql.param(plugin)}`, `"collection" = ${sql.param(collection)}`];
    const value = table && this.#db.engine === "postgresql" ? `("value"::jsonb)` : `"value"`;
    for (const [field, v] of Object.entries(filter ?? {})) {
      const json = JSON.stringify(v ?? null);
      if (this.#db.engine === "postgresql") {
        parts.push(`${value} -> ${sql.param(field)} = ${sql.param(json)}::jsonb`);
      } else {
        const p = jsonPath(field);
        parts.push(
          `json_type("value", ${sql.param(p)}) IS json_type(${sql.param(json)}, '$')`,
          `json_extract("value", ${sql.param(p)}) IS json_extract(${sql.param(json)}, '$')`,
        );
      }
    }
    return parts.join(" AND ");
  }

  #serialised<T>(plugin: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#writeQueues.get(plugin) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => {});
    this.#writeQueues.set(plugin, settled);
    void settled.then(() => {
      if (this.#writeQueues.get(plugin) === settled) this.#writeQueues.delete(plugin);
    });
    return next;
  }
}

const TABLE_CACHE_MS = 2_000;
/** `{"key":` `,"value":` `}` and the comma before the next record. */
const RECORD_FRAME_BYTES = 18;

async function tableExists(db: Database, name: string): Promise<boolean> {
  const rows =
    db.engine === "sqlite"
      ? await db.prisma.$queryRawUnsafe<unknown[]>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
          name,
        )
      : await db.prisma.$queryRawUnsafe<unknown[]>(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1",
          name,
        );
  return rows.length > 0;
}

/** Records and bytes (UTF-8 of keys and values) over `plugin_records` and the plugin's collection tables. */
async function usageOf(
  client: Pick<Tx, "$queryRawUnsafe">,
  engine: Database["engine"],
  plugin: string,
  tables: string[],
): Promise<{ records: number; bytes: number }> {
  // Key bytes are measured in SQL rather than stored in "size", so rows written before keys counted
  // count them too, and the column keeps its documented meaning for plugins' own tables.
  const bytes =
    engine === "postgresql"
      ? 'SUM("size" + octet_length("key"))::bigint'
      : 'SUM("size" + length(CAST("key" AS BLOB)))';
  type Row = { n: number | bigint; b: number | bigint | null };
  const sql = new SqlBuilder(engine);
  const rows = await client.$queryRawUnsafe<Row[]>(
    `SELECT COUNT(*) AS n, ${bytes} AS b FROM "plugin_records" WHERE "plugin" = ${sql.param(plugin)}`,
    ...sql.params,
  );
  for (const table of tables)
    rows.push(
      ...(await client.$queryRawUnsafe<Row[]>(`SELECT COUNT(*) AS n, ${bytes} AS b FROM "${table}"`)),
    );
  return {
    records: rows.reduce((sum, r) => sum + Number(r.n), 0),
    bytes: rows.reduce((sum, r) => sum + Number(r.b ?? 0), 0),
  };
}

function jsonPath(field: string): string {
  return `$."${field}"`;
}
