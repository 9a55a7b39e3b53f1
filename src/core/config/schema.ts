import { z } from "zod";
import { LOG_LEVELS } from "../logger.js";
import { PLUGIN_NAME } from "../subjects.js";

/**
 * Config v2 (JSON or YAML). Every field has its default here, in one place; `loadConfig` validates,
 * applies env overrides and freezes the result.
 */

const consolePlatform = z.strictObject({ type: z.literal("console") });

const cytubePlatform = z.strictObject({
  type: z.literal("cytube"),
  /** Base URL of the CyTube site, e.g. `https://cytu.be`. */
  server: z.url(),
  channel: z.string().regex(/^[\w-]{1,30}$/, "must be 1-30 letters, digits, '_' or '-'"),
  username: z.string().min(1).max(20).optional(),
  password: z.string().min(1).optional(),
  /** Name of an environment variable holding the account password, so it stays out of the file. */
  password_env: z.string().min(1).optional(),
  channel_password: z.string().min(1).optional(),
  rejoin_on_kick: z.boolean().default(true),
  rejoin_on_ban: z.boolean().default(false),
});

/**
 * A platform whose connector runs outside this process (its own service, another language, the bench's
 * load generator) and speaks only NATS. Nothing is started for it here; declaring it tells `rosey start`
 * that a platform exists, so the console connector does not take stdin, and the core runs until stopped.
 */
const externalPlatform = z.strictObject({
  type: z.literal("external"),
  /** The `platform` its connector puts in the events it publishes. */
  name: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, "must be 1-32 lowercase letters, digits, '_' or '-'"),
});

export const platformSchema = z.discriminatedUnion("type", [
  consolePlatform,
  cytubePlatform,
  externalPlatform,
]);
export type PlatformConfig = z.infer<typeof platformSchema>;
export type CytubePlatformConfig = z.infer<typeof cytubePlatform>;

/** A grant entry: a capability name (`chat.send`) or a group (`basic`, `moderator`, `admin`). */
const grantName = z
  .string()
  .regex(/^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*$/, "must be a capability or group name");

const limitsSchema = z.strictObject({
  memoryMb: z.number().int().min(8).max(1024).optional(),
  handlerTimeoutMs: z.number().int().min(10).max(600_000).optional(),
  publishPerSecond: z.number().int().min(1).max(100_000).optional(),
});

const pluginEntrySchema = z.strictObject({
  enabled: z.boolean().default(true),
  grants: z.array(grantName).default([]),
  config: z.record(z.string(), z.unknown()).default({}),
  /** Operator overrides; still bounded by `sandbox.maxLimits`. */
  limits: limitsSchema.optional(),
});
export type PluginEntryConfig = z.infer<typeof pluginEntrySchema>;

export const configSchema = z.strictObject({
  version: z.literal(2).default(2),
  /** Where the embedded nats-server's JetStream store and the SQLite file live. */
  dataDir: z.string().min(1).default("data"),
  platforms: z.array(platformSchema).default([]),
  nats: z
    .strictObject({
      /** Connect here instead of starting an embedded nats-server. */
      url: z.string().min(1).optional(),
      /** nats-server binary for the embedded server. */
      serverBin: z.string().min(1).default("nats-server"),
      connectTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
      maxPayloadBytes: z
        .number()
        .int()
        .min(1024)
        .max(64 * 1024 * 1024)
        .default(1024 * 1024),
    })
    .prefault({}),
  database: z
    .strictObject({
      url: z.string().min(1).optional(),
      path: z.string().min(1).optional(),
      enabled: z.boolean().default(true),
      /**
       * Ceiling on a plugin's storage quota: a manifest's `storage.quota` (and the default, 10,000 records
       * and 10 MiB) is capped to it, with a warning naming what was asked. Bytes are UTF-8 of keys and values.
       */
      maxQuota: z
        .strictObject({
          records: z.number().int().min(1).max(100_000_000).default(100_000),
          bytes: z
            .number()
            .int()
            .min(1)
            .max(2 ** 40)
            .default(100 * 1024 * 1024),
        })
        .prefault({}),
      /**
       * On PostgreSQL, how long one statement of the database service's storage requests, queries and
       * ingestion may run (waiting for locks included) before the server cancels it; the plugin is answered
       * QUERY_TIMEOUT. Migrations run without it. SQLite cannot interrupt a statement: no effect there.
       */
      statementTimeoutMs: z.number().int().min(100).max(600_000).default(5_000),
      /** How the core checks that its database child still serves (db/liveness.ts). */
      liveness: z
        .strictObject({
          /** Time between the starts of two pings. */
          intervalMs: z.number().int().min(1_000).max(600_000).default(5_000),
          /** How long a ping waits for its answer; less than `intervalMs`. */
          timeoutMs: z.number().int().min(100).max(300_000).default(2_000),
          /** Missed pings in a row after which the child is killed and restarted. */
          misses: z.number().int().min(1).max(100).default(3),
        })
        .refine((l) => l.timeoutMs < l.intervalMs, {
          path: ["timeoutMs"],
          message:
            "must be less than 'database.liveness.intervalMs' (a ping would still be waiting when the next one is due)",
        })
        .prefault({}),
    })
    .prefault({}),
  plugins: z
    .strictObject({
      directory: z.string().min(1).default("plugins"),
      /** When set, only these plugins are loaded; otherwise every plugin folder is. */
      enabled: z.array(z.string().regex(PLUGIN_NAME)).optional(),
      /** Grants every plugin gets in addition to its own entry's. Default deny: empty. */
      defaultGrants: z.array(grantName).default([]),
      entries: z
        .record(
          z.string().regex(PLUGIN_NAME, "plugin names are lowercase, start with a letter"),
          pluginEntrySchema,
        )
        .default({}),
    })
    .prefault({}),
  router: z
    .strictObject({
      prefix: z.string().min(1).max(3).default("!"),
      timeoutMs: z.number().int().min(50).max(120_000).default(5_000),
      /** Commands in flight beyond which new ones are answered "unavailable" at once (memory under a flood). */
      maxInFlight: z.number().int().min(1).max(1_000_000).default(5_000),
      defaultCooldownMs: z.number().int().min(0).max(3_600_000).default(0),
      /**
       * Which plugin answers a command word (name or alias) that several enabled plugins claim. Without an
       * entry such a word is answered by none of them: installing a plugin never silently takes a command
       * from another.
       */
      commands: z
        .record(
          z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, "must be a command name"),
          z.string().regex(PLUGIN_NAME, "must be a plugin name"),
        )
        .default({}),
    })
    .prefault({}),
  sandbox: z
    .strictObject({
      /**
       * `process`: plugin workers run in a forked plugin-host process, so an allocation that aborts a
       * whole Node process takes down the host, not the core. `thread`: in the core (trusted setups).
       */
      isolation: z.enum(["process", "thread"]).default("process"),
      /** Off-heap (ArrayBuffer) memory a worker may hold before it is suspended; resourceLimits do not cover it. */
      maxArrayBufferMb: z.number().int().min(1).max(4096).default(64),
      /** Event-loop utilisation above this for `cpuHogSeconds` terminates a worker that hogs CPU while yielding. */
      cpuHogUtilization: z.number().min(0.1).max(1).default(0.9),
      cpuHogSeconds: z.number().min(1).max(600).default(5),
      heartbeatMs: z.number().int().min(50).max(10_000).default(500),
      maxLimits: z
        .strictObject({
          memoryMb: z.number().int().min(8).max(4096).default(256),
          handlerTimeoutMs: z.number().int().min(10).max(600_000).default(30_000),
          publishPerSecond: z.number().int().min(1).max(100_000).default(1_000),
        })
        .prefault({}),
      readyTimeoutMs: z.number().int().min(100).max(60_000).default(5_000),
      maxRestarts: z.number().int().min(0).max(100).default(3),
      restartWindowMs: z.number().int().min(1_000).default(600_000),
      violations: z
        .strictObject({
          threshold: z.number().int().min(1).default(10),
          windowMs: z.number().int().min(100).default(10_000),
          /** Suspend at once on an attempt at the core's channels, a `>` subscription or a malformed message. */
          suspendOnSevere: z.boolean().default(true),
        })
        .prefault({}),
    })
    .prefault({}),
  monitoring: z
    .strictObject({
      /** How often each service publishes its metrics on `rosey.monitoring.metrics`; 0 = only on request. */
      metricsIntervalMs: z
        .number()
        .int()
        .refine((ms) => ms === 0 || (ms >= 1_000 && ms <= 3_600_000), "must be 0 (off) or 1000 to 3600000 ms")
        .default(15_000),
    })
    .prefault({}),
  logging: z
    .strictObject({
      level: z.enum(LOG_LEVELS).default("info"),
      pretty: z.boolean().optional(),
    })
    .prefault({}),
});

export type RoseyConfig = z.infer<typeof configSchema>;
export type RoseyConfigInput = z.input<typeof configSchema>;
