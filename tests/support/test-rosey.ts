import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { validateConfig } from "../../src/core/config/load.js";
import { silentLogger } from "../../src/core/logger.js";
import { type OrchestratorOptions, type Rosey, startRosey } from "../../src/core/orchestrator.js";

/**
 * Rosey started in this process, logging nothing, on `config` validated with `nats.url` set to `natsUrl`.
 * Without a `dataDir` in `config` it gets a temp one of its own, removed when it stops: `rosey start` locks
 * its data dir, so suites running side by side cannot share the default `data`. `console`: the console
 * connector's streams (default: the process's).
 */
export async function startTestRosey(
  natsUrl: string,
  config: Record<string, unknown>,
  console: Pick<OrchestratorOptions, "stdin" | "stdout"> = {},
): Promise<Rosey> {
  const temp =
    config.dataDir === undefined ? mkdtempSync(path.join(os.tmpdir(), "rosey-test-data-")) : undefined;
  const remove = () => temp && rmSync(temp, { recursive: true, force: true });
  try {
    const rosey = await startRosey({
      config: validateConfig(
        { nats: { url: natsUrl }, ...(temp ? { dataDir: temp } : {}), ...config },
        "test",
      ),
      logger: silentLogger(),
      ...console,
    });
    return {
      natsUrl: rosey.natsUrl,
      finished: rosey.finished,
      stop: () => rosey.stop().finally(remove),
    };
  } catch (err) {
    remove();
    throw err;
  }
}
