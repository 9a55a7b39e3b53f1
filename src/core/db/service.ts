import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { backoffDelay } from "../backoff.js";
import { ERROR_CODES, type ErrorCode, RoseyError } from "../errors.js";
import type { ServiceFactory } from "../orchestrator.js";
import { runtimeFile } from "../paths.js";
import { spawnTied, stopChild } from "../tied-child.js";

/**
 * The database service as an orchestrator service (`rosey start`), unless `database.enabled === false`.
 * It runs as a child process (`service-main.js --from-core`) that talks to everything over NATS like any
 * other part, for two reasons:
 * - memory: Prisma's clients, query compiler and drivers add ~90 MB, which would triple the core's RSS
 *   (measured: core 181 MB with the service inside, ~80 MB without);
 * - isolation: a crash or leak in the database layer does not take the router and plugins down. Events
 *   wait in JetStream while it restarts (with backoff), so none is lost.
 *
 *   core ──stdin: { config, natsUrl }──▶ database service ──stdout: "ready"──▶ core
 *
 * A child that cannot start says why on stdout before it exits (`failed {"code","message"}`), so the
 * core's start fails with the child's own error and code (DATABASE_NOT_EMPTY, CHECKSUM_MISMATCH, …).
 */

const READY_TIMEOUT_MS = 60_000;
/** The child's line saying why it could not start (see service-main.ts). */
export const FAILED = "failed ";
const STOP_GRACE_MS = 10_000;
const RESTART_BASE_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/** A run this long resets the restart backoff. */
const STABLE_RUN_MS = 60_000;

export const databaseServiceFactory: ServiceFactory = ({ bus, config, logger }) => {
  const log = logger.child({ component: "db" });
  let child: ChildProcess | undefined;
  let stopped = false;
  let stopping: Promise<void> | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  /** Whether the current process has said it serves; false from its death until its successor is ready. */
  let serving = false;
  /** Deaths and failed starts since the last stable run; sets the restart delay. */
  let failures = 0;

  /** Starts the process and resolves once it serves; a later death schedules the next one. */
  const spawnService = (natsUrl: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const started = Date.now();
      const proc = spawnTied(process.execPath, [runtimeFile("core/db/service-main.js"), "--from-core"], {
        stdio: ["pipe", "pipe", "inherit"],
      });
      child = proc;
      let ready = false;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        proc.kill("SIGKILL");
      }, READY_TIMEOUT_MS);
      proc.stdin?.on("error", () => undefined);
      proc.stdin?.end(JSON.stringify({ config, natsUrl }));
      let failure: RoseyError | undefined;
      if (proc.stdout)
        createInterface({ input: proc.stdout }).on("line", (line) => {
          if (line.startsWith(FAILED)) failure ??= childFailure(line.slice(FAILED.length));
          if (ready || line !== "ready") return;
          ready = true;
          serving = true;
          clearTimeout(timer);
          log.info({ dbPid: proc.pid }, "database service process ready");
          resolve();
        });
      proc.once("exit", (code, signal) => {
        clearTimeout(timer);
        serving = false;
        const how = signal ?? `exit code ${code}`;
        if (!ready) {
          const why = timedOut
            ? `did not start within ${READY_TIMEOUT_MS} ms`
            : `exited before it was ready (${how})`;
          reject(failure ?? new RoseyError("INTERNAL", `The database service ${why}`));
          return;
        }
        if (stopped) return;
        if (Date.now() - started > STABLE_RUN_MS) failures = 0;
        log.error({ dbPid: proc.pid, how }, "database service process died; events wait in JetStream");
        restartLater(natsUrl);
      });
    });

  const restartLater = (natsUrl: string): void => {
    const delay = backoffDelay(failures++, RESTART_BASE_MS, RESTART_MAX_MS);
    log.info({ restartInMs: delay }, "restarting the database service");
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      spawnService(natsUrl).catch((err: unknown) => {
        if (stopped) return;
        log.error({ err: (err as Error).message }, "database service restart failed");
        restartLater(natsUrl);
      });
    }, delay);
  };

  return {
    name: "database",
    async start() {
      if (config.database.enabled === false) {
        log.info("database service disabled (database.enabled: false)");
        return;
      }
      await spawnService(config.nats.url ?? `nats://${bus.connection.getServer()}`);
    },
    health() {
      if (config.database.enabled === false)
        return { name: "database process", status: "ok", detail: "disabled (database.enabled: false)" };
      if (serving && child) return { name: "database process", status: "ok", detail: `pid ${child.pid}` };
      // Degraded, not down: the core still routes commands; storage waits, and events wait in JetStream.
      return {
        name: "database process",
        status: "degraded",
        detail: restartTimer ? "died; restarting (events wait in JetStream)" : "starting",
      };
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        clearTimeout(restartTimer);
        if (child) await stopChild(child, STOP_GRACE_MS);
      })();
      return stopping;
    },
  };
};

/** The child's failure as the core's error: its code when it is one of ours, its message as written. */
function childFailure(json: string): RoseyError {
  try {
    const { code, message } = JSON.parse(json) as { code?: unknown; message?: unknown };
    const known = typeof code === "string" && Object.hasOwn(ERROR_CODES, code);
    return new RoseyError(
      known ? (code as ErrorCode) : "INTERNAL",
      `The database service could not start: ${String(message)}`,
    );
  } catch {
    return new RoseyError("INTERNAL", `The database service could not start: ${json.slice(0, 500)}`);
  }
}
