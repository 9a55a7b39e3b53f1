import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateConfig } from "../../src/core/config/load.js";
import { silentLogger } from "../../src/core/logger.js";
import { startRosey } from "../../src/core/orchestrator.js";
import { startPrivateNats } from "../support/private-nats.js";

describe("startRosey with only an external platform", () => {
  let nats: Awaited<ReturnType<typeof startPrivateNats>>;
  let dir: string;

  beforeAll(async () => {
    nats = await startPrivateNats();
    dir = mkdtempSync(path.join(os.tmpdir(), "rosey-external-"));
    mkdirSync(path.join(dir, "plugins"));
  });
  afterAll(async () => {
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is not finished when its input ends, only once it is stopped", async () => {
    const config = validateConfig(
      {
        nats: { url: nats.url },
        dataDir: path.join(dir, "data"),
        database: { enabled: false },
        platforms: [{ type: "external", name: "discord" }],
        plugins: { directory: path.join(dir, "plugins") },
      },
      "test",
    );
    const stdin = new PassThrough();
    const rosey = await startRosey({ config, logger: silentLogger(), stdin, stdout: new PassThrough() });
    let finished = false;
    void rosey.finished.then(() => {
      finished = true;
    });
    stdin.end();
    await new Promise((r) => setTimeout(r, 300));
    expect(finished).toBe(false);
    await rosey.stop();
    await rosey.finished;
    expect(finished).toBe(true);
  });
});
