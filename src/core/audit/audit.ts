import type { RoseyConfig } from "../config/schema.js";
import type { Engine } from "../db/connection.js";
import { errorMessage } from "../errors.js";
import { silentLogger } from "../logger.js";
import { bundlePlugin } from "../plugins/bundle.js";
import { computeGrants } from "../plugins/grants.js";
import { type ResolvedLimits, resolveLimits } from "../plugins/limits.js";
import { discoverPlugins, sha256 } from "../plugins/manifest.js";
import { redactUrl } from "../redact-url.js";
import { SUBJECTS } from "../subjects.js";
import {
  formatMigrations,
  formatStorage,
  type MigrationLedger,
  type MigrationsAudit,
  migrationsAudit,
  notAutoApplied,
  type StorageAudit,
  storageAudit,
} from "./data-access.js";
import { pluginFindings } from "./findings.js";

/**
 * `rosey audit`: for every plugin in the plugins directory, what it asks for, what the operator granted
 * and through which config entry, what it can therefore reach on the bus, its limits, its storage and
 * migrations (data-access.ts), and — when they can be read — its live state, its history of violations and
 * suspensions, and how far its migrations are applied. Works offline from the config and the plugins
 * directory; the running platform (over NATS) and the database (audit log, migration ledger) are optional.
 * The JSON form is `AuditReport`, documented by `schemas/audit-report.schema.json`.
 */

export const AUDIT_REPORT_VERSION = 2;

export type AuditLimits = ResolvedLimits;

/** Most audit-log rows read per plugin; the report says when there were more. */
const HISTORY_LIMIT = 500;

export interface AuditHistory {
  count: number;
  /** True when `count` stopped at the read limit: there may be more. */
  truncated: boolean;
  lastReason: string | null;
  lastAt: string | null;
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
  granted: Array<{ capability: string; via: string[] }>;
  effective: string[];
  /** Requested but not granted: the plugin runs without these. */
  missing: string[];
  /** Requested names that are not capabilities at all. */
  unknown: string[];
  subjects: { publish: string[]; subscribe: string[]; request: string[] };
  limits: AuditLimits;
  storage: StorageAudit;
  migrations: MigrationsAudit;
  /** Live state from `rosey.monitoring.plugins`, or "not running". */
  state: string;
  /** Live figures when the platform answered. */
  live: { restarts: number; violations: number; lastError: string | null; codeSha256: string | null } | null;
  /** From the audit log; null when no audit log could be read. */
  violations: AuditHistory | null;
  suspensions: AuditHistory | null;
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

/** One row of the audit log, as the database service's `audit` query returns it. */
export interface AuditLogRow {
  kind: "violation" | "audit";
  plugin: string | null;
  action: string;
  reason: string | null;
  createdAt: string;
}

/** Reads a plugin's audit-log rows, newest first, at most `limit`. */
export interface AuditLogReader {
  readonly source: string;
  rows(plugin: string, limit: number): Promise<AuditLogRow[]>;
  /** The same database's migration ledger. */
  readonly ledger: MigrationLedger;
  close(): Promise<void>;
}

export interface LiveStatus {
  name: string;
  state: string;
  restarts?: number;
  violations?: number;
  lastError?: string | undefined;
  codeSha256?: string | undefined;
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

/** Limits as the plugin manager resolves them: config entry, else manifest, else default; capped by the maxima. */
function history(rows: AuditLogRow[], truncated: boolean): AuditHistory {
  const last = rows[0];
  return { count: rows.length, truncated, lastReason: last?.reason ?? null, lastAt: last?.createdAt ?? null };
}

/** Asks a running platform for its plugins' states; undefined when it does not answer in time. */
export async function fetchLiveStatus(
  url: string,
  timeoutMs: number,
): Promise<{ statuses: LiveStatus[] } | { error: string }> {
  const { createBus } = await import("../bus.js");
  let bus: Awaited<ReturnType<typeof createBus>> | undefined;
  try {
    bus = await createBus({
      url,
      source: "cli:audit",
      logger: silentLogger(),
      connectTimeoutMs: timeoutMs,
      maxReconnectAttempts: 0,
    });
    const reply = await bus.request<{ plugins?: LiveStatus[] }>(
      SUBJECTS.monitoringPlugins,
      {},
      { timeoutMs },
    );
    return { statuses: Array.isArray(reply.data?.plugins) ? reply.data.plugins : [] };
  } catch (err) {
    return { error: errorMessage(err) };
  } finally {
    await bus?.close().catch(() => {});
  }
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
      let violations: AuditHistory | null = null;
      let suspensions: AuditHistory | null = null;
      if (reader && auditLog.available) {
        try {
          const rows = await reader.rows(manifest.name, HISTORY_LIMIT);
          const truncated = rows.length >= HISTORY_LIMIT;
          violations = history(
            rows.filter((r) => r.kind === "violation"),
            truncated,
          );
          suspensions = history(
            rows.filter((r) => r.kind === "audit" && r.action === "plugin.suspended"),
            truncated,
          );
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
        granted: [...grants.granted.entries()]
          .filter(([capability]) => grants.requested.includes(capability))
          .map(([capability, via]) => ({ capability, via: [...via] })),
        effective: [...grants.effective],
        missing: [...grants.missing],
        unknown: [...grants.unknown],
        subjects: {
          publish: [...grants.publish],
          subscribe: [...grants.subscribe],
          request: [...grants.request],
        },
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
          ? {
              restarts: status.restarts ?? 0,
              violations: status.violations ?? 0,
              lastError: status.lastError ?? null,
              codeSha256: status.codeSha256 ?? null,
            }
          : null,
        violations,
        suspensions,
      });
    }
  } finally {
    await reader?.close().catch(() => {});
  }

  const problems = out
    .flatMap(pluginFindings)
    .filter((f) => f.strict)
    .map((f) => f.message);
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

/** The human form: one block per plugin, the grant difference spelled out. */
export function formatAuditReport(report: AuditReport): string {
  const lines: string[] = [];
  const list = (xs: readonly string[]) => (xs.length ? xs.join(", ") : "—");
  lines.push(
    `Rosey audit — ${report.generatedAt}`,
    `config: ${report.configFile ?? "(embedded defaults)"}   plugins: ${report.pluginsDirectory}`,
    `platform: ${report.platform.reachable ? `reachable at ${report.platform.url}` : `not reachable (${report.platform.error})`}`,
    `audit log: ${report.auditLog.available ? report.auditLog.source : `not read (${report.auditLog.error})`}`,
    "",
  );
  const header = [
    "plugin",
    "version",
    "state",
    "requested",
    "effective",
    "missing",
    "violations",
    "suspensions",
  ];
  const rows = report.plugins.map((p) => [
    p.name,
    p.version,
    p.state,
    String(p.requested.length),
    String(p.effective.length),
    p.missing.length + p.unknown.length ? `${p.missing.length + p.unknown.length} !` : "0",
    p.violations ? String(p.violations.count) : p.live ? `${p.live.violations} (live)` : "?",
    p.suspensions ? String(p.suspensions.count) : "?",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  lines.push(fmt(header), fmt(widths.map((w) => "-".repeat(w))), ...rows.map(fmt), "");
  for (const p of report.plugins) {
    lines.push(`${p.name} ${p.version}${p.enabled ? "" : " (disabled)"}`);
    lines.push(`  code sha256: ${p.codeSha256 ?? `cannot bundle: ${p.loadError}`}`);
    lines.push(`  requested:   ${list(p.requested)}`);
    for (const g of p.granted) lines.push(`  granted:     ${g.capability}  by ${g.via.join("; ")}`);
    if (p.granted.length === 0) lines.push("  granted:     —");
    if (p.missing.length)
      lines.push(`  NOT GRANTED: ${list(p.missing)}  (requested; the plugin runs without them)`);
    if (p.unknown.length) lines.push(`  UNKNOWN:     ${list(p.unknown)}  (not in the capability catalogue)`);
    lines.push(`  publish:     ${list(p.subjects.publish)}`);
    lines.push(`  subscribe:   ${list(p.subjects.subscribe)}`);
    lines.push(`  request:     ${list(p.subjects.request)}`);
    lines.push(
      `  limits:      memory ${p.limits.memoryMb} MB, handler ${p.limits.handlerTimeoutMs} ms, publish ${p.limits.publishPerSecond}/s`,
    );
    lines.push(`  storage:     ${formatStorage(p.storage, p.requested.includes("storage"))}`);
    const [migrations, ...errors] = formatMigrations(p.migrations, " ".repeat(15));
    lines.push(`  migrations:  ${migrations}`, ...errors);
    if (p.violations?.count)
      lines.push(
        `  violations:  ${p.violations.count}, last ${p.violations.lastAt}: ${p.violations.lastReason}`,
      );
    if (p.suspensions?.count)
      lines.push(
        `  suspended:   ${p.suspensions.count}×, last ${p.suspensions.lastAt}: ${p.suspensions.lastReason}`,
      );
    if (p.live?.lastError) lines.push(`  last error:  ${p.live.lastError}`);
    lines.push("");
  }
  for (const r of report.rejected) lines.push(`REJECTED ${r.directory}: ${r.error}`);
  lines.push(...report.plugins.flatMap(pluginFindings).map((f) => `! ${f.message}`));
  return `${lines.join("\n").trimEnd()}\n`;
}
