import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import { validateConfig } from "../../src/core/config/load.js";
import { silentLogger } from "../../src/core/logger.js";
import { type Rosey, startRosey } from "../../src/core/orchestrator.js";
import { databaseChildren } from "../support/db-children.js";
import { startPrivateNats } from "../support/private-nats.js";

/** `rosey start` runs the database service as its own process (src/core/db/service.ts). */
describe("the database service process under rosey start", () => {
  let nats: Awaited<ReturnType<typeof startPrivateNats>>;
  let rosey: Rosey | undefined;
  let bus: Bus;
  let dir: string;

  beforeAll(async () => {
    // A message the killed service had been handed but not acked comes back after the ack wait.
    process.env.ROSEY_DB_ACK_WAIT_MS = "2000";
    nats = await startPrivateNats();
    dir = mkdtempSync(path.join(os.tmpdir(), "rosey-dbproc-"));
    mkdirSync(path.join(dir, "plugins"));
    const config = validateConfig(
      {
        nats: { url: nats.url },
        dataDir: path.join(dir, "data"),
        plugins: { directory: path.join(dir, "plugins") },
      },
      "test",
    );
    rosey = await startRosey({
      config,
      logger: silentLogger(),
      stdin: new PassThrough(),
      stdout: new PassThrough(),
    });
    bus = await createBus({ url: nats.url, source: "connector:test", logger: silentLogger() });
  }, 60_000);

  afterAll(async () => {
    delete process.env.ROSEY_DB_ACK_WAIT_MS;
    await bus?.close();
    await rosey?.stop();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const recentChat = async () =>
    (
      await bus.request<{ success: boolean; data?: Array<{ content: string }> }>(
        "rosey.db.query.recent_chat",
        { channel: "room" },
        { source: "core", timeoutMs: 2_000 },
      )
    ).data;

  const log = (content: string) =>
    bus.publish("rosey.db.message.log", { username: "ann", content, platform: "test", channel: "room" });

  it("serves from a child process, comes back after a SIGKILL, and loses no event sent while it was down", async () => {
    const [first] = databaseChildren();
    expect(first).toBeGreaterThan(0);
    log("before");
    await expect.poll(recentChat, { timeout: 10_000 }).toMatchObject({ data: [{ content: "before" }] });

    process.kill(first!, "SIGKILL");
    await expect.poll(() => databaseChildren().includes(first!), { timeout: 5_000 }).toBe(false);
    log("while down"); // JetStream keeps it until the restarted service consumes it
    await bus.flush();

    await expect
      .poll(async () => recentChat().catch(() => undefined), { timeout: 20_000, interval: 250 })
      .toMatchObject({ data: [{ content: "while down" }, { content: "before" }] });
    const [second] = databaseChildren();
    expect(second).toBeGreaterThan(0);
    expect(second).not.toBe(first);
  }, 40_000);

  it("is stopped with the platform", async () => {
    await rosey?.stop();
    rosey = undefined;
    expect(databaseChildren()).toEqual([]);
  });
});
