import type { ServiceFactory } from "../orchestrator.js";

/**
 * The database service as an orchestrator service (`rosey start`): enabled unless
 * `database.enabled === false`. Loaded lazily so that nothing imports Prisma until the service starts.
 */
export const databaseServiceFactory: ServiceFactory = ({ bus, config, logger }) => {
  let running: { stop(): Promise<void> } | undefined;
  let stopping: Promise<void> | undefined;
  return {
    name: "database",
    async start() {
      if (config.database.enabled === false) {
        logger.info("database service disabled (database.enabled: false)");
        return;
      }
      const { startDatabaseService } = await import("./database-service.js");
      // The service opens a connection of its own (source `db`) to the same server as the core bus.
      const natsUrl = config.nats.url ?? `nats://${bus.connection.getServer()}`;
      running = await startDatabaseService({ natsUrl, config, logger });
    },
    stop() {
      stopping ??= running ? running.stop() : Promise.resolve();
      return stopping;
    },
  };
};
