import { loadConfig } from "../core/config/load.js";
import { RoseyError } from "../core/errors.js";
import { type PluginFinding, preflightPlugins } from "../core/plugins/preflight.js";

/**
 * `rosey config check FILE`: the file against the config schema, then its plugins as `rosey start` would
 * meet them (manifests, grants, the enabled list, each plugin's config block and code). Exit 1 when
 * something would not work as written; warnings alone still exit 0. Env overrides are ignored: the file is
 * checked as written.
 */
export async function configCheck(
  file: string,
  out: { stdout: (text: string) => void; stderr: (text: string) => void },
): Promise<number> {
  let config: ReturnType<typeof loadConfig>["config"];
  try {
    config = loadConfig({ file, ignoreEnv: true }).config;
  } catch (err) {
    if (err instanceof RoseyError) {
      out.stderr(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const preflight = await preflightPlugins(config);
  const errors = preflight.findings.filter((f) => f.level === "error");
  const warnings = preflight.findings.filter((f) => f.level === "warning");
  const lines = [...errors, ...warnings].map(
    (f: PluginFinding) => `  ${f.level.toUpperCase()} ${f.where}: ${f.message}\n`,
  );
  if (errors.length > 0) {
    out.stderr(
      `${file} is a valid config, but ${count(errors.length, "problem")} would stop plugins from working as configured${warnings.length ? ` (and ${count(warnings.length, "warning")})` : ""}:\n${lines.join("")}`,
    );
    return 1;
  }
  const list = (names: string[]) => (names.length ? ` (${names.join(", ")})` : "");
  out.stdout(
    `OK: ${file} is a valid config\nPlugins in ${preflight.directory}: ${preflight.enabled.length} enabled${list(preflight.enabled)}, ${preflight.disabled.length} disabled${list(preflight.disabled)}\n`,
  );
  if (warnings.length) out.stderr(`${count(warnings.length, "warning")}:\n${lines.join("")}`);
  return 0;
}

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`;
