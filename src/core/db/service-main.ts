import { errorMessage } from "../errors.js";
import { runDbCommand } from "./cli.js";

/**
 * Process entry for the database service alone (`node dist/core/db/service-main.js`): what `rosey db`
 * runs, and what the ingestion tests SIGKILL. Prints `ready` on stdout once it serves; stops on
 * SIGINT/SIGTERM. Config comes from the environment (`ROSEY_CONFIG`, `NATS_URL`, `DATABASE_URL`).
 */
try {
  const service = await runDbCommand();
  process.stdout.write("ready\n");
  const stop = () => {
    service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`rosey db: ${errorMessage(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
} catch (err) {
  process.stderr.write(`rosey db: ${errorMessage(err)}\n`);
  process.exit(1);
}
