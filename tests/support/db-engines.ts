import { randomUUID } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import type { DatabaseTarget, Engine } from "../../src/core/db/connection.js";
import type { EmbeddedNats } from "../../src/core/nats/embedded-server.js";
import { startTestPostgres, type TestPostgres } from "./postgres.js";
import { startPrivateNats } from "./private-nats.js";

export interface DatabaseSuite {
  /** The suite's own nats-server (read `.url` in hooks and tests). */
  readonly nats: { readonly url: string };
  /** For `describe.each`: each engine with a function giving a fresh database of it. */
  readonly engines: Array<[Engine, () => Promise<DatabaseTarget>]>;
}

/**
 * For suites that run the database service on both engines: a nats-server and a PostgreSQL of the
 * suite's own, from `beforeAll` to `afterAll`, and a fresh SQLite file (in `dir()`) or PostgreSQL database
 * per call of an engine's target.
 */
export function useDatabaseSuite(dir: () => string): DatabaseSuite {
  let nats: EmbeddedNats | undefined;
  let pg: TestPostgres | undefined;
  beforeAll(async () => {
    [nats, pg] = await Promise.all([startPrivateNats(), startTestPostgres()]);
  });
  afterAll(async () => {
    await nats?.stop();
    await pg?.stop();
  });
  const started = <T>(part: T | undefined): T => {
    if (!part) throw new Error("the database suite's servers run only inside its tests and hooks");
    return part;
  };
  return {
    nats: {
      get url() {
        return started(nats).url;
      },
    },
    engines: [
      ["sqlite", async () => ({ engine: "sqlite", file: path.join(dir(), `${randomUUID()}.sqlite`) })],
      [
        "postgresql",
        async () => ({ engine: "postgresql", url: await started(pg).createDatabase(), poolSize: 5 }),
      ],
    ],
  };
}
