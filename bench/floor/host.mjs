// The hop floor's host process (see core.mjs): relays batch frames between the core's pipe (fd 3) and
// its worker threads, without parsing them, as the platform's plugin host does.
import net from "node:net";
import { Worker } from "node:worker_threads";
import { encodeBatchFrame, FrameDecoder, perTickWriter } from "../../dist/sandbox/host/framing.js";

const channel = new net.Socket({ fd: 3, readable: true, writable: true });
const write = perTickWriter(channel);
const workers = Array.from({ length: Number(process.argv[2] ?? 5) }, (_, wid) => {
  const worker = new Worker(new URL("./worker.mjs", import.meta.url));
  worker.on("message", (batch) => write(encodeBatchFrame(wid, batch)));
  return worker;
});
const frames = new FrameDecoder(
  (frame) => {
    if (frame.kind === "batch") workers[frame.wid]?.postMessage(frame.text);
  },
  () => process.exit(70),
);
channel.on("data", (chunk) => frames.push(chunk));
channel.on("close", () => process.exit(0));
channel.on("error", () => process.exit(0));
process.on("disconnect", () => process.exit(0));
await Promise.all(workers.map((w) => new Promise((resolve) => w.once("online", resolve))));
process.send?.("ready");
