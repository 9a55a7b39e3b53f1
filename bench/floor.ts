import path from "node:path";
import { PACKAGE_ROOT } from "../src/core/paths.js";
import { spawnTied, stopChild } from "../src/core/tied-child.js";

/**
 * The hop floor (bench/floor/core.mjs): the platform's process, pipe, thread and NATS hops with none of its
 * logic, run as a child of the bench on the same nats-server (tied to the bench like the platform's own
 * children: it dies with it). Its saturation is the most any implementation
 * of the design could sustain here, so it tells how much of the gap to the relay is the design's and how much
 * is Rosey's code.
 */

export interface Floor {
  readonly pid: number;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;

export async function startFloor(natsUrl: string, workers: number): Promise<Floor> {
  const child = spawnTied(
    process.execPath,
    [path.join(PACKAGE_ROOT, "bench", "floor", "core.mjs"), String(workers)],
    { env: { ...process.env, NATS_URL: natsUrl }, stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error("the hop floor did not start in time")), READY_TIMEOUT_MS);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(err);
    };
    const early = (code: number | null) => fail(new Error(`the hop floor exited early (code ${code})`));
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
