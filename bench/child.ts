import path from "node:path";
import { PACKAGE_ROOT } from "../src/core/paths.js";
import { spawnTied, stopChild } from "../src/core/tied-child.js";

/**
 * A helper process of the bench (the raw relay, the hop floor): a plain-JS script under bench/ run by
 * this Node, on the bench's nats-server, tied to the bench like the platform's own children (it dies with
 * it). It prints a line on stdout once it is subscribed; until then it is not started.
 */

export interface BenchChild {
  readonly pid: number;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;

export async function startBenchChild(
  what: string,
  script: string,
  args: readonly string[],
  natsUrl: string,
): Promise<BenchChild> {
  const child = spawnTied(process.execPath, [path.join(PACKAGE_ROOT, "bench", script), ...args], {
    // The URL carries the server's credentials: the environment is readable by this user only, argv by all.
    env: { ...process.env, NATS_URL: natsUrl },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${what} did not start in time`)), READY_TIMEOUT_MS);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(err);
    };
    const early = (code: number | null) => fail(new Error(`${what} exited early (code ${code})`));
    child.once("error", fail);
    child.once("exit", early);
    child.stdout?.setEncoding("utf8");
    child.stdout?.once("data", () => {
      clearTimeout(timer);
      child.off("exit", early);
      child.off("error", fail);
      resolve();
    });
  });
  return {
    pid: child.pid ?? -1,
    stop: () => stopChild(child, STOP_GRACE_MS),
  };
}
