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

interface RuntimeInfo {
  url: string;
  pid: number;
}

export function writeRuntimeFile(dataDir: string, info: RuntimeInfo): void {
  writePrivateFile(path.join(dataDir, RUNTIME_FILE), `${JSON.stringify(info)}\n`);
}

/** Removes the file if it still describes the server `pid` (another start may have replaced it). */
export function removeRuntimeFile(dataDir: string, pid: number): void {
  if (readRuntimeFile(dataDir)?.pid === pid) rmSync(path.join(dataDir, RUNTIME_FILE), { force: true });
}

function readRuntimeFile(dataDir: string): RuntimeInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(path.join(dataDir, RUNTIME_FILE), "utf8")) as Partial<RuntimeInfo>;
    return typeof info.url === "string" && Number.isInteger(info.pid) ? (info as RuntimeInfo) : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
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
  const info = readRuntimeFile(dataDir);
  return info && isRunning(info.pid) ? info.url : undefined;
}

/** Where tools reach the running platform: `NATS_URL`, else `nats.url`, else its embedded server. */
export function platformNatsUrl(
  config: Pick<Readonly<RoseyConfig>, "nats" | "dataDir">,
  env: NodeJS.ProcessEnv,
): string | undefined {
  return env.NATS_URL || config.nats.url || runningEmbeddedNats(config.dataDir);
}
