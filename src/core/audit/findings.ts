import { CAPABILITIES, isCapability } from "../plugins/capabilities.js";
import type { PluginAudit } from "./audit.js";
import { cappedFields } from "./data-access.js";
import type { ViolationRecord } from "./history.js";
import { describeDrift } from "./live.js";

/**
 * The `!` lines at the end of `rosey audit`, and which of them fail `--strict`. `--strict` gates what would
 * start not as the plugin expects, and what nobody has looked at yet. For an enabled plugin: a capability
 * it requested and is not granted; a manifest subscription its grants do not cover (refused, and counted as
 * a violation, at every start); migrations the database service would be unable to apply at start (it logs
 * them and starts the plugin anyway, against a schema its code was not written for); and severe violations
 * on record that no operator resume or reload has followed — an attempt on the core's channels or another
 * plugin's namespace is not something a gate should pass quietly, and the operator's resume or reload (after
 * review) is what clears it, not time: the audit log itself is never edited. Counts of lesser violations,
 * suspensions, latent grants and differences from the running platform are for the reviewer to weigh.
 */

export interface Finding {
  message: string;
  /** Fails `rosey audit --strict`. */
  strict: boolean;
}

export function pluginFindings(p: PluginAudit): Finding[] {
  const findings: Finding[] = [];
  // A disabled plugin never runs, so it cannot run without a grant.
  if (p.enabled && p.missing.length)
    findings.push({
      strict: true,
      message: `${p.name} requests capabilities the config does not grant: ${p.missing.join(", ")}`,
    });
  if (p.enabled && p.unknown.length)
    findings.push({
      strict: true,
      message: `${p.name} requests unknown capabilities: ${p.unknown.join(", ")}`,
    });

  const uncovered = p.manifestSubscribe.filter((s) => s.coveredBy === null).map((s) => s.pattern);
  if (p.enabled && uncovered.length)
    findings.push({
      strict: true,
      message: `${p.name} subscribes (manifest) to patterns its grants do not cover: ${uncovered.join(", ")}; each is refused and counted as a violation at every start`,
    });
  const latent = p.grantedNotRequested.filter(
    (g) => isCapability(g.capability) && CAPABILITIES[g.capability].group !== "basic",
  );
  if (latent.length)
    findings.push({
      strict: false,
      message: `${p.name} is granted, without requesting them, ${latent.map((g) => g.capability).join(", ")} (${[...new Set(latent.flatMap((g) => g.via))].join("; ")}): a manifest update that requests them gets them with no config change`,
    });
  findings.push(...historyFindings(p));
  for (const drift of p.live?.drift ?? [])
    findings.push({ strict: false, message: `${p.name}: ${describeDrift(drift, p.name)}` });

  const { requested, effective } = p.storage.quota;
  for (const field of cappedFields(requested, effective))
    findings.push({
      strict: false,
      message: `${p.name} asks storage.quota.${field} ${requested[field]}, above database.maxQuota.${field}: it gets ${effective[field]}`,
    });

  const m = p.migrations;
  const autoApplied = m.notAutoApplied.length === 0;
  if ((m.files === null || m.files > 0) && !p.storage.effective)
    findings.push({
      strict: false,
      message: `${p.name} has migrations but is not granted storage: the database service does not apply them (\`rosey migrate ${p.name} apply\` would)`,
    });
  if (m.loadError !== null)
    findings.push({
      strict: autoApplied,
      message: `${p.name}'s migrations cannot be loaded: ${m.loadError}`,
    });
  if (m.refusal !== null)
    findings.push({ strict: autoApplied, message: `${p.name}'s migrations are refused: ${m.refusal}` });
  if (m.errors.length) {
    const versions = [...new Set(m.errors.map((e) => `v${e.version}`))].join(", ");
    findings.push({
      strict: autoApplied,
      message: `${p.name} has ERRORs in migrations not yet applied (${versions}): \`rosey migrate\` and the database service refuse to apply them`,
    });
  }
  return findings;
}

/** One line for a violation: when (`v.at` unless told), what, on which subject, why. */
export function describeViolation(v: ViolationRecord, when = v.at): string {
  const capability = v.capability ? ` [${v.capability}]` : "";
  return `${when} ${v.severe ? "SEVERE " : ""}${v.operation} ${v.subject || "(no subject)"}${capability}: ${v.reason ?? "(no reason)"}`;
}

function historyFindings(p: PluginAudit): Finding[] {
  const h = p.history;
  if (!h) return [];
  const findings: Finding[] = [];
  const v = h.violations;
  const newestSevere = v.recentSevere[0];
  if (p.enabled && v.severeSinceResume > 0 && newestSevere)
    findings.push({
      strict: true,
      message: `${p.name} has ${v.severeSinceResume} severe violation${v.severeSinceResume === 1 ? "" : "s"} on record that no operator resume or reload has followed (after review: rosey plugin resume|reload ${p.name}); newest: ${describeViolation(newestSevere)}`,
    });
  const suspended = h.events.counts.find((c) => c.action === "plugin.suspended");
  if (v.count > 0 || suspended)
    findings.push({
      strict: false,
      message: `${p.name} has ${v.count} violation${v.count === 1 ? "" : "s"} on record (${v.severe} severe)${suspended ? ` and was suspended ${suspended.count}× (latest ${suspended.lastAt})` : ""}`,
    });
  return findings;
}
