import type { RoseyConfig } from "../config/schema.js";
import type { Engine } from "../db/connection.js";
import { errorMessage } from "../errors.js";
import { bundlePlugin } from "../plugins/bundle.js";
import { CAPABILITIES, isCapability } from "../plugins/capabilities.js";
import { computeGrants, type EffectiveGrants } from "../plugins/grants.js";
import { type ResolvedLimits, resolveLimits } from "../plugins/limits.js";
import { discoverPlugins, type PluginManifest, sha256 } from "../plugins/manifest.js";
import { redactUrl } from "../redact-url.js";
import { patternCovers, subjectMatches } from "../subjects.js";
import {
  type MigrationLedger,
  type MigrationsAudit,
  migrationsAudit,
  notAutoApplied,
  type StorageAudit,
  storageAudit,
} from "./data-access.js";
import { pluginFindings } from "./findings.js";
import type { PluginHistory } from "./history.js";
import { fetchLiveStatus, type LiveAudit, type LiveStatus, liveAudit } from "./live.js";

/**
 * `rosey audit`: for every plugin in the plugins directory, what it asks for, what the operator granted
 * and through which config entry (what it was granted without asking too), what it can therefore reach on
 * the bus and what its manifest subscribes to, its limits, its storage and migrations (data-access.ts),
 * and — when they can be read — its live state and how the running plugin differs from disk and config
 * (live.ts), its all-time history of violations and lifecycle events (history.ts), and how far its
 * migrations are applied. Works offline from the config and the plugins directory; the running platform
 * (over NATS) and the database (audit log, migration ledger) are optional. The JSON form is `AuditReport`,
 * documented by `schemas/audit-report.schema.json`; report-text.ts prints the human form.
 */

export const AUDIT_REPORT_VERSION = 3;

export type AuditLimits = ResolvedLimits;

export interface Grant {
  capability: string;
  /** The config entries that grant it (`plugins.entries.dice.grants: moderator`). */
  via: string[];
}

/** A manifest `subscribe` pattern, and the granted pattern that lets the worker take it (null: refused). */
export interface ManifestSubscription {
  pattern: string;
  /** `capability` is null for the plugin's own namespace. */
  coveredBy: { subject: string; capability: string | null } | null;
  /** Private subjects it matches that are not delivered to the plugin (their capability is not effective). */
  withheld: string[];
}

export interface PluginAudit {
  name: string;
  version: string;
  directory: string;
  /** False when config disables it (`enabled: false`, or not in `plugins.enabled`). */
  enabled: boolean;
  /** sha256 of the bundled code the sandbox would load; null when it cannot be bundled. */
  codeSha256: string | null;
  loadError: string | null;
  requested: string[];
  /** Requested capabilities the config grants. */
  granted: Grant[];
  /** Granted but not requested: not effective now, effective as soon as a manifest update requests them. */
  grantedNotRequested: Grant[];
  effective: string[];
  /** Requested but not granted: the plugin runs without these. */
  missing: string[];
  /** Requested names that are not capabilities at all. */
  unknown: string[];
  /**
   * NATS patterns the effective grants open, the plugin's own namespace first; `withheld`: private subjects
   * (`rosey.events.pm`) a subscribe pattern matches that the gate does not deliver without their capability.
   */
  subjects: { publish: string[]; subscribe: string[]; request: string[]; withheld: string[] };
  /** The manifest's `subscribe` list: what the plugin listens to from its start. */
  manifestSubscribe: ManifestSubscription[];
  limits: AuditLimits;
  storage: StorageAudit;
  migrations: MigrationsAudit;
  /** Live state from `rosey.monitoring.plugins`, or "not running" / "disabled". */
  state: string;
  /** When the platform answered for this plugin. */
  live: LiveAudit | null;
  /** From the audit log; null when no audit log could be read. */
  history: PluginHistory | null;
}

export interface AuditReport {
  version: typeof AUDIT_REPORT_VERSION;
  generatedAt: string;
  configFile: string | null;
  pluginsDirectory: string;
  platform: { url: string | null; reachable: boolean; error: string | null };
  auditLog: { available: boolean; source: string | null; error: string | null };
  plugins: PluginAudit[];
  rejected: Array<{ directory: string; error: string }>;
  /** What `--strict` checks (findings.ts): the strict findings' messages. */
  strict: { ok: boolean; problems: string[] };
}

/** Reads the audit log (history.ts) and the migration ledger of one database. */
export interface AuditLogReader {
  readonly source: string;
  history(plugin: string): Promise<PluginHistory>;
  /** The same database's migration ledger. */
  readonly ledger: MigrationLedger;
  close(): Promise<void>;
}

export interface AuditOptions {
  config: Readonly<RoseyConfig>;
  configFile?: string | undefined;
  /** NATS URL of a running platform; when absent the platform is reported as not running. */
  natsUrl?: string | undefined;
  /** How long to wait for the platform. @default 1500 */
  timeoutMs?: number;
  /** Opens the audit log; undefined, or a reader that fails, means "no audit log". */
  openAuditLog?: () => Promise<AuditLogReader | undefined>;
  /** Engine whose rules migrations are validated by when no database is open. @default "sqlite" */
  engine?: Engine;
  now?: () => Date;
}

function grantList(grants: EffectiveGrants, requested: boolean): Grant[] {
  return [...grants.granted.entries()]
    .filter(([capability]) => grants.requested.includes(capability) === requested)
    .map(([capability, via]) => ({ capability, via: [...via] }));
}

/** Private subjects `pattern` matches that the gate filters out of what it delivers (gate.ts `subscribe`). */
const withheldFrom = (grants: EffectiveGrants, pattern: string) =>
  grants.withheld.filter((subject) => subjectMatches(pattern, subject));

/**
 * As the gate checks the manifest's subscriptions at start: each must be covered by a granted pattern, and
 * a private subject asked for by name needs its own capability.
 */
function manifestSubscriptions(manifest: PluginManifest, grants: EffectiveGrants): ManifestSubscription[] {
  return (manifest.subscribe ?? []).map((pattern) => {
    const subject = grants.withheld.includes(pattern)
      ? undefined
      : grants.subscribe.find((granted) => patternCovers(granted, pattern));
    if (subject === undefined) return { pattern, coveredBy: null, withheld: [] };
    const capability = grants.effective.find(
      (c) => isCapability(c) && CAPABILITIES[c].subscribe.includes(subject),
    );
    return {
      pattern,
      coveredBy: { subject, capability: capability ?? null },
      withheld: withheldFrom(grants, pattern),
    };
  });
}

export async function buildAuditReport(options: AuditOptions): Promise<AuditReport> {
  const { config } = options;
  const timeoutMs = options.timeoutMs ?? 1_500;
  const { plugins, rejected } = discoverPlugins(config.plugins.directory);

  let live: Map<string, LiveStatus> | undefined;
  const platform: AuditReport["platform"] = {
    url: options.natsUrl ? redactUrl(options.natsUrl) : null,
    reachable: false,
    error: null,
  };
  if (options.natsUrl) {
    const answer = await fetchLiveStatus(options.natsUrl, timeoutMs);
    if ("error" in answer) platform.error = answer.error;
    else {
      platform.reachable = true;
      live = new Map(answer.statuses.map((s) => [s.name, s]));
    }
  } else {
    platform.error =
      "no running platform found: no NATS_URL or nats.url, and no embedded nats-server running for this config's dataDir";
  }

  const auditLog: AuditReport["auditLog"] = { available: false, source: null, error: null };
  let reader: AuditLogReader | undefined;
  try {
    reader = await options.openAuditLog?.();
    if (reader) {
      auditLog.available = true;
      auditLog.source = reader.source;
    } else auditLog.error = "no audit log configured or found";
  } catch (err) {
    auditLog.error = errorMessage(err);
  }

  const out: PluginAudit[] = [];
  try {
    for (const discovered of plugins) {
      const { manifest } = discovered;
      const grants = computeGrants(manifest, config);
      const entry = config.plugins.entries[manifest.name];
      const enabled =
        entry?.enabled !== false &&
        (!config.plugins.enabled || config.plugins.enabled.includes(manifest.name));
      let codeSha256: string | null = null;
      let loadError: string | null = null;
      try {
        codeSha256 = sha256(await bundlePlugin(discovered.entryFile, discovered.dir));
      } catch (err) {
        loadError = errorMessage(err);
      }
      const status = live?.get(manifest.name);
      const storage = storageAudit(manifest, grants.effective, config.database.maxQuota);
      let history: PluginHistory | null = null;
      if (reader && auditLog.available) {
        try {
          history = await reader.history(manifest.name);
        } catch (err) {
          auditLog.available = false;
          auditLog.error = errorMessage(err);
        }
      }
      out.push({
        name: manifest.name,
        version: manifest.version,
        directory: discovered.dir,
        enabled,
        codeSha256,
        loadError,
        requested: [...grants.requested],
        granted: grantList(grants, true),
        grantedNotRequested: grantList(grants, false),
        effective: [...grants.effective],
        missing: [...grants.missing],
        unknown: [...grants.unknown],
        subjects: {
          publish: [...grants.publish],
          subscribe: [...grants.subscribe],
          request: [...grants.request],
          withheld: [...new Set(grants.subscribe.flatMap((pattern) => withheldFrom(grants, pattern)))],
        },
        manifestSubscribe: manifestSubscriptions(manifest, grants),
        limits: resolveLimits(config, manifest),
        storage,
        migrations: await migrationsAudit({
          plugin: manifest.name,
          dir: discovered.dir,
          engine: options.engine ?? "sqlite",
          ledger: reader?.ledger,
          notAutoApplied: notAutoApplied(enabled, storage.effective),
        }),
        state: status ? status.state : enabled ? "not running" : "disabled",
        live: status
          ? liveAudit(status, {
              version: manifest.version,
              codeSha256,
              requested: grants.requested,
              effective: grants.effective,
            })
          : null,
        history,
      });
    }
  } finally {
    await reader?.close().catch(() => {});
  }

  // A folder that is no plugin (bad manifest, code that does not build) is code nobody has reviewed the
  // grants of yet: `config check` fails on it too.
  const problems = [
    ...rejected.map((r) => `${r.dir} is not loaded: ${r.error.message}`),
    ...out
      .flatMap(pluginFindings)
      .filter((f) => f.strict)
      .map((f) => f.message),
  ];
  return {
    version: AUDIT_REPORT_VERSION,
    generatedAt: (options.now?.() ?? new Date()).toISOString(),
    configFile: options.configFile ?? null,
    pluginsDirectory: config.plugins.directory,
    platform,
    auditLog,
    plugins: out,
    rejected: rejected.map((r) => ({ directory: r.dir, error: r.error.message })),
    strict: { ok: problems.length === 0, problems },
  };
}
