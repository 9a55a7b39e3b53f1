import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { backoffDelay } from "../backoff.js";
import { ERROR_CODES, type ErrorCode, RoseyError } from "../errors.js";
import { databaseUser } from "../nats/component-users.js";
import type { Service, ServiceDeps, ServiceFactory } from "../orchestrator.js";
import { runtimeFile } from "../paths.js";
import { spawnTied, stopChild } from "../tied-child.js";
import {
  configuredLiveness,
  type LivenessOptions,
  type LivenessWatch,
  livenessOptions,
  watchLiveness,
} from "./liveness.js";
import { ackWaitFromEnv, ensureDeadLetterStream, ensureIngestStream } from "./streams.js";

/**
 * The database service as an orchestrator service (`rosey start`), unless `database.enabled === false`.
 * It runs as a child process (`service-main.js --from-core`) that talks to everything over NATS like any
 * other part, for two reasons:
 * - memory: Prisma's clients, query compiler and drivers add ~90 MB, which would triple the core's RSS
 *   (measured: core 181 MB with the service inside, ~80 MB without);
 * - isolation: a crash or leak in the database layer does not take the router and plugins down. Events
 *   wait in JetStream while it restarts (with backoff), so none is lost.
 *
 *   core ──stdin: { config, natsUrl, pingId }──▶ database service ──stdout: "ready"──▶ core
 *
 * A child that cannot start says why on stdout before it exits (`failed {"code","message"}`), so the
 * core's start fails with the child's own error and code (DATABASE_NOT_EMPTY, CHECKSUM_MISMATCH, …).
 * A child that stops answering its liveness pings (liveness.ts) is killed and takes the same restart path
 * as one that died.
 */

const READY_TIMEOUT_MS = 60_000;
/** The child's line saying why it could not start (see service-main.ts). */
export const FAILED = "failed ";
const STOP_GRACE_MS = 10_000;
const RESTART_BASE_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/** A run this long resets the restart backoff. */
const STABLE_RUN_MS = 60_000;

export interface DatabaseProcessOptions {
  /**
   * How the core checks that the process still serves, beyond being alive; replaces the config's
   * `database.liveness`, whose bounds keep operators off intervals below 1 s (tests use shorter ones).
   * @default config `database.liveness`
   */
  liveness?: LivenessOptions;
}

/**
 * The database service's factory with its own options.
 * @throws {RoseyError} VALIDATION_FAILED for invalid options, at once rather than at start.
 */
export function databaseService(options: DatabaseProcessOptions = {}): ServiceFactory {
  const liveness = options.liveness && livenessOptions(options.liveness);
  return (deps) => databaseProcess(deps, liveness ?? configuredLiveness(deps.config));
}

export const databaseServiceFactory: ServiceFactory = databaseService();

function databaseProcess(
  { bus, config, logger, natsUrlFor }: ServiceDeps,
  liveness: Readonly<Required<LivenessOptions>>,
): Service {
  const log = logger.child({ component: "db" });
  let child: ChildProcess | undefined;
  let stopped = false;
  let stopping: Promise<void> | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  /** Whether the current process has said it serves; false from its death until its successor is ready. */
  let serving = false;
  /** Pings the current process while it serves. */
  let watch: LivenessWatch | undefined;
  /** Deaths and failed starts since the last stable run; sets the restart delay. */
  let failures = 0;
  /** Processes started to replace one that died or was killed, since the service started. */
  let restarts = 0;
  /** Why the last process that served is gone, for health. */
  let lastExit: string | undefined;

  /** Starts the process and resolves once it serves; a later death schedules the next one. */
  const spawnService = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const started = Date.now();
      const proc = spawnTied(process.execPath, [runtimeFile("core/db/service-main.js"), "--from-core"], {
        stdio: ["pipe", "pipe", "inherit"],
      });
      child = proc;
      // A new id per process: a predecessor that is somehow still around cannot answer for this one.
      const pingId = randomUUID();
      let ready = false;
      let timedOut = false;
      let unresponsive = false;
      let procWatch: LivenessWatch | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        proc.kill("SIGKILL");
      }, READY_TIMEOUT_MS);
      proc.stdin?.on("error", () => undefined);
      proc.stdin?.end(JSON.stringify({ config, natsUrl: natsUrlFor(databaseUser()), pingId }));
      let failure: RoseyError | undefined;
      if (proc.stdout)
        createInterface({ input: proc.stdout }).on("line", (line) => {
          if (line.startsWith(FAILED)) failure ??= childFailure(line.slice(FAILED.length));
          if (ready || line !== "ready") return;
          ready = true;
          serving = true;
          clearTimeout(timer);
          log.info({ dbPid: proc.pid }, "database service process ready");
          procWatch = watchLiveness(bus, pingId, liveness, log.child({ dbPid: proc.pid }), () => {
            unresponsive = true;
            // SIGKILL, not SIGTERM: a frozen event loop never runs the SIGTERM handler. Nothing is lost:
            // an open transaction rolls back and unacked events are redelivered.
            proc.kill("SIGKILL");
          });
          watch = procWatch;
          resolve();
        });
      proc.once("exit", (code, signal) => {
        clearTimeout(timer);
        procWatch?.stop();
        if (watch === procWatch) watch = undefined;
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
        lastExit = unresponsive ? `killed after ${liveness.maxMissed} missed liveness pings` : "died";
        log.error(
          { dbPid: proc.pid, how, unresponsive },
          unresponsive
            ? "database service process killed as unresponsive; events wait in JetStream"
            : "database service process died; events wait in JetStream",
        );
        restartLater();
      });
    });

  const restartLater = (): void => {
    const delay = backoffDelay(failures++, RESTART_BASE_MS, RESTART_MAX_MS);
    log.info({ restartInMs: delay }, "restarting the database service");
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      restarts++;
      spawnService().catch((err: unknown) => {
        if (stopped) return;
        lastExit = `restart failed: ${(err as Error).message}`;
        log.error({ err: (err as Error).message }, "database service restart failed");
        restartLater();
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
      // With the core's rights: the service's own NATS user may read its store, not make or change it.
      await ensureIngestStream(bus.connection, { ackWaitMs: ackWaitFromEnv(process.env) });
      await ensureDeadLetterStream(bus.connection);
      await spawnService();
    },
    health() {
      if (config.database.enabled === false)
        return { name: "database process", status: "ok", detail: "disabled (database.enabled: false)" };
      const history = restarts
        ? `; ${restarts} restart${restarts === 1 ? "" : "s"} since start (last: ${lastExit})`
        : "";
      const missed = watch?.missed ?? 0;
      if (serving && child && missed === 0)
        return { name: "database process", status: "ok", detail: `pid ${child.pid}${history}` };
      // Degraded, not down: the core still routes commands; storage waits, and events wait in JetStream.
      return {
        name: "database process",
        status: "degraded",
        detail:
          serving && child
            ? `pid ${child.pid} missed ${missed} liveness ping${missed === 1 ? "" : "s"} in a row (killed and restarted at ${liveness.maxMissed})${history}`
            : lastExit
              ? `${lastExit}; restarting (events wait in JetStream)`
              : "starting",
      };
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        watch?.stop();
        clearTimeout(restartTimer);
        if (child) await stopChild(child, STOP_GRACE_MS);
      })();
      return stopping;
    },
  };
}

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
