import type { PluginAudit } from "./audit.js";
import { cappedFields } from "./data-access.js";

/**
 * The `!` lines at the end of `rosey audit`, and which of them fail `--strict`. `--strict` gates what would
 * start not as the plugin expects: an enabled plugin missing a capability it requested, or whose migrations
 * the database service would be unable to apply at start (it logs them and starts the plugin anyway,
 * against a schema its code was not written for). The rest is for the reviewer to weigh.
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
