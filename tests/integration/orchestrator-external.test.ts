import { mkdirSync } from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { beforeAll, describe, expect, it } from "vitest";
import { validateConfig } from "../../src/core/config/load.js";
import { silentLogger } from "../../src/core/logger.js";
import { startRosey } from "../../src/core/orchestrator.js";
import { usePrivateNats } from "../support/private-nats.js";
import { useTempDir } from "../support/temp-dir.js";

describe("startRosey with only an external platform", () => {
  const nats = usePrivateNats();
  const tmp = useTempDir("rosey-external-", "all");
  let dir: string;

  beforeAll(() => {
    dir = tmp();
    mkdirSync(path.join(dir, "plugins"));
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
