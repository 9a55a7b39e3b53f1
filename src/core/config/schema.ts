import { z } from "zod";
import { LOG_LEVELS } from "../logger.js";
import { PLUGIN_NAME } from "../subjects.js";

/**
 * Config v2 (JSON or YAML). Every field has its default here, in one place; `loadConfig` validates,
 * applies env overrides and freezes the result. Every key carries its description (`.describe()`), from
 * which `npm run docs:config` renders `schemas/config.schema.json` and `docs/configuration.md`.
 */

const consolePlatform = z
  .strictObject({ type: z.literal("console").describe("Connector kind.") })
  .describe("The console connector: each line on stdin is a chat message, chat actions are printed.");

const cytubePlatform = z
  .strictObject({
    type: z.literal("cytube").describe("Connector kind."),
    server: z
      .url()
      .describe("Base URL of the CyTube site, e.g. `https://cytu.be`; the socket server is found from it."),
    channel: z
      .string()
      .regex(/^[\w-]{1,30}$/, "must be 1-30 letters, digits, '_' or '-'")
      .describe("The channel to join."),
    username: z
      .string()
      .min(1)
      .max(20)
      .optional()
      .describe(
        "Name to log in as: a registered account with a password, else a guest. Unset: anonymous, read-only " +
          "(every action is refused).",
      ),
    password: z
      .string()
      .min(1)
      .optional()
      .describe("The account's password (never logged); `password_env` keeps it out of the file."),
    password_env: z
      .string()
      .min(1)
      .optional()
      .describe("Name of an environment variable holding the account password, so it stays out of the file."),
    channel_password: z.string().min(1).optional().describe("Password of a password-protected channel."),
    rejoin_on_kick: z
      .boolean()
      .default(true)
      .describe(
        "Rejoin after a kick. Transient kicks (channel reloading, too many connections) always rejoin.",
      ),
    rejoin_on_ban: z.boolean().default(false).describe("Rejoin after a ban."),
  })
  .describe("A CyTube channel (docs/cytube.md).");

const externalPlatform = z
  .strictObject({
    type: z.literal("external").describe("Connector kind."),
    name: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,31}$/, "must be 1-32 lowercase letters, digits, '_' or '-'")
      .describe("The `platform` its connector puts in the events it publishes."),
  })
  .describe(
    "A platform whose connector runs outside this process (its own service, another language, the bench's " +
      "load generator) and speaks only NATS. Nothing is started for it here; declaring it tells `rosey start` " +
      "that a platform exists, so the console connector does not take stdin, and the core runs until stopped.",
  );

export const platformSchema = z.discriminatedUnion("type", [
  consolePlatform,
  cytubePlatform,
  externalPlatform,
]);
export type PlatformConfig = z.infer<typeof platformSchema>;
export type CytubePlatformConfig = z.infer<typeof cytubePlatform>;

const grantName = z
  .string()
  .regex(/^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*$/, "must be a capability or group name")
  .describe("A capability name (`chat.send`) or a group (`basic`, `moderator`, `admin`).");

const limitsSchema = z
  .strictObject({
    memoryMb: z
      .number()
      .int()
      .min(8)
      .max(1024)
      .optional()
      .describe("Worker heap cap (V8 old generation), MB."),
    handlerTimeoutMs: z
      .number()
      .int()
      .min(10)
      .max(600_000)
      .optional()
      .describe("How long a command or event handler may run, ms."),
    publishPerSecond: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .optional()
      .describe("Token-bucket rate of publishes, requests and subscriptions (burst 2×)."),
  })
  .describe("Operator overrides of the manifest's `limits`; still bounded by `sandbox.maxLimits`.");

const pluginEntrySchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe("`false` keeps the plugin from loading."),
    grants: z
      .array(grantName)
      .default([])
      .describe(
        "What this plugin is granted, besides `plugins.defaultGrants`. Effective = requested ∩ granted.",
      ),
    config: z
      .record(z.string(), z.unknown())
      .default({})
      .describe(
        "The plugin's own config block (`ctx.config`), checked against its manifest's `configSchema`.",
      ),
    limits: limitsSchema.optional(),
  })
  .describe("One plugin's settings.");
export type PluginEntryConfig = z.infer<typeof pluginEntrySchema>;

export const configSchema = z.strictObject({
  version: z
    .literal(2)
    .default(2)
    .describe("Config format version. `rosey config migrate` converts a Python Rosey-Robot config.json."),
  dataDir: z
    .string()
    .min(1)
    .default("data")
    .describe("Where the embedded nats-server's JetStream store and the SQLite file live."),
  platforms: z
    .array(platformSchema)
    .default([])
    .describe("The chat platforms to connect, one entry per channel. None: the console connector."),
  nats: z
    .strictObject({
      url: z
        .string()
        .min(1)
        .optional()
        .describe(
          "Connect here instead of starting an embedded nats-server: `nats://[user:password@]host[:port]`, " +
            "a comma-separated list for a cluster.",
        ),
      serverBin: z
        .string()
        .min(1)
        .default("nats-server")
        .describe("nats-server binary for the embedded server: a name looked up on PATH, or a path."),
      connectTimeoutMs: z
        .number()
        .int()
        .min(100)
        .max(120_000)
        .default(10_000)
        .describe("How long each part may take to connect to NATS."),
      maxPayloadBytes: z
        .number()
        .int()
        .min(1024)
        .max(64 * 1024 * 1024)
        .default(1024 * 1024)
        .describe(
          "Largest message the embedded nats-server accepts (its `max_payload`); no effect with `url`.",
        ),
    })
    .prefault({})
    .describe("The message bus: an embedded nats-server (the default) or an existing one."),
  database: z
    .strictObject({
      url: z
        .string()
        .min(1)
        .optional()
        .describe("A `postgres://` (or `postgresql://`) URL selects PostgreSQL; a `file:` URL, SQLite."),
      path: z
        .string()
        .min(1)
        .optional()
        .describe("The SQLite file, when no `url` is set. Default: one in `dataDir`."),
      enabled: z
        .boolean()
        .default(true)
        .describe("`false`: `rosey start` runs no database service (no plugin storage, no audit log)."),
      maxQuota: z
        .strictObject({
          records: z
            .number()
            .int()
            .min(1)
            .max(100_000_000)
            .default(100_000)
            .describe("Most records any plugin may keep."),
          bytes: z
            .number()
            .int()
            .min(1)
            .max(2 ** 40)
            .default(100 * 1024 * 1024)
            .describe("Most bytes any plugin may keep."),
        })
        .prefault({})
        .describe(
          "Ceiling on a plugin's storage quota: a manifest's `storage.quota` (and the default, 10,000 records " +
            "and 10 MiB) is capped to it, with a warning naming what was asked. Bytes are UTF-8 of keys and values.",
        ),
      statementTimeoutMs: z
        .number()
        .int()
        .min(100)
        .max(600_000)
        .default(5_000)
        .describe(
          "On PostgreSQL, how long one statement of the database service's storage requests, queries and " +
            "ingestion may run (waiting for locks included) before the server cancels it; the plugin is answered " +
            "QUERY_TIMEOUT. Migrations run without it. SQLite cannot interrupt a statement: no effect there.",
        ),
      liveness: z
        .strictObject({
          intervalMs: z
            .number()
            .int()
            .min(1_000)
            .max(600_000)
            .default(5_000)
            .describe("Time between the starts of two pings."),
          timeoutMs: z
            .number()
            .int()
            .min(100)
            .max(300_000)
            .default(2_000)
            .describe("How long a ping waits for its answer; less than `intervalMs`."),
          misses: z
            .number()
            .int()
            .min(1)
            .max(100)
            .default(3)
            .describe("Missed pings in a row after which the child is killed and restarted."),
        })
        .refine((l) => l.timeoutMs < l.intervalMs, {
          path: ["timeoutMs"],
          message:
            "must be less than 'database.liveness.intervalMs' (a ping would still be waiting when the next one is due)",
        })
        .prefault({})
        .describe("How the core checks that its database child still serves (db/liveness.ts)."),
    })
    .prefault({})
    .describe(
      "The database service, a child process of `rosey start`: SQLite in `dataDir` unless a URL selects " +
        "PostgreSQL (docs/database.md).",
    ),
  plugins: z
    .strictObject({
      directory: z.string().min(1).default("plugins").describe("The folder holding one folder per plugin."),
      enabled: z
        .array(z.string().regex(PLUGIN_NAME))
        .optional()
        .describe("When set, only these plugins are loaded; otherwise every plugin folder is."),
      defaultGrants: z
        .array(grantName)
        .default([])
        .describe("Grants every plugin gets in addition to its own entry's. Default deny: empty."),
      entries: z
        .record(
          z.string().regex(PLUGIN_NAME, "plugin names are lowercase, start with a letter"),
          pluginEntrySchema,
        )
        .default({})
        .describe(
          "Settings per plugin, by name. A plugin without an entry still loads, with `defaultGrants` only.",
        ),
    })
    .prefault({})
    .describe("Which plugins load and what each is granted (docs/permissions.md)."),
  router: z
    .strictObject({
      prefix: z.string().min(1).max(3).default("!").describe("What starts a command in chat: `!roll 2d6`."),
      timeoutMs: z
        .number()
        .int()
        .min(50)
        .max(120_000)
        .default(5_000)
        .describe("How long a plugin has to answer a command."),
      maxInFlight: z
        .number()
        .int()
        .min(1)
        .max(1_000_000)
        .default(5_000)
        .describe(
          'Commands in flight beyond which new ones are answered "unavailable" at once (memory under a flood).',
        ),
      defaultCooldownMs: z
        .number()
        .int()
        .min(0)
        .max(3_600_000)
        .default(0)
        .describe("Cooldown per user and command when the plugin's manifest sets no `cooldownMs`; 0: none."),
      commands: z
        .record(
          z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, "must be a command name"),
          z.string().regex(PLUGIN_NAME, "must be a plugin name"),
        )
        .default({})
        .describe(
          "Which plugin answers a command word (name or alias) that several enabled plugins claim. Without an " +
            "entry such a word is answered by none of them: installing a plugin never silently takes a command " +
            "from another.",
        ),
    })
    .prefault({})
    .describe("The command router: chat lines starting with `prefix` become commands for plugins."),
  sandbox: z
    .strictObject({
      isolation: z
        .enum(["process", "thread"])
        .default("process")
        .describe(
          "`process`: plugin workers run in a forked plugin-host process, so an allocation that aborts a " +
            "whole Node process takes down the host, not the core. `thread`: in the core (trusted setups).",
        ),
      maxArrayBufferMb: z
        .number()
        .int()
        .min(1)
        .max(4096)
        .default(64)
        .describe(
          "Off-heap (ArrayBuffer) memory a worker may hold before it is suspended; resourceLimits do not cover it.",
        ),
      cpuHogUtilization: z
        .number()
        .min(0.1)
        .max(1)
        .default(0.9)
        .describe(
          "Event-loop utilisation above this for `cpuHogSeconds` terminates a worker that hogs CPU while yielding.",
        ),
      cpuHogSeconds: z
        .number()
        .min(1)
        .max(600)
        .default(5)
        .describe(
          "How long utilisation must stay above `cpuHogUtilization` before the worker is terminated.",
        ),
      heartbeatMs: z
        .number()
        .int()
        .min(50)
        .max(10_000)
        .default(500)
        .describe(
          "Ping interval to each worker. No pong and no finished command for max(4 × heartbeatMs, " +
            "handlerTimeoutMs): its thread is blocked, the worker is terminated and restarts.",
        ),
      maxLimits: z
        .strictObject({
          memoryMb: z
            .number()
            .int()
            .min(8)
            .max(4096)
            .default(256)
            .describe("Highest `memoryMb` any plugin gets."),
          handlerTimeoutMs: z
            .number()
            .int()
            .min(10)
            .max(600_000)
            .default(30_000)
            .describe("Highest `handlerTimeoutMs` any plugin gets."),
          publishPerSecond: z
            .number()
            .int()
            .min(1)
            .max(100_000)
            .default(1_000)
            .describe("Highest `publishPerSecond` any plugin gets."),
        })
        .prefault({})
        .describe("Ceilings on every plugin's limits, from its manifest or `plugins.entries.<name>.limits`."),
      readyTimeoutMs: z
        .number()
        .int()
        .min(100)
        .max(60_000)
        .default(5_000)
        .describe("How long a plugin's `start()` may take; past it the plugin is `failed`."),
      maxRestarts: z
        .number()
        .int()
        .min(0)
        .max(100)
        .default(3)
        .describe(
          "Restarts (with backoff) after crashes within `restartWindowMs`; one more crash and the plugin is " +
            "`failed` until an operator resumes it or Rosey restarts.",
        ),
      restartWindowMs: z
        .number()
        .int()
        .min(1_000)
        .default(600_000)
        .describe("The window `maxRestarts` counts in."),
      violations: z
        .strictObject({
          threshold: z
            .number()
            .int()
            .min(1)
            .default(10)
            .describe("Denied operations within `windowMs` that suspend the plugin."),
          windowMs: z.number().int().min(100).default(10_000).describe("The window `threshold` counts in."),
          suspendOnSevere: z
            .boolean()
            .default(true)
            .describe(
              "Suspend at once on an attempt at the core's channels, a `>` subscription or a malformed message.",
            ),
        })
        .prefault({})
        .describe("When the permission gate's refusals suspend a plugin."),
    })
    .prefault({})
    .describe("How plugin workers are isolated, bounded and stopped (docs/plugins.md, docs/security.md)."),
  monitoring: z
    .strictObject({
      metricsIntervalMs: z
        .number()
        .int()
        .refine((ms) => ms === 0 || (ms >= 1_000 && ms <= 3_600_000), "must be 0 (off) or 1000 to 3600000 ms")
        .default(15_000)
        .describe(
          "How often each service publishes its metrics on `rosey.monitoring.metrics`; 0 = only on request.",
        ),
    })
    .prefault({})
    .describe("Health and metrics on the bus (docs/operations.md)."),
  logging: z
    .strictObject({
      level: z.enum(LOG_LEVELS).default("info").describe("The least severe level logged."),
      pretty: z
        .boolean()
        .optional()
        .describe("Human-readable lines instead of JSON. Unset: pretty when the log goes to a terminal."),
    })
    .prefault({})
    .describe("The log (pino), on stderr."),
});

export type RoseyConfig = z.infer<typeof configSchema>;
export type RoseyConfigInput = z.input<typeof configSchema>;
