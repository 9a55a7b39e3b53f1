// The hop floor's worker (see core.mjs): answers each command with a line of text, batching its
// answers per tick as the platform's workers do.
import { parentPort } from "node:worker_threads";
import { MessageBatcher, unbatch } from "../../dist/sandbox/message-batch.js";

const out = new MessageBatcher((batch) => parentPort.postMessage(batch));
parentPort.on("message", (batch) => {
  for (const { id, command } of unbatch(batch)) {
    out.push({
      id,
      correlationId: command.correlationId,
      platform: command.platform,
      channel: command.channel,
      text: `${command.user}: ${command.name} ${command.text}`,
    });
  }
});
