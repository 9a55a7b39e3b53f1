import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createBus } from "../../src/core/bus.js";
import { isRoseyError } from "../../src/core/errors.js";
import { silentLogger } from "../../src/core/logger.js";
import { freePort, startEmbeddedNats } from "../../src/core/nats/embedded-server.js";
import { platformNatsUrl, RUNTIME_FILE, runningEmbeddedNats } from "../../src/core/nats/runtime-file.js";

describe("embedded nats-server", () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "rosey-embedded-"));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("starts, is reachable, and leaves no process after stop", async () => {
    const server = await startEmbeddedNats({ dataDir });
    const bus = await createBus({ url: server.url, source: "t", logger: silentLogger() });
    await bus.flush();
    await bus.close();
    await server.stop();
    expect(() => process.kill(server.pid, 0)).toThrow();
  });

  it("says where it runs in the data dir while it runs, for rosey health and audit; a stale note is ignored", async () => {
    const server = await startEmbeddedNats({ dataDir });
    const config = {
      dataDir,
      nats: { serverBin: "nats-server", connectTimeoutMs: 1000, maxPayloadBytes: 1 << 20 },
    };
    expect(runningEmbeddedNats(dataDir)).toBe(server.url);
    expect(platformNatsUrl(config, {})).toBe(server.url);
    expect(platformNatsUrl(config, { NATS_URL: "nats://elsewhere:4222" })).toBe("nats://elsewhere:4222");
    await server.stop();
    expect(existsSync(path.join(dataDir, RUNTIME_FILE))).toBe(false);
    expect(platformNatsUrl(config, {})).toBeUndefined();
    // Left behind by a platform that was killed: its server's pid no longer runs.
    writeFileSync(path.join(dataDir, RUNTIME_FILE), JSON.stringify({ url: server.url, pid: server.pid }));
    expect(runningEmbeddedNats(dataDir)).toBeUndefined();
    rmSync(path.join(dataDir, RUNTIME_FILE));
  });

  it("does not take another process listening on its port for itself", async () => {
    // Someone else holds the port (as when a picked free port is taken before the server binds it): the
    // port accepts connections, but the server that would answer is not ours.
    const squatter = net.createServer((socket) => socket.destroy());
    const port = await freePort();
    await new Promise<void>((resolve) => squatter.listen(port, "127.0.0.1", resolve));
    let error: unknown;
    try {
      await startEmbeddedNats({ dataDir, port });
    } catch (err) {
      error = err;
    } finally {
      squatter.close();
    }
    expect(isRoseyError(error, "NATS_START_FAILED")).toBe(true);
    expect((error as Error).message).toContain("address already in use");
  });
});
