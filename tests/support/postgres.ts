import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { freePort } from "../../src/core/nats/embedded-server.js";

/**
 * A PostgreSQL database for one suite. With `TEST_POSTGRES_URL` (an admin URL), a fresh database is created
 * on that server; otherwise a throwaway cluster is started on a free loopback port in a temp dir (initdb +
 * pg_ctl from Debian's `postgresql` package; as the `postgres` user when we are root) and removed after.
 * Call in `beforeAll` and `stop()` in `afterAll`.
 */
export interface TestPostgres {
  /** URL of a database of this suite's own. */
  readonly url: string;
  /** Another fresh database on the same server (for tests that need an empty one). */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

function pgBinDir(): string | undefined {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(path.join(base, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(base, versions[0], "bin") : undefined;
}

/** True when tests can get a PostgreSQL: a URL is given or the server binaries are installed. */
export function postgresAvailable(): boolean {
  return Boolean(process.env.TEST_POSTGRES_URL) || pgBinDir() !== undefined;
}

function run(bin: string, args: string[], asPostgres: boolean): void {
  const [cmd, argv] = asPostgres ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
  const result = spawnSync(cmd, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (result.status !== 0) {
    throw new Error(`${path.basename(bin)} failed (${result.status}): ${result.stderr || result.stdout}`);
  }
}

async function createDb(adminUrl: string): Promise<{ url: string; name: string }> {
  const name = `rosey_test_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), name };
}

async function dropDbs(adminUrl: string, names: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    for (const name of names) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const given = process.env.TEST_POSTGRES_URL;
  const created: string[] = [];
  if (given) {
    const first = await createDb(given);
    created.push(first.name);
    return {
      url: first.url,
      async createDatabase() {
        const db = await createDb(given);
        created.push(db.name);
        return db.url;
      },
      async stop() {
        await dropDbs(given, created);
      },
    };
  }
  const bin = pgBinDir();
  if (!bin)
    throw new Error(
      "PostgreSQL server binaries not found: apt-get install -y postgresql, or set TEST_POSTGRES_URL",
    );
  const asPostgres = process.getuid?.() === 0;
  const dir = mkdtempSync(path.join(os.tmpdir(), "rosey-pg-"));
  const dataDir = path.join(dir, "data");
  if (asPostgres) {
    const uid = Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim());
    const gid = Number(spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout.trim());
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  const port = await freePort();
  run(
    path.join(bin, "initdb"),
    ["-D", dataDir, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
    asPostgres,
  );
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  run(
    path.join(bin, "pg_ctl"),
    ["-D", dataDir, "-o", options, "-l", path.join(dir, "log"), "-w", "-t", "60", "start"],
    asPostgres,
  );
  const admin = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  let stopped = false;
  const stopCluster = () => {
    if (stopped) return;
    stopped = true;
    try {
      run(path.join(bin, "pg_ctl"), ["-D", dataDir, "-m", "immediate", "-w", "stop"], asPostgres);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  process.once("exit", stopCluster);
  const first = await createDb(admin);
  return {
    url: first.url,
    async createDatabase() {
      return (await createDb(admin)).url;
    },
    async stop() {
      stopCluster();
    },
  };
}
