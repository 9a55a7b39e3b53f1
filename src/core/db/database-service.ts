import { existsSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { type Bus, type BusMessage, createBus } from "../bus.js";
import type { RoseyConfig } from "../config/schema.js";
import { errorMessage, isRoseyError, RoseyError } from "../errors.js";
import { LogBudget } from "../log-budget.js";
import type { Logger } from "../logger.js";
import { loadCoreMigrations, loadPluginMigrations, type MigrationSet } from "../migrations/files.js";
import { LedgerOwners } from "../migrations/owner-clash.js";
import { purgePlugin } from "../migrations/purge.js";
import { MigrationRunner, type RunOptions } from "../migrations/runner.js";
import { databaseUser } from "../nats/component-users.js";
import { computeGrants } from "../plugins/grants.js";
import { type DiscoveredPlugin, discoverPlugins, prefixClashOf } from "../plugins/manifest.js";
import { isPluginEnabled } from "../plugins/preflight.js";
import { PLUGIN_NAME, SUBJECTS } from "../subjects.js";
import { describeProblem } from "../validation.js";
import {
  type Database,
  type DatabaseTarget,
  isStatementTimeout,
  openDatabase,
  resolveDatabaseTarget,
} from "./connection.js";
import { type DbMonitoring, startDbMonitoring } from "./db-monitoring.js";
import { FairScheduler, type FairSchedulerOptions } from "./fair-scheduler.js";
import { type IngestOptions, type Ingestor, startIngestor } from "./ingestion.js";
import {
  type DbReply,
  KV_OPERATIONS,
  KV_SUBJECT_PREFIX,
  type KvOperation,
  kvRequestSchemas,
  NAMESPACE_FIELDS,
  pluginOfSource,
} from "./kv-protocol.js";
import { manifestPolicies, PluginStorage, type PolicySource } from "./kv-store.js";
import { answerPings } from "./liveness.js";
import { isQueryName, runQuery } from "./queries.js";
import { StorageMetrics, type StorageOutcome } from "./storage-metrics.js";

/**
 * The database service: the only holder of database credentials. On the bus it answers
 *   rosey.db.kv.<get|set|delete|query|count>        plugin storage (namespace = verified source)
 *   rosey.db.query.<name>                            queries (see queries.ts)
 *   rosey.db.migrate.<plugin>.<apply|rollback|status|purge> per-plugin migrations; purge (purge.ts)
 * and ingests the `rosey.db.*` events from JetStream (ingestion.ts). Requests are served by a queue group,
 * so several instances can share the load. Storage requests take turns per plugin (fair-scheduler.ts), so
 * one plugin's flood of full-scan queries cannot starve the others' storage or the ingestion.
 */

export interface DatabaseServiceOptions {
  natsUrl: string;
  config: Readonly<RoseyConfig>;
  logger: Logger;
  /** Overrides the database choice (tests, bench); default from env + config. */
  target?: DatabaseTarget;
  ingest?: IngestOptions;
  /** Storage policies; default: the plugins folder's manifests. */
  policies?: PolicySource;
  /** How long a migrate request waits for another runner's lock. @default 10000 */
  lockTimeoutMs?: number;
  /**
   * Apply every discovered plugin's pending migrations at start (as `db:auto`), so bundled plugins work
   * out of the box. A plugin whose migrations fail is logged and left as it was; the service still starts.
   * @default true
   */
  autoMigratePlugins?: boolean;
  /** Answers the core's liveness pings under this id (service.ts runs this process); unset: no pings. */
  pingId?: string | undefined;
  /**
   * How plugins' storage requests share the database. @default on SQLite one at a time (its statements run
   * one by one on this thread anyway); on PostgreSQL one less than the pool's connections, keeping one for
   * the ingestion and the core's requests; 2 at once per plugin, 32 more waiting per plugin, then `BUSY`.
   */
  storageScheduling?: Omit<FairSchedulerOptions, "name">;
}

export interface DatabaseService {
  readonly database: Database;
  stop(): Promise<void>;
}

export const DB_QUEUE_GROUP = "rosey-db";
const MIGRATE_ACTIONS = ["apply", "rollback", "status", "purge"] as const;

const migrateRequest = z.strictObject({
  to_version: z.number().int().nonnegative().optional(),
  count: z.number().int().positive().optional(),
  dry_run: z.boolean().optional(),
});

/** Without `yes`, a purge only lists what it would remove. */
const purgeRequest = z.strictObject({ yes: z.boolean().optional() });

export async function startDatabaseService(options: DatabaseServiceOptions): Promise<DatabaseService> {
  const log = options.logger.child({ component: "db" });
  const target = options.target ?? resolveDatabaseTarget(options.config);
  // Only the service's own pool: `rosey migrate` opening the database itself runs without a limit.
  const db = await openDatabase(target, {
    statementTimeoutMs: options.config.database.statementTimeoutMs,
  });
  let bus: Bus | undefined;
  let ingestor: Ingestor | undefined;
  let monitoring: DbMonitoring | undefined;
  let scheduler: FairScheduler | undefined;
  try {
    const core = await new MigrationRunner(db, { actor: "db" }).applyCore(loadCoreMigrations(db.engine));
    if (core.versions.length) log.info({ versions: core.versions }, "applied core migrations");
    if (options.autoMigratePlugins ?? true) await autoMigrate(db, options, log);
    bus = await createBus({
      url: options.natsUrl,
      source: "db",
      logger: options.logger,
      name: "rosey-db",
      inboxPrefix: databaseUser().inboxPrefix,
    });
    const storage = new PluginStorage(
      db,
      options.policies ??
        manifestPolicies(options.config.plugins.directory, {
          maxQuota: options.config.database.maxQuota,
          logger: log,
        }),
    );
    scheduler = new FairScheduler({
      concurrency: target.engine === "sqlite" ? 1 : Math.max(1, target.poolSize - 1),
      ...options.storageScheduling,
      name: "storage request",
    });
    const storageMetrics = new StorageMetrics();
    const handlers = new Handlers(
      bus,
      db,
      storage,
      new LedgerOwners(db),
      scheduler,
      storageMetrics,
      options,
      log,
    );
    const queue = { queue: DB_QUEUE_GROUP };
    bus.subscribe(`${KV_SUBJECT_PREFIX}.*`, (m) => handlers.kv(m), queue);
    bus.subscribe("rosey.db.query.*", (m) => handlers.query(m), queue);
    bus.subscribe("rosey.db.migrate.*.*", (m) => handlers.migrate(m), queue);
    // Liveness: answered straight from the event loop, so a frozen loop goes unanswered (liveness.ts).
    if (options.pingId) answerPings(bus, options.pingId);
    await bus.flush();
    ingestor = await startIngestor(bus.connection, db, options.logger, options.ingest);
    monitoring = await startDbMonitoring({
      bus,
      db,
      ingestor,
      storage: storageMetrics,
      logger: options.logger,
    });
    log.info({ database: db.description }, "database service started");
  } catch (err) {
    monitoring?.stop();
    await ingestor?.stop().catch(() => {});
    await scheduler?.close();
    await bus?.close().catch(() => {});
    await db.close().catch(() => {});
    throw err;
  }
  const started = { bus, ingestor, monitoring, scheduler };
  let stopping: Promise<void> | undefined;
  return {
    database: db,
    stop() {
      stopping ??= (async () => {
        // Reverse order: stop taking events, finish the batch in hand, finish the storage requests running
        // (those waiting are answered BUS_CLOSED), drain requests, then close the pool.
        const errors: unknown[] = [];
        started.monitoring.stop();
        await started.ingestor.stop().catch((e: unknown) => errors.push(e));
        await started.scheduler.close();
        await started.bus.close().catch((e: unknown) => errors.push(e));
        await db.close().catch((e: unknown) => errors.push(e));
        log.info("database service stopped");
        if (errors.length)
          throw new RoseyError(
            "INTERNAL",
            `Database service stopped with errors: ${errors.map(errorMessage).join("; ")}`,
          );
      })();
      return stopping;
    },
  };
}

class Handlers {
  readonly #bus: Bus;
  readonly #db: Database;
  readonly #storage: PluginStorage;
  readonly #owners: LedgerOwners;
  readonly #scheduler: FairScheduler;
  readonly #metrics: StorageMetrics;
  readonly #options: DatabaseServiceOptions;
  readonly #log: Logger;
  /** A plugin kept over its storage backlog is refused on every request: a few lines say so. */
  readonly #busyLog = new LogBudget(1, 10_000);
  /** A lock held elsewhere can have every request of a collection cut: a few lines say so. */
  readonly #timeoutLog = new LogBudget(1, 10_000);

  constructor(
    bus: Bus,
    db: Database,
    storage: PluginStorage,
    owners: LedgerOwners,
    scheduler: FairScheduler,
    metrics: StorageMetrics,
    options: DatabaseServiceOptions,
    log: Logger,
  ) {
    this.#bus = bus;
    this.#db = db;
    this.#storage = storage;
    this.#owners = owners;
    this.#scheduler = scheduler;
    this.#metrics = metrics;
    this.#options = options;
    this.#log = log;
  }

  async kv(m: BusMessage): Promise<void> {
    const started = performance.now();
    const op = m.subject.slice(KV_SUBJECT_PREFIX.length + 1) as KvOperation;
    const plugin = pluginOfSource(m.envelope.source);
    // Timed once the scheduler takes it: refusals on arrival (and BUSY) cost nothing and are only counted.
    let scheduled = false;
    const outcome = await this.#reply(m, async (): Promise<Success> => {
      if (!(KV_OPERATIONS as readonly string[]).includes(op)) {
        throw new RoseyError(
          "VALIDATION_FAILED",
          `Unknown storage operation '${op}': one of ${KV_OPERATIONS.join(", ")}`,
        );
      }
      if (!plugin) {
        this.#violation(
          m,
          undefined,
          `storage requests must come from a plugin; source is '${m.envelope.source}'`,
        );
        throw new RoseyError(
          "PERMISSION_DENIED",
          `Cannot use plugin storage from source '${m.envelope.source}': only plugins have a storage namespace`,
        );
      }
      const data = m.envelope.data;
      if (data && typeof data === "object") {
        const named = NAMESPACE_FIELDS.filter((f) => Object.hasOwn(data, f));
        if (named.length > 0) {
          this.#violation(
            m,
            plugin,
            `storage request names a namespace field (${named.join(", ")}): cross-plugin access attempt`,
          );
          throw new RoseyError(
            "PERMISSION_DENIED",
            `Cannot choose a storage namespace: '${named[0]}' is not allowed; plugin '${plugin}' only ever reaches its own records`,
          );
        }
      }
      const parsed = kvRequestSchemas[op].safeParse(data);
      if (!parsed.success) {
        throw new RoseyError(
          "VALIDATION_FAILED",
          `Invalid storage ${op} request: ${describeProblem(parsed.error)}`,
        );
      }
      scheduled = true;
      try {
        return await this.#scheduler.run(plugin, () => this.#kv(plugin, op, parsed.data));
      } catch (err) {
        if (isRoseyError(err, "BUSY")) {
          scheduled = false;
          if (this.#busyLog.admit(this.#log, "storage refusal"))
            this.#log.warn(
              { plugin, ...err.details },
              "storage request refused: the plugin's backlog is full",
            );
        }
        throw err;
      }
    });
    this.#metrics.record(plugin, op, outcome, scheduled ? (performance.now() - started) / 1000 : undefined);
  }

  async #kv(plugin: string, op: KvOperation, req: { collection: string }): Promise<Success> {
    try {
      return await this.#kvWork(plugin, op, req);
    } catch (err) {
      if (!isStatementTimeout(err)) throw err;
      const limit = this.#db.statementTimeoutMs;
      if (this.#timeoutLog.admit(this.#log, "storage timeout"))
        this.#log.warn(
          { plugin, op, collection: req.collection, statementTimeoutMs: limit },
          "storage request cut by the statement timeout",
        );
      throw new RoseyError(
        "QUERY_TIMEOUT",
        `Cannot run storage ${op} on collection '${req.collection}' of plugin '${plugin}' as a storage statement may run for at most ${limit} ms ('database.statementTimeoutMs'): the database cancelled it`,
        { cause: err, details: { collection: req.collection, statementTimeoutMs: limit } },
      );
    }
  }

  async #kvWork(plugin: string, op: KvOperation, req: unknown): Promise<Success> {
    // Another owner's tables left under an overlapping prefix (its folder removed): refused like a pair
    // of installed folders, whose refusal comes from the policy source.
    await this.#owners.refuse(plugin);
    switch (op) {
      case "get":
        return { data: await this.#storage.get(plugin, req as never) };
      case "set":
        return { data: await this.#storage.set(plugin, req as never) };
      case "delete":
        return { data: await this.#storage.delete(plugin, req as never) };
      case "query": {
        const page = await this.#storage.query(plugin, req as never, this.#replyBudget());
        return page.truncated ? { data: page.records, truncated: true } : { data: page.records };
      }
      case "count":
        return { data: await this.#storage.count(plugin, req as never) };
    }
  }

  async query(m: BusMessage): Promise<void> {
    await this.#answer(m, async () => {
      this.#refusePlugins(m);
      const name = m.subject.split(".")[3] ?? "";
      if (!isQueryName(name)) throw new RoseyError("VALIDATION_FAILED", `Unknown query '${name}'`);
      return runQuery(this.#db, name, m.envelope.data);
    });
  }

  async migrate(m: BusMessage): Promise<void> {
    await this.#answer(m, async () => {
      this.#refusePlugins(m);
      const [, , , plugin = "", action = ""] = m.subject.split(".");
      if (!(MIGRATE_ACTIONS as readonly string[]).includes(action)) {
        throw new RoseyError(
          "VALIDATION_FAILED",
          `Unknown migrate action '${action}': one of ${MIGRATE_ACTIONS.join(", ")}`,
        );
      }
      if (action === "purge") return this.#purge(m, plugin);
      const parsed = migrateRequest.safeParse(m.envelope.data ?? {});
      if (!parsed.success) {
        throw new RoseyError(
          "VALIDATION_FAILED",
          `Invalid migrate request: ${describeProblem(parsed.error)}`,
        );
      }
      const set = pluginMigrationSet(this.#options.config.plugins.directory, plugin, this.#db);
      const runner = new MigrationRunner(this.#db, {
        actor: m.envelope.source,
        lockTimeoutMs: this.#options.lockTimeoutMs,
      });
      const run: RunOptions = {
        toVersion: parsed.data.to_version,
        count: parsed.data.count,
        dryRun: parsed.data.dry_run,
      };
      if (action === "status") return runner.status(set);
      const result = action === "apply" ? await runner.apply(set, run) : await runner.rollback(set, run);
      this.#storage.invalidateTables();
      this.#owners.invalidate();
      if (!result.dryRun && result.versions.length) {
        this.#log.info(
          { plugin, action, versions: result.versions, by: m.envelope.source },
          "plugin migrations run",
        );
      }
      return result;
    });
  }

  /** Needs no plugin folder (it is for plugins whose folder is gone), and no clash check: it is the way out. */
  async #purge(m: BusMessage, plugin: string): Promise<unknown> {
    const parsed = purgeRequest.safeParse(m.envelope.data ?? {});
    if (!parsed.success) {
      throw new RoseyError("VALIDATION_FAILED", `Invalid purge request: ${describeProblem(parsed.error)}`);
    }
    const result = await purgePlugin(this.#db, plugin, {
      config: this.#options.config,
      actor: m.envelope.source,
      yes: parsed.data.yes,
      lockTimeoutMs: this.#options.lockTimeoutMs,
    });
    if (!result.dryRun) {
      this.#storage.invalidateTables();
      this.#owners.invalidate();
      this.#log.info(
        {
          plugin,
          tables: result.tables,
          records: result.records,
          migrations: result.migrations,
          by: m.envelope.source,
        },
        "plugin data purged",
      );
    }
    return result;
  }

  #refusePlugins(m: BusMessage): void {
    const plugin = pluginOfSource(m.envelope.source);
    if (plugin) {
      this.#violation(m, plugin, "plugins may only use rosey.db.kv.*");
      throw new RoseyError(
        "PERMISSION_DENIED",
        `Cannot answer '${m.subject}' for plugin '${plugin}': plugins may only use rosey.db.kv.*`,
      );
    }
  }

  #violation(m: BusMessage, plugin: string | undefined, reason: string): void {
    try {
      this.#bus.publish(SUBJECTS.securityViolation, {
        plugin: plugin ?? m.envelope.source,
        operation: "request",
        subject: m.subject,
        capability: "storage",
        reason,
      });
    } catch (err) {
      this.#log.warn({ err: errorMessage(err) }, "cannot publish violation");
    }
    this.#log.warn({ source: m.envelope.source, subject: m.subject, reason }, "refused database request");
  }

  async #answer(m: BusMessage, work: () => Promise<unknown>): Promise<void> {
    await this.#reply(m, async () => ({ data: await work() }));
  }

  /** Answers `m` with what `work` gives or throws; resolves with what the answer says. */
  async #reply(m: BusMessage, work: () => Promise<Success>): Promise<StorageOutcome> {
    let reply: DbReply<unknown>;
    try {
      const { data, truncated } = await work();
      reply = truncated
        ? { success: true, data: data ?? null, truncated }
        : { success: true, data: data ?? null };
    } catch (err) {
      if (isRoseyError(err)) {
        reply = { success: false, error: { code: err.code, message: err.message } };
      } else if (isStatementTimeout(err)) {
        reply = {
          success: false,
          error: {
            code: "QUERY_TIMEOUT",
            message: `Cannot answer '${m.subject}' as a statement may run for at most ${this.#db.statementTimeoutMs} ms ('database.statementTimeoutMs'): the database cancelled it`,
          },
        };
      } else {
        this.#log.error({ err, subject: m.subject }, "database request failed");
        reply = {
          success: false,
          error: {
            code: "INTERNAL",
            message: `Database request on '${m.subject}' failed: ${errorMessage(err)}`,
          },
        };
      }
    }
    return this.#send(m, reply);
  }

  /** Bytes a query's records may take in a reply. */
  #replyBudget(): number {
    return Math.max(0, this.#maxPayload() - REPLY_HEADROOM_BYTES);
  }

  #maxPayload(): number {
    // The connected server's limit, which an external NATS may set differently from ours.
    return this.#bus.connection.info?.max_payload ?? NATS_DEFAULT_MAX_PAYLOAD;
  }

  /**
   * nats.js refuses a message over the server's `max_payload` by throwing before anything is sent; left
   * at that, the requester (a plugin's storage call) would wait out its whole timeout for an answer that
   * never comes. It gets PAYLOAD_TOO_LARGE at once instead.
   */
  #send(m: BusMessage, reply: DbReply<unknown>): StorageOutcome {
    const outcome = reply.success ? "ok" : reply.error.code;
    if (!m.replyTo) return outcome;
    try {
      m.respond(reply);
      return outcome;
    } catch (err) {
      this.#log.warn(
        { err: errorMessage(err), subject: m.subject, source: m.envelope.source },
        "cannot send database reply",
      );
      if ((err as { code?: unknown }).code !== "MAX_PAYLOAD_EXCEEDED") return outcome;
    }
    try {
      m.respond({
        success: false,
        error: {
          code: "PAYLOAD_TOO_LARGE",
          message: `Cannot answer '${m.subject}' as the reply is larger than the bus's message limit (${this.#maxPayload()} bytes): ask for fewer or smaller records`,
        },
      } satisfies DbReply<never>);
    } catch (err) {
      this.#log.warn({ err: errorMessage(err), subject: m.subject }, "cannot send database error reply");
    }
    return "PAYLOAD_TOO_LARGE";
  }
}

/** What a handler answers with: `data`, and for kv `query` whether records were left out to fit. */
interface Success {
  data: unknown;
  truncated?: true;
}

/** nats-server's own default `max_payload`, for the moment before the server's INFO is known. */
const NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/**
 * Room left for the envelope around a query's records: its fields are bounded (id, source and
 * correlationId at most 128 characters, the inbox subject 256), so a few KiB even if every character is
 * escaped; the rest of the headroom is margin.
 */
const REPLY_HEADROOM_BYTES = 16 * 1024;

async function autoMigrate(db: Database, options: DatabaseServiceOptions, log: Logger): Promise<void> {
  let plugins: DiscoveredPlugin[];
  try {
    // Only accepted plugins: discovery has already refused those whose table prefixes overlap. One that
    // overlaps the tables of a removed plugin is refused by the runner (logged below).
    plugins = discoverPlugins(options.config.plugins.directory).plugins;
  } catch (err) {
    log.warn({ err: errorMessage(err) }, "cannot list plugins for their migrations");
    return;
  }
  const runner = new MigrationRunner(db, { actor: "db:auto", lockTimeoutMs: options.lockTimeoutMs });
  for (const { manifest, dir } of plugins) {
    const plugin = manifest.name;
    // A folder's SQL runs unasked only for a plugin the operator runs with storage: merely installing a
    // plugin (disabled, or without the grant) must not let its migrations touch the database.
    // `rosey migrate <plugin> apply` still applies any plugin's, as the operator's explicit choice.
    if (!isPluginEnabled(options.config, plugin)) continue;
    if (!computeGrants(manifest, options.config).effective.includes("storage")) {
      if (existsSync(path.join(dir, "migrations")))
        log.warn(
          { plugin },
          "plugin migrations not applied: the plugin is not granted storage (grant it, or run `rosey migrate` yourself)",
        );
      continue;
    }
    try {
      const set = loadPluginMigrations(plugin, dir, db.engine);
      if (set.migrations.length === 0) continue;
      const result = await runner.apply(set, {});
      if (result.versions.length)
        log.info({ plugin, versions: result.versions }, "applied plugin migrations");
    } catch (err) {
      log.error(
        { plugin, code: isRoseyError(err) ? err.code : undefined, err: errorMessage(err) },
        "plugin migrations not applied",
      );
    }
  }
}

/**
 * Loads `<pluginsDir>/<plugin>/migrations`.
 * @throws {RoseyError} NOT_FOUND when the plugin folder does not exist; PLUGIN_PREFIX_CLASH when its table
 * prefix overlaps another plugin's in the folder (its migrations could touch that plugin's tables).
 */
export function pluginMigrationSet(
  pluginsDir: string,
  plugin: string,
  db: Pick<Database, "engine">,
): MigrationSet {
  if (!PLUGIN_NAME.test(plugin)) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Cannot migrate ${JSON.stringify(plugin)} as plugin names must match ${PLUGIN_NAME}`,
    );
  }
  const dir = path.join(pluginsDir, plugin);
  if (!existsSync(path.join(dir, "plugin.json"))) {
    throw new RoseyError(
      "NOT_FOUND",
      `Cannot migrate '${plugin}': no plugin folder with a plugin.json at ${dir}`,
    );
  }
  // Discovery refuses such a plugin at start, but a migrate request names the plugin directly.
  const clash = prefixClashOf(pluginsDir, plugin);
  if (clash) throw clash;
  return loadPluginMigrations(plugin, dir, db.engine);
}
