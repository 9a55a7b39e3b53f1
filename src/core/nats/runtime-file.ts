import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import type { RoseyConfig } from "../config/schema.js";
import { writePrivateFile } from "../private-file.js";
import { isSameProcess, type ProcessIdentity, processIdentity } from "../process-identity.js";

/**
 * How tools find a running platform's embedded nats-server, whose port is picked at start: `rosey start`
 * writes `<dataDir>/nats-server.json` while its server runs, and `rosey health` / `rosey audit` read it
 * when neither `NATS_URL` nor `nats.url` names a server. A file left by a killed platform is ignored, as
 * its server no longer runs (its pid and start time, process-identity.ts). The URL carries the server's credentials, so the file is readable by
 * its owner only (0600): tools that read it run as the user that runs `rosey start`.
 */

export const RUNTIME_FILE = "nats-server.json";

/**
 * `<dataDir>/nats-connector-<platform>.json`, the same shape: the URL an `external` platform's connector
 * connects with while the embedded server runs, as a NATS user of its own limited to a connector's
 * subjects (component-users.ts), so that its program is not given the core's credentials.
 */
export const connectorRuntimeFile = (platform: string): string => `nats-connector-${platform}.json`;

interface RuntimeInfo extends ProcessIdentity {
  url: string;
}

/** Records the server's URL and identity: its pid, and when it started where the system says. */
export function writeRuntimeFile(
  dataDir: string,
  { url, pid }: { url: string; pid: number },
  name = RUNTIME_FILE,
): void {
  writePrivateFile(path.join(dataDir, name), `${JSON.stringify({ url, ...processIdentity(pid) })}\n`);
}

/** Removes the file if it still describes the server `pid` (another start may have replaced it). */
export function removeRuntimeFile(dataDir: string, pid: number, name = RUNTIME_FILE): void {
  if (readRuntimeFile(dataDir, name)?.pid === pid) rmSync(path.join(dataDir, name), { force: true });
}

function readRuntimeFile(dataDir: string, name: string): RuntimeInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(path.join(dataDir, name), "utf8")) as Partial<RuntimeInfo>;
    if (typeof info.url !== "string" || !Number.isInteger(info.pid)) return undefined;
    return {
      url: info.url,
      pid: info.pid as number,
      started: typeof info.started === "string" ? info.started : undefined,
    };
  } catch {
    return undefined;
  }
}

/** The URL of the embedded nats-server a platform with this data dir is running, if one is. */
export function runningEmbeddedNats(dataDir: string): string | undefined {
  const info = readRuntimeFile(dataDir, RUNTIME_FILE);
  return info && isSameProcess(info) ? info.url : undefined;
}

/** Where tools reach the running platform: `NATS_URL`, else `nats.url`, else its embedded server. */
export function platformNatsUrl(
  config: Pick<Readonly<RoseyConfig>, "nats" | "dataDir">,
  env: NodeJS.ProcessEnv,
): string | undefined {
  return env.NATS_URL || config.nats.url || runningEmbeddedNats(config.dataDir);
}
