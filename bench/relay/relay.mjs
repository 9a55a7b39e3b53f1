// The bench's raw NATS relay (bench/relay.ts starts it): for every envelope on the first argument's subject,
// a reply envelope carrying its id as correlationId on the second's, stamped with the third as source.
// One parse and one encode per message, nothing else. Usage: node relay.mjs <in> <out> <source>, with
// NATS_URL set; prints "ready" once subscribed.
import { connect } from "nats";
import { natsConnectOptions } from "../../dist/core/nats/connect-options.js";

const [input, output, source] = process.argv.slice(2);
const nc = await connect({
  ...natsConnectOptions(process.env.NATS_URL ?? ""),
  name: "bench-relay",
  noAsyncTraces: true,
});
const text = new TextDecoder();
let relayed = 0;
nc.subscribe(input, {
  callback: (err, msg) => {
    if (err) return;
    const envelope = JSON.parse(text.decode(msg.data));
    const reply = {
      id: `r${relayed++}`,
      subject: output,
      source,
      timestamp: Date.now(),
      correlationId: envelope.id,
      data: envelope.data,
    };
    nc.publish(output, Buffer.from(JSON.stringify(reply)));
  },
});
await nc.flush();

const stop = async () => {
  await nc.drain();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
process.stdout.write("ready\n");
