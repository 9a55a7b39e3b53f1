import { validateConfig } from "../config/load.js";
import { errorMessage, isRoseyError } from "../errors.js";
import { runDbCommand } from "./cli.js";
import type { DatabaseService } from "./database-service.js";
import { FAILED } from "./service.js";

/**
 * Process entry for the database service alone (`node dist/core/db/service-main.js`). Prints `ready` on
 * stdout once it serves; stops on SIGINT/SIGTERM.
 *
 * - With `--from-core`, `rosey start` runs it as its child (db/service.ts): the core writes
 *   `{ config, natsUrl, pingId }` as JSON on stdin, so the child serves exactly the core's resolved config
 *   (file, env overrides and CLI flags already applied) without secrets in its argv or environment, and
 *   answers the core's liveness pings under `pingId` (liveness.ts).
 * - Otherwise config comes from the environment (`ROSEY_CONFIG`, `NATS_URL`, `DATABASE_URL`): what the
 *   ingestion tests start and SIGKILL.
 */
async function fromCore(): Promise<DatabaseService> {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  const {
    config: raw,
    natsUrl,
    pingId,
  } = JSON.parse(text) as { config: unknown; natsUrl: string; pingId: string };
  return runDbCommand({
    resolved: { config: validateConfig(raw, "the core's config (stdin)"), natsUrl, pingId },
  });
}

try {
  const service = process.argv.includes("--from-core") ? await fromCore() : await runDbCommand();
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
  // Under the core, the core reports it (once, with its code); alone, this line is the report.
  if (process.argv.includes("--from-core"))
    process.stdout.write(
      `${FAILED}${JSON.stringify({ code: isRoseyError(err) ? err.code : "INTERNAL", message: errorMessage(err) })}\n`,
    );
  else process.stderr.write(`rosey db: ${errorMessage(err)}\n`);
  process.exit(1);
}
