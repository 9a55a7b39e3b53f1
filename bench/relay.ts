import { connect, type NatsConnection } from "nats";

/**
 * The baseline: a raw NATS relay over the same nats-server as the platform. It subscribes to
 * `bench.relay.in` and, for every envelope, publishes a reply envelope carrying its id as correlationId on
 * `bench.relay.out`: one parse and one encode, no router, no worker, no gate. The difference between this
 * and the platform path is what Rosey itself costs.
 */

export const RELAY_IN = "bench.relay.in";
export const RELAY_OUT = "bench.relay.out";
export const RELAY_SOURCE = "relay";

export interface Relay {
  readonly relayed: number;
  stop(): Promise<void>;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export async function startRelay(url: string): Promise<Relay> {
  const nc: NatsConnection = await connect({ servers: url, name: "bench-relay" });
  let relayed = 0;
  nc.subscribe(RELAY_IN, {
    callback: (err, msg) => {
      if (err) return;
      const envelope = JSON.parse(decoder.decode(msg.data)) as { id: string; data: unknown };
      const reply = {
        id: `r${relayed}`,
        subject: RELAY_OUT,
        source: RELAY_SOURCE,
        timestamp: Date.now(),
        correlationId: envelope.id,
        data: envelope.data,
      };
      nc.publish(RELAY_OUT, encoder.encode(JSON.stringify(reply)));
      relayed++;
    },
  });
  await nc.flush();
  return {
    get relayed() {
      return relayed;
    },
    async stop() {
      if (!nc.isClosed()) await nc.drain();
    },
  };
}
