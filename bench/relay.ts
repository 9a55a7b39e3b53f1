import { type BenchChild, startBenchChild } from "./child.js";

/**
 * The baseline: a raw NATS relay over the same nats-server as the platform, in a process of its own
 * (bench/relay/relay.mjs) as the platform's core is, so it shares no CPU with the generator and matcher.
 * It subscribes to `bench.relay.in` and, for every envelope, publishes a reply envelope carrying its id as
 * correlationId on `bench.relay.out`: one parse and one encode, no router, no worker, no gate. The difference
 * between this and the platform path is what Rosey itself costs.
 */

export const RELAY_IN = "bench.relay.in";
export const RELAY_OUT = "bench.relay.out";
export const RELAY_SOURCE = "relay";

export type Relay = BenchChild;

export function startRelay(natsUrl: string): Promise<Relay> {
  return startBenchChild("the raw relay", "relay/relay.mjs", [RELAY_IN, RELAY_OUT, RELAY_SOURCE], natsUrl);
}
