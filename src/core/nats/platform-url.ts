import { loadConfig } from "../config/load.js";
import { RoseyError } from "../errors.js";
import { platformNatsUrl } from "./runtime-file.js";

/**
 * Where `rosey <command>` reaches the running platform: `--nats`, else `platformNatsUrl` (the config is read
 * only then).
 * @throws {RoseyError} CONFIG_INVALID when nothing names or runs a server.
 */
export function runningPlatformUrl(
  command: string,
  options: { nats?: string | undefined; config?: string | undefined },
  env: NodeJS.ProcessEnv,
): string {
  const url = options.nats ?? platformNatsUrl(loadConfig({ file: options.config, env }).config, env);
  if (url) return url;
  throw new RoseyError(
    "CONFIG_INVALID",
    `rosey ${command} found no running platform: no --nats URL, NATS_URL or nats.url, and no embedded ` +
      "nats-server running for this config's dataDir (run it from where `rosey start` runs, or with its --config)",
  );
}
