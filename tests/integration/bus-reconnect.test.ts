import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { createBus } from "../../src/core/bus.js";
import { silentLogger } from "../../src/core/logger.js";
import { type EmbeddedNats, freePort, startEmbeddedNats } from "../../src/core/nats/embedded-server.js";
import { collect } from "../support/bus.js";

describe("bus reconnection", () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "rosey-reconnect-"));
  let server: EmbeddedNats | undefined;
  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("reconnects with backoff after the server restarts and keeps its subscriptions", async () => {
    const port = await freePort();
    server = await startEmbeddedNats({ dataDir, port });
    const subscriber = await createBus({ url: server.url, source: "sub", logger: silentLogger() });
    const got = collect<number>(15_000);
    subscriber.subscribe<number>("rosey.reconnect.test", (m) => got.push(m.envelope.data));
    await subscriber.flush();

    await server.stop();
    await new Promise((r) => setTimeout(r, 300));
    // The same password: the subscriber reconnects with the credentials it connected with.
    server = await startEmbeddedNats({ dataDir, port, password: new URL(server.url).password });

    const publisher = await createBus({ url: server.url, source: "pub", logger: silentLogger() });
    // The subscriber resubscribes once it is back; publish until it has seen one.
    const timer = setInterval(() => publisher.publish("rosey.reconnect.test", 1), 100);
    try {
      expect(await got.waitFor(1)).toContain(1);
    } finally {
      clearInterval(timer);
      await publisher.close();
      await subscriber.close();
    }
  });

  it("closes at once during an outage instead of draining to a server that is gone", async () => {
    const port = await freePort();
    server = await startEmbeddedNats({ dataDir, port });
    const logLines: Array<{ msg: string }> = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => logLines.push(JSON.parse(line)) });
    const bus = await createBus({ url: server.url, source: "outage", logger });
    bus.subscribe("rosey.outage.test", () => {});
    await bus.flush();

    await server.stop();
    server = undefined;
    await expect.poll(() => logLines.map((l) => l.msg)).toContain("disconnected from NATS; reconnecting");
    // Before the fix this drain waited for the server's answer: for seconds, or for ever.
    await bus.close();
    expect(bus.connection.isClosed()).toBe(true);
    expect(logLines.map((l) => l.msg)).toContain(
      "closing while disconnected from NATS: messages not yet sent to the server are dropped",
    );
  });

  it("bounds the drain when the server stops answering without dropping the connection", async () => {
    server = await startEmbeddedNats({ dataDir, port: await freePort() });
    // A relay in front of the real server that can go mute: the connection stays open, and nothing the
    // server says reaches the bus any more, as with a server that hangs.
    let mute = false;
    const relay = net.createServer((client) => {
      const upstream = net.connect(server!.port, "127.0.0.1");
      client.on("data", (chunk) => upstream.write(chunk));
      upstream.on("data", (chunk) => {
        if (!mute) client.write(chunk);
      });
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
    const relayPort = (relay.address() as net.AddressInfo).port;
    const logLines: Array<{ msg: string; err?: string }> = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => logLines.push(JSON.parse(line)) });
    // The relay's address with the server's credentials.
    const relayUrl = new URL(server.url);
    relayUrl.port = String(relayPort);
    const bus = await createBus({
      url: relayUrl.toString(),
      source: "frozen",
      logger,
      drainTimeoutMs: 300,
    });
    try {
      bus.subscribe("rosey.frozen.test", () => {});
      await bus.flush();
      mute = true;
      await bus.close();
      expect(bus.connection.isClosed()).toBe(true);
      expect(logLines).toContainEqual(
        expect.objectContaining({ msg: "drain failed; closing", err: "no answer from NATS within 300 ms" }),
      );
    } finally {
      relay.close();
    }
  });
});
