import { PassThrough, Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConsoleConnector } from "../../src/connectors/console/console-connector.js";
import { type Bus, createBus } from "../../src/core/bus.js";
import { silentLogger } from "../../src/core/logger.js";
import { SUBJECTS } from "../../src/core/subjects.js";
import { usePrivateNats } from "../support/private-nats.js";

/**
 * Text chat users wrote somewhere else reaches the operator's console: a quote added on CyTube (where the
 * server keeps C1 controls and bidi marks, and C0 too with `allow_ascii_control`) and shown by `!quote` in a
 * console session. The console prints it with its controls made visible (attack 74).
 */

class Output extends Writable {
  text = "";
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString("utf8");
    done();
  }
}

describe("console output of chat users' text", () => {
  const nats = usePrivateNats();
  let connectorBus: Bus;
  let plugin: Bus;
  let output: Output;
  let connector: ConsoleConnector;

  beforeEach(async () => {
    connectorBus = await createBus({ url: nats.url, source: "connector:console", logger: silentLogger() });
    plugin = await createBus({ url: nats.url, source: "plugin:quotes", logger: silentLogger() });
    output = new Output();
    connector = new ConsoleConnector({
      bus: connectorBus,
      logger: silentLogger(),
      prefix: "!",
      routerTimeoutMs: 200,
      input: new PassThrough(),
      output,
    });
    await connector.start();
  });
  afterEach(async () => {
    await connector.stop();
    await Promise.all([connectorBus.close(), plugin.close()]);
  });

  it("shows terminal controls, C1 and bidi marks as \\uXXXX; keeps newlines and tabs", async () => {
    const text =
      '#1: "\u001b]52;c;cm0gLXJmIH4=\u0007\u009b2J\u202eevil\rforged" (added by mallory)\tok\nnext';
    plugin.publish(SUBJECTS.actionsChatSend, { platform: "console", channel: "console", text });
    await expect.poll(() => output.text).toContain("next");
    expect(output.text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(output.text).toBe(
      '<rosey> #1: "\\u001b]52;c;cm0gLXJmIH4=\\u0007\\u009b2J\\u202eevil\\u000dforged" (added by mallory)\tok\nnext\n',
    );
  });
});
