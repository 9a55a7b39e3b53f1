import { describeOverride, type LoadedConfig, loadConfig } from "../core/config/load.js";
import { type DatabaseFindingsOptions, databaseFindings } from "../core/db/db-preflight.js";
import { RoseyError } from "../core/errors.js";
import { type PreflightOptions, preflightPlugins } from "../core/plugins/preflight.js";
import { terminalSafe } from "../sandbox/escape-text.js";

/**
 * `rosey config check FILE [--connect] [--no-code]`: the file against the config schema, then what `rosey start`
 * would meet: an existing SQLite database it would refuse (a PostgreSQL one with `--connect`), and the plugins
 * (manifests, grants, the enabled list, each plugin's config block, and, unless `code: false`, its code: bundled,
 * and loaded in a sandbox worker without being started). Exit 1 when something would not work as written;
 * warnings alone still exit 0. The config is checked as `rosey start` would see it: with the environment
 * overrides (`NATS_URL`, `DATABASE_URL`, `LOG_LEVEL`) applied, each one listed, and a problem in one named as
 * the variable's.
 */
export async function configCheck(
  file: string,
  print: { stdout: (text: string) => void; stderr: (text: string) => void },
  options: DatabaseFindingsOptions & PreflightOptions & { env?: NodeJS.ProcessEnv } = {},
): Promise<number> {
  // Findings quote the plugins' manifests and code: no control character reaches the terminal.
  const out = {
    stdout: (text: string) => print.stdout(terminalSafe(text)),
    stderr: (text: string) => print.stderr(terminalSafe(text)),
  };
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig({ file, env: options.env ?? process.env });
  } catch (err) {
    if (err instanceof RoseyError) {
      out.stderr(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const { config, overrides } = loaded;
  const source = loaded.file ?? file;
  // The database findings name the key; an override's value is the variable's.
  const fromEnv = (where: string) => {
    const o = overrides.find((override) => override.key === where);
    return o ? describeOverride(o, source) : where;
  };
  const preflight = await preflightPlugins(config, options);
  const findings = [
    ...(await databaseFindings(config, options)).map((f) => ({ ...f, where: fromEnv(f.where) })),
    ...preflight.findings,
  ];
  const withEnv = overrides.length
    ? `Checked as rosey start would see it, with ${count(overrides.length, "environment override")}:\n${overrides.map((o) => `  ${describeOverride(o, source)}\n`).join("")}`
    : "";
  const errors = findings.filter((f) => f.level === "error");
  const warnings = findings.filter((f) => f.level === "warning");
  const lines = [...errors, ...warnings].map((f) => `  ${f.level.toUpperCase()} ${f.where}: ${f.message}\n`);
  if (errors.length > 0) {
    out.stderr(
      `${withEnv}${file} is a valid config, but ${count(errors.length, "problem")} would stop it from working as written${warnings.length ? ` (and ${count(warnings.length, "warning")})` : ""}:\n${lines.join("")}`,
    );
    return 1;
  }
  const list = (names: string[]) => (names.length ? ` (${names.join(", ")})` : "");
  out.stdout(
    `OK: ${file} is a valid config\n${withEnv}Plugins in ${preflight.directory}: ${preflight.enabled.length} enabled${list(preflight.enabled)}, ${preflight.disabled.length} disabled${list(preflight.disabled)}\n`,
  );
  if (warnings.length) out.stderr(`${count(warnings.length, "warning")}:\n${lines.join("")}`);
  return 0;
}

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`;
