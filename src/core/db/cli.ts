import { loadConfig } from "../config/load.js";
import { RoseyError } from "../errors.js";
import { createLogger, type Logger } from "../logger.js";
import { type DatabaseService, startDatabaseService } from "./database-service.js";

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
}

export async function runDbCommand(options: DbCommandOptions = {}): Promise<DatabaseService> {
  const { config } = loadConfig({ file: options.config });
  const logger =
    options.logger ?? createLogger({ level: config.logging.level, pretty: config.logging.pretty });
  const natsUrl = options.nats ?? config.nats.url;
  if (!natsUrl) {
    throw new RoseyError(
      "CONFIG_INVALID",
      "Cannot start 'rosey db' alone without a NATS server to join: set NATS_URL, 'nats.url' in the config, or --nats",
    );
  }
  const ackWaitMs = options.ackWaitMs ?? ackWaitFromEnv();
  return startDatabaseService({ natsUrl, config, logger, ...(ackWaitMs ? { ingest: { ackWaitMs } } : {}) });
}

/** `ROSEY_DB_ACK_WAIT_MS`: how long JetStream waits for an ack before redelivering (tests shorten it). */
export function ackWaitFromEnv(): number | undefined {
  const fromEnv = Number(process.env.ROSEY_DB_ACK_WAIT_MS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : undefined;
}
