import { type BenchChild, startBenchChild } from "./child.js";

/**
 * The hop floor (bench/floor/core.mjs): the platform's process, pipe, thread and NATS hops with none of its
 * logic, run as a child of the bench on the same nats-server. Its saturation is the most any implementation
 * of the design could sustain here, so it tells how much of the gap to the relay is the design's and how much
 * is Rosey's code.
 */

export type Floor = BenchChild;

export function startFloor(natsUrl: string, workers: number): Promise<Floor> {
  return startBenchChild("the hop floor", "floor/core.mjs", [String(workers)], natsUrl);
}
