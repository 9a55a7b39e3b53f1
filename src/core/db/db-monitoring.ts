import { Counter, Gauge } from "prom-client";
import type { Bus } from "../bus.js";
import type { Logger } from "../logger.js";
import { HealthResponder } from "../monitoring/health.js";
import { createRegistry, MetricsPublisher } from "../monitoring/metrics.js";
import type { Database } from "./connection.js";
import type { Ingestor } from "./ingestion.js";
import type { StorageMetrics } from "./storage-metrics.js";
import { CONSUMER_NAME, DEAD_LETTER_STREAM, STREAM_NAME } from "./streams.js";

/**
 * The database service's answer to `rosey.monitoring.health` and its metrics. Health is a real round trip
 * to the database (a pool that lost its server answers nothing else either) and the ingestion backlog as
 * JetStream counts it, so "events are piling up" shows before anyone misses them.
 */

export interface DbMonitoringOptions {
  bus: Bus;
  db: Database;
  ingestor: Ingestor;
  /** Plugins' storage requests, counted by the request handlers. */
  storage: StorageMetrics;
  logger: Logger;
}

export interface DbMonitoring {
  stop(): void;
}

export async function startDbMonitoring(options: DbMonitoringOptions): Promise<DbMonitoring> {
  const { bus, db, ingestor, logger } = options;
  const jsm = await bus.connection.jetstreamManager();
  const waiting = async (): Promise<number> => {
    const info = await jsm.consumers.info(STREAM_NAME, CONSUMER_NAME);
    return info.num_pending + info.num_ack_pending;
  };
  const registry = createRegistry("database");
  options.storage.register(registry);
  new Gauge({
    name: "rosey_db_events_written",
    help: "Events the ingestion wrote to the database since this process started",
    registers: [registry],
    collect() {
      this.set(ingestor.written);
    },
  });
  new Counter({
    name: "rosey_db_events_dead_lettered_total",
    help: "Events set aside on the ROSEY_DB_DEADLETTER stream since this process started (refused by the database, or invalid)",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(ingestor.deadLettered);
    },
  });
  new Gauge({
    name: "rosey_db_events_waiting",
    help: "Events in JetStream not yet written (pending plus in hand)",
    registers: [registry],
    async collect() {
      this.set(await waiting());
    },
  });
  const health = new HealthResponder({
    bus,
    logger,
    service: "database",
    probes: {
      database: async () => {
        const started = performance.now();
        await db.prisma.$queryRawUnsafe("SELECT 1");
        const ms = (performance.now() - started).toFixed(1);
        return { name: "database", status: "ok", detail: `${db.description}, answered in ${ms} ms` };
      },
      ingestion: async () => ({
        name: "ingestion",
        status: "ok",
        detail: `${ingestor.written} events written since start, ${await waiting()} waiting, ${ingestor.deadLettered} set aside (${DEAD_LETTER_STREAM})`,
      }),
    },
  });
  const metrics = new MetricsPublisher({
    bus,
    logger,
    service: "database",
    registry,
    // Answered on request only: a periodic publish would need its NATS user to publish on the subject it
    // listens on, which no part may (nats/component-users.ts).
    intervalMs: 0,
  });
  await health.start();
  await metrics.start();
  return {
    stop() {
      health.stop();
      metrics.stop();
    },
  };
}
