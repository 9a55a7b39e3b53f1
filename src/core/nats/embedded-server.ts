import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { RoseyError } from "../errors.js";
import { writePrivateFile } from "../private-file.js";
import { spawnTied, stopChild } from "../tied-child.js";
import { CORE_USER, type ComponentUser } from "./component-users.js";
import { findExecutable, natsInstallHint } from "./install-hint.js";
import { removeRuntimeFile, writeRuntimeFile } from "./runtime-file.js";

export interface EmbeddedNatsOptions {
  /** Binary name or path. @default "nats-server" */
  bin?: string;
  /** JetStream store lives under `<dataDir>/jetstream`. */
  dataDir: string;
  /** @default a free loopback port */
  port?: number;
  /** How long to wait for the server to accept connections. @default 10000 */
  startTimeoutMs?: number;
  /** Largest message the server accepts. @default 1 MiB */
  maxPayloadBytes?: number;
  /**
   * The password of the core's user (`rosey`). @default a new random one at each start. Give a stopped
   * server's to replace it on the same port while its clients reconnect (tests).
   */
  password?: string;
  /** Users besides the core's, each with its permissions (component-users.ts); passwords are new at each start. */
  components?: readonly ComponentUser[];
}

export interface EmbeddedNats {
  /**
   * `nats://rosey:<secret>@127.0.0.1:<port>`: it carries the credentials (see `natsConnectOptions`), so
   * logs and messages show it through `redactUrl`.
   */
  readonly url: string;
  /** The URL of a user given in `components`, credentials and all. */
  urlFor(user: ComponentUser): string;
  readonly port: number;
  readonly pid: number;
  /** Resolves when the child has exited; idempotent. */
  stop(): Promise<void>;
}

/** Asks the kernel for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** What nats-server prints once its listeners (and JetStream) are up. */
const READY_LINE = "Server is ready";
/** Free ports are picked before the server binds them; another process may take one first. */
const PORT_ATTEMPTS = 5;

/**
 * Starts a `nats-server` child on loopback with JetStream in `dataDir` and waits until it says it is ready.
 * Readiness is read from the server's own log, not from the port accepting connections: when another
 * process takes the port between picking and binding, the port accepts but the server is someone else's
 * (ours exits with "address already in use"), and a picked port is then retried with another.
 * The child is tied to this process (tied-child.ts): it dies with it, even on SIGKILL.
 *
 * Loopback is not private: every local process and user can reach the port. Without credentials any of
 * them could speak as the bot, forge the core's envelopes (database, admin) or read every event and PM,
 * so the server requires a password made at each start. The core's is in the server's config file and in
 * the runtime file, both readable by this user only (0600), and in `url`. Each of `components` has a user
 * and password of its own, limited to its subjects.
 */
export async function startEmbeddedNats(options: EmbeddedNatsOptions): Promise<EmbeddedNats> {
  const bin = findExecutable(options.bin ?? "nats-server");
  if (!bin) throw new RoseyError("NATS_SERVER_MISSING", natsInstallHint());
  const storeDir = path.join(options.dataDir, "jetstream");
  mkdirSync(storeDir, { recursive: true });
  await removeStaleConfigFiles(options.dataDir);
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      return await launch(bin, port, storeDir, options);
    } catch (err) {
      const retry = options.port === undefined && attempt < PORT_ATTEMPTS;
      if (!(retry && err instanceof RoseyError && err.details?.addressInUse === true)) throw err;
    }
  }
}

/**
 * A server's config file holds its passwords and is removed when it stops; one killed with its platform (a
 * second SIGINT, SIGKILL) leaves it behind. A `nats-<port>.conf` whose port nothing listens on belongs to no
 * running server: removed at the next start on that data dir. (`rosey start` holds the data dir's lock, so
 * no other server of this data dir is between writing its file and binding its port.)
 */
async function removeStaleConfigFiles(dataDir: string): Promise<void> {
  for (const name of readdirSync(dataDir)) {
    const port = Number(/^nats-(\d+)\.conf$/.exec(name)?.[1]);
    if (port > 0 && port < 65_536 && (await portIsFree(port)))
      rmSync(path.join(dataDir, name), { force: true });
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function launch(
  bin: string,
  port: number,
  storeDir: string,
  options: EmbeddedNatsOptions,
): Promise<EmbeddedNats> {
  // nats-server 2.9 has no --max_payload flag, so settings go through a config file; it also keeps the
  // password out of the server's argv, which every local user can read.
  const confFile = path.join(options.dataDir, `nats-${port}.conf`);
  // base64url: nothing to escape in the config file or the URL.
  const newPassword = () => randomBytes(32).toString("base64url");
  const password = options.password ?? newPassword();
  const components = new Map((options.components ?? []).map((c) => [c.user, { c, password: newPassword() }]));
  const users = [
    { user: CORE_USER, password },
    ...[...components.values()].map(({ c, password }) => ({
      user: c.user,
      password,
      permissions: {
        publish: { allow: c.publish },
        subscribe: { allow: c.subscribe },
        // Lets it answer a request on the asker's inbox, once, without any other right there.
        allow_responses: true,
      },
    })),
  ];
  writePrivateFile(
    confFile,
    [
      `listen: "127.0.0.1:${port}"`,
      `max_payload: ${options.maxPayloadBytes ?? 1024 * 1024}`,
      `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
      // The config format reads JSON; a quoted "$JS.API…" is a string, not a variable.
      `authorization { users: ${JSON.stringify(users)} }`,
    ].join("\n"),
  );
  const child = spawnTied(bin, ["-c", confFile], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  let ready = false;
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
    ready ||= stderr.includes(READY_LINE);
  });

  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  let spawnError: Error | undefined;
  child.once("error", (err) => {
    spawnError = err;
  });
  while (!ready) {
    if (spawnError || child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      rmSync(confFile, { force: true });
      const why =
        spawnError?.message ?? (child.exitCode !== null ? `exited with code ${child.exitCode}` : "timed out");
      throw new RoseyError(
        "NATS_START_FAILED",
        `nats-server on port ${port} did not start (${why}): ${stderr.trim()}`,
        { details: { addressInUse: stderr.includes("address already in use") } },
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }

  let stopping: Promise<void> | undefined;
  const urlOf = (user: string, secret: string) =>
    `nats://${user}:${encodeURIComponent(secret)}@127.0.0.1:${port}`;
  const url = urlOf(CORE_USER, password);
  const pid = child.pid ?? -1;
  writeRuntimeFile(options.dataDir, { url, pid });
  return {
    url,
    urlFor(user) {
      const entry = components.get(user.user);
      if (!entry) throw new RoseyError("INTERNAL", `The embedded nats-server has no user ${user.user}`);
      return urlOf(user.user, entry.password);
    },
    port,
    pid,
    stop() {
      stopping ??= (async () => {
        await stopChild(child, 3_000);
        rmSync(confFile, { force: true });
        removeRuntimeFile(options.dataDir, pid);
      })();
      return stopping;
    },
  };
}
