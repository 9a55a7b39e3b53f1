import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
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
    server = await startEmbeddedNats({ dataDir, port });

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
});
