// The hop floor's core process. It has the platform's topology and none of its logic: a chat event
// arrives over NATS (router role), becomes a request on a queue-group subject (plugin manager role),
// travels as a batch frame over a pipe to a forked host (host.mjs) and on to a worker thread (worker.mjs);
// the worker's answer comes back the same way, is published as the reply action and answers the request.
// No validation, gate, sandbox, cooldowns or bookkeeping: what the bench measures through it is the cost
// of the design's hops on this machine, the ceiling any implementation of the platform could reach.
// It uses the platform's own pipe framing and message batching (the transport, not the logic).
// Usage: node core.mjs <workers>, with NATS_URL set; prints "ready" when subscribed.
import { fork } from "node:child_process";
import { connect, createInbox } from "nats";
import { natsConnectOptions } from "../../dist/core/nats/connect-options.js";
import { encodeBatchFrame, FrameDecoder, perTickWriter } from "../../dist/sandbox/host/framing.js";
import { MessageBatcher, unbatch } from "../../dist/sandbox/message-batch.js";
import { FLOOR_EXECUTE, FLOOR_IN, FLOOR_OUT, FLOOR_SOURCE } from "./subjects.mjs";

const workers = Number(process.argv[2] ?? 5);
const REQUEST_TIMEOUT_MS = 5_000;
const nc = await connect({
  ...natsConnectOptions(process.env.NATS_URL ?? ""),
  name: "bench-floor",
  noAsyncTraces: true,
});
const text = new TextDecoder();
const encode = (value) => Buffer.from(JSON.stringify(value));
const envelope = (subject, source, correlationId, data) => ({
  id: crypto.randomUUID(),
  subject,
  source,
  timestamp: Date.now(),
  correlationId,
  data,
});

const host = fork(new URL("./host.mjs", import.meta.url), [String(workers)], {
  stdio: ["ignore", "inherit", "inherit", "pipe", "ipc"],
});
const channel = host.stdio[3];
const write = perTickWriter(channel);
const toWorker = Array.from(
  { length: workers },
  (_, wid) => new MessageBatcher((batch) => write(encodeBatchFrame(wid, batch))),
);

// Router role: event in, request out, reply awaited (with a timer, as the router has one).
const inbox = createInbox();
const awaiting = new Map();
let nextToken = 1;
nc.subscribe(`${inbox}.*`, {
  callback: (_err, msg) => {
    const token = msg.subject.slice(inbox.length + 1);
    const timer = awaiting.get(token);
    if (timer === undefined) return;
    awaiting.delete(token);
    clearTimeout(timer);
    JSON.parse(text.decode(msg.data));
  },
});
nc.subscribe(FLOOR_IN, {
  queue: "router",
  callback: (_err, msg) => {
    const event = JSON.parse(text.decode(msg.data));
    const [name, ...args] = String(event.data.content).slice(1).split(/\s+/);
    const command = {
      name,
      args,
      text: args.join(" "),
      user: event.data.user,
      platform: event.data.platform,
      channel: event.data.channel,
      correlationId: event.id,
    };
    const token = (nextToken++).toString(36);
    awaiting.set(
      token,
      setTimeout(() => awaiting.delete(token), REQUEST_TIMEOUT_MS),
    );
    nc.publish(FLOOR_EXECUTE, encode(envelope(FLOOR_EXECUTE, "core", event.id, command)), {
      reply: `${inbox}.${token}`,
    });
  },
});

// Plugin manager role: request in, command to a worker (round robin), its answer out.
const replyTo = new Map();
let nextId = 1;
nc.subscribe(FLOOR_EXECUTE, {
  queue: "plugins",
  callback: (_err, msg) => {
    const request = JSON.parse(text.decode(msg.data));
    const id = nextId++;
    replyTo.set(id, msg.reply);
    toWorker[id % workers].push({ id, command: request.data });
  },
});
const frames = new FrameDecoder(
  (frame) => {
    if (frame.kind !== "batch") return;
    for (const answer of unbatch(frame.text)) {
      const reply = replyTo.get(answer.id);
      replyTo.delete(answer.id);
      const out = { platform: answer.platform, channel: answer.channel, text: answer.text };
      nc.publish(FLOOR_OUT, encode(envelope(FLOOR_OUT, FLOOR_SOURCE, answer.correlationId, out)));
      if (reply)
        nc.publish(reply, encode(envelope(reply, "core", answer.correlationId, { ok: true, replied: true })));
    }
  },
  (reason) => {
    process.stderr.write(`floor core: bad frame from host (${reason})\n`);
    process.exit(70);
  },
);
channel.on("data", (chunk) => frames.push(chunk));

const stop = async () => {
  host.kill();
  for (const timer of awaiting.values()) clearTimeout(timer);
  await nc.close();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
await nc.flush();
host.once("message", () => process.stdout.write("ready\n"));
