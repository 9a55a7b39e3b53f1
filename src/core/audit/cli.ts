import { terminalSafe } from "../../sandbox/escape-text.js";
import { loadConfig } from "../config/load.js";
import { platformNatsUrl } from "../nats/runtime-file.js";
import { buildAuditReport } from "./audit.js";
import { configuredEngine, openAuditLog } from "./audit-log.js";
import { formatAuditReport } from "./report-text.js";

export interface AuditCommandOptions {
  config?: string | undefined;
  json?: boolean | undefined;
  strict?: boolean | undefined;
  env?: NodeJS.ProcessEnv;
  write?: (text: string) => void;
}

/**
 * `rosey audit [--json] [--strict] [--config FILE]`. Prints the report (human table, or the JSON of
 * `schemas/audit-report.schema.json`) and returns the exit code: 1 under `--strict` when an enabled plugin
 * requests a capability the config does not grant (or one that does not exist), subscribes in its manifest
 * to a pattern its grants do not cover, has migrations the database service would apply at start but
 * cannot (not loadable, or ERRORs in those not yet applied), or has severe violations on record that no
 * operator resume or reload has followed (findings.ts says why); else 0.
 */
export async function auditCommand(options: AuditCommandOptions): Promise<number> {
  const env = options.env ?? process.env;
  const loaded = loadConfig({ file: options.config, env });
  const report = await buildAuditReport({
    config: loaded.config,
    configFile: loaded.file,
    natsUrl: platformNatsUrl(loaded.config, env),
    openAuditLog: () => openAuditLog(loaded.config, env),
    engine: await configuredEngine(loaded.config, env),
  });
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  // Manifests, load errors and live states are the plugins' text: no control character reaches the terminal.
  write(terminalSafe(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatAuditReport(report)));
  return options.strict && !report.strict.ok ? 1 : 0;
}
