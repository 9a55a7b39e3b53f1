import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import type { RoseyConfig } from "../config/schema.js";
import { writePrivateFile } from "../private-file.js";

/**
 * How tools find a running platform's embedded nats-server, whose port is picked at start: `rosey start`
 * writes `<dataDir>/nats-server.json` while its server runs, and `rosey health` / `rosey audit` read it
 * when neither `NATS_URL` nor `nats.url` names a server. A file left by a killed platform is ignored, as
 * its server's pid no longer runs. The URL carries the server's credentials, so the file is readable by
 * its owner only (0600): tools that read it run as the user that runs `rosey start`.
 */

export const RUNTIME_FILE = "nats-server.json";

/**
 * `<dataDir>/nats-connector-<platform>.json`, the same shape: the URL an `external` platform's connector
 * connects with while the embedded server runs, as a NATS user of its own limited to a connector's
 * subjects (component-users.ts), so that its program is not given the core's credentials.
 */
export const connectorRuntimeFile = (platform: string): string => `nats-connector-${platform}.json`;

interface RuntimeInfo {
  url: string;
  pid: number;
}

export function writeRuntimeFile(dataDir: string, info: RuntimeInfo, name = RUNTIME_FILE): void {
  writePrivateFile(path.join(dataDir, name), `${JSON.stringify(info)}\n`);
}

/** Removes the file if it still describes the server `pid` (another start may have replaced it). */
export function removeRuntimeFile(dataDir: string, pid: number, name = RUNTIME_FILE): void {
  if (readRuntimeFile(dataDir, name)?.pid === pid) rmSync(path.join(dataDir, name), { force: true });
}

function readRuntimeFile(dataDir: string, name: string): RuntimeInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(path.join(dataDir, name), "utf8")) as Partial<RuntimeInfo>;
    return typeof info.url === "string" && Number.isInteger(info.pid) ? (info as RuntimeInfo) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid runs (as anyone): how a file naming a pid is told stale. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The URL of the embedded nats-server a platform with this data dir is running, if one is. */
export function runningEmbeddedNats(dataDir: string): string | undefined {
  const info = readRuntimeFile(dataDir, RUNTIME_FILE);
  return info && isRunning(info.pid) ? info.url : undefined;
}

/** Where tools reach the running platform: `NATS_URL`, else `nats.url`, else its embedded server. */
export function platformNatsUrl(
  config: Pick<Readonly<RoseyConfig>, "nats" | "dataDir">,
  env: NodeJS.ProcessEnv,
): string | undefined {
  return env.NATS_URL || config.nats.url || runningEmbeddedNats(config.dataDir);
}
