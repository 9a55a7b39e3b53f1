import { loadConfig } from "../config/load.js";
import type { RoseyConfig } from "../config/schema.js";
import { RoseyError } from "../errors.js";
import { createLogger, type Logger } from "../logger.js";
import { type DatabaseService, startDatabaseService } from "./database-service.js";
import { ackWaitFromEnv } from "./streams.js";

/**
 * `rosey db`: the database service alone, against an existing NATS (`--nats`, `NATS_URL` or config
 * `nats.url`): it is meant to run beside a `rosey start` elsewhere. Resolves once started; the caller
 * (the CLI entry) wires signals to `stop()`.
 */
export interface DbCommandOptions {
  config?: string | undefined;
  nats?: string | undefined;
  logger?: Logger;
  /** JetStream ack wait; `ROSEY_DB_ACK_WAIT_MS` overrides for operations and tests. */
  ackWaitMs?: number | undefined;
  /**
   * A config already resolved by `rosey start` (service-main.ts `--from-core`), `config` then unused; and
   * the id the core pings this process by (liveness.ts).
   */
  resolved?: { config: RoseyConfig; natsUrl: string; pingId?: string };
}

export async function runDbCommand(options: DbCommandOptions = {}): Promise<DatabaseService> {
  const config = options.resolved?.config ?? loadConfig({ file: options.config }).config;
  const logger =
    options.logger ?? createLogger({ level: config.logging.level, pretty: config.logging.pretty });
  const natsUrl = options.resolved?.natsUrl ?? options.nats ?? config.nats.url;
  if (!natsUrl) {
    throw new RoseyError(
      "CONFIG_INVALID",
      "Cannot start 'rosey db' alone without a NATS server to join: set NATS_URL, 'nats.url' in the config, or --nats",
    );
  }
  const ackWaitMs = options.ackWaitMs ?? ackWaitFromEnv(process.env);
  return startDatabaseService({
    natsUrl,
    config,
    logger,
    pingId: options.resolved?.pingId,
    ...(ackWaitMs ? { ingest: { ackWaitMs } } : {}),
  });
}
