import { validateConfig } from "../../src/core/config/load.js";
import { silentLogger } from "../../src/core/logger.js";
import { type Rosey, startRosey } from "../../src/core/orchestrator.js";

/** Rosey started in this process, logging nothing, on `config` validated with `nats.url` set to `natsUrl`. */
export function startTestRosey(natsUrl: string, config: Record<string, unknown>): Promise<Rosey> {
  return startRosey({
    config: validateConfig({ nats: { url: natsUrl }, ...config }, "test"),
    logger: silentLogger(),
  });
}
