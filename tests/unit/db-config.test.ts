import path from "node:path";
import { describe, expect, it } from "vitest";
import { validateConfig } from "../../src/core/config/load.js";
import { configSchema } from "../../src/core/config/schema.js";
import { isStatementTimeout, resolveDatabaseTarget } from "../../src/core/db/connection.js";
import { kvRequestSchemas, pluginOfSource } from "../../src/core/db/kv-protocol.js";
import { configuredLiveness, LIVENESS_DEFAULTS } from "../../src/core/db/liveness.js";
import { RoseyError } from "../../src/core/errors.js";
import { thrownRoseyError } from "../support/rosey-error.js";

const config = (database: object = {}) => configSchema.parse({ dataDir: "/srv/rosey", database });

describe("database choice", () => {
  it("prefers DATABASE_URL, then database.url, then database.path, then <dataDir>/rosey.sqlite", () => {
    const pg = "postgresql://u:p@db:5432/rosey?connection_limit=4";
    expect(
      resolveDatabaseTarget(config({ url: "postgres://x/y", path: "a.sqlite" }), { DATABASE_URL: pg }),
    ).toEqual({
      engine: "postgresql",
      url: pg,
      poolSize: 4,
    });
    expect(resolveDatabaseTarget(config({ url: "postgres://x/y", path: "a.sqlite" }), {})).toEqual({
      engine: "postgresql",
      url: "postgres://x/y",
      poolSize: 10,
    });
    expect(resolveDatabaseTarget(config({ path: "a.sqlite" }), {})).toEqual({
      engine: "sqlite",
      file: path.resolve("/srv/rosey", "a.sqlite"),
    });
    expect(resolveDatabaseTarget(config(), {})).toEqual({
      engine: "sqlite",
      file: "/srv/rosey/rosey.sqlite",
    });
    expect(resolveDatabaseTarget(config({ url: "file:db/x.sqlite" }), {})).toEqual({
      engine: "sqlite",
      file: "/srv/rosey/db/x.sqlite",
    });
  });

  it("refuses other URL schemes with CONFIG_INVALID, without echoing the password", () => {
    let err: unknown;
    try {
      resolveDatabaseTarget(config(), { DATABASE_URL: "mysql://root:hunter2@db/rosey" });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: "CONFIG_INVALID",
      message: expect.stringContaining("mysql://root:***@db/rosey"),
    });
    expect((err as Error).message).not.toContain("hunter2");
  });
});

describe("storage protocol schemas", () => {
  it("takes the namespace only from a plugin source", () => {
    expect(pluginOfSource("plugin:quotes")).toBe("quotes");
    expect(pluginOfSource("plugin:my-plugin")).toBe("my-plugin");
    for (const s of [
      "core",
      "plugin:",
      "plugin:Quotes",
      "plugin:a.b",
      "plugin:a>",
      "connector:cytube",
      "plugin:quotes ",
    ]) {
      expect(pluginOfSource(s)).toBeUndefined();
    }
  });

  it("validates every operation's request strictly, with defaults", () => {
    expect(kvRequestSchemas.query.parse({ collection: "quotes" })).toEqual({
      collection: "quotes",
      limit: 100,
      offset: 0,
    });
    expect(kvRequestSchemas.query.safeParse({ collection: "q", offset: -1 }).success).toBe(false);
    expect(kvRequestSchemas.query.parse({ collection: "q", order: { field: "n" } }).order).toEqual({
      field: "n",
      direction: "asc",
    });
    expect(kvRequestSchemas.set.safeParse({ collection: "q", key: "k", value: null }).success).toBe(false);
    expect(kvRequestSchemas.get.safeParse({ collection: "q", key: "k", extra: 1 }).success).toBe(false);
    expect(kvRequestSchemas.get.safeParse({ collection: "q", key: "x".repeat(257) }).success).toBe(false);
    expect(kvRequestSchemas.count.safeParse({ collection: "q", filter: { "a.b": 1 } }).success).toBe(false);
    expect(kvRequestSchemas.count.safeParse({ collection: "q", filter: { ok_field: [1] } }).success).toBe(
      true,
    );
  });
});

describe("database.statementTimeoutMs", () => {
  it("defaults to 5000 ms and takes 100 to 600000", () => {
    expect(config().database.statementTimeoutMs).toBe(5_000);
    for (const ms of [100, 600_000])
      expect(config({ statementTimeoutMs: ms }).database.statementTimeoutMs).toBe(ms);
    for (const ms of [0, 99, 600_001, 1.5, "5000"])
      expect(configSchema.safeParse({ database: { statementTimeoutMs: ms } }).success, String(ms)).toBe(
        false,
      );
  });

  it("is refused out of range with the key, the rule and the value", () => {
    expect(
      thrownRoseyError(() => validateConfig({ database: { statementTimeoutMs: 50 } }, "test")),
    ).toMatchObject({
      code: "CONFIG_INVALID",
      message: expect.stringMatching(/'database\.statementTimeoutMs' .*100.*: current value is 50/),
    });
  });

  it("tells PostgreSQL's cancellation, as Prisma passes it on, from other failures", () => {
    // The shape Prisma 7 gives for a statement cut by statement_timeout through @prisma/adapter-pg
    // (tests/integration/db-statement-timeout.test.ts meets the real one).
    const cut = Object.assign(new Error("Raw query failed. Code: `57014`"), {
      code: "P2010",
      meta: {
        driverAdapterError: {
          name: "DriverAdapterError",
          cause: {
            originalCode: "57014",
            kind: "postgres",
            message: "canceling statement due to statement timeout",
          },
        },
      },
    });
    expect(isStatementTimeout(cut)).toBe(true);
    expect(isStatementTimeout(new RoseyError("MIGRATION_FAILED", "wrapped", { cause: cut }))).toBe(true);
    const unique = { meta: { driverAdapterError: { cause: { originalCode: "23505" } } } };
    for (const other of [unique, new Error("57014"), { code: "57014" }, undefined, null, "57014"])
      expect(isStatementTimeout(other)).toBe(false);
  });
});

describe("database.liveness", () => {
  it("defaults to the liveness defaults (5 s interval, 2 s timeout, 3 misses), as options", () => {
    expect(config().database.liveness).toEqual({ intervalMs: 5_000, timeoutMs: 2_000, misses: 3 });
    expect(configuredLiveness(config())).toEqual(LIVENESS_DEFAULTS);
    const options = configuredLiveness(
      config({ liveness: { intervalMs: 2_000, timeoutMs: 500, misses: 5 } }),
    );
    expect(options).toEqual({ intervalMs: 2_000, timeoutMs: 500, maxMissed: 5 });
    expect(Object.isFrozen(options)).toBe(true);
  });

  it("bounds each key", () => {
    for (const liveness of [
      { intervalMs: 999 },
      { intervalMs: 600_001 },
      { timeoutMs: 99 },
      { intervalMs: 600_000, timeoutMs: 300_001 },
      { misses: 0 },
      { misses: 101 },
      { misses: 2.5 },
      { interval: 5_000 },
    ])
      expect(configSchema.safeParse({ database: { liveness } }).success, JSON.stringify(liveness)).toBe(
        false,
      );
  });

  it("refuses a timeout not below the interval, naming both keys", () => {
    for (const liveness of [{ intervalMs: 2_000 }, { intervalMs: 3_000, timeoutMs: 3_000 }]) {
      const err = thrownRoseyError(() => validateConfig({ database: { liveness } }, "test"));
      expect(err.code).toBe("CONFIG_INVALID");
      expect(err.message).toContain(
        `'database.liveness.timeoutMs' must be less than 'database.liveness.intervalMs' (a ping would still be waiting when the next one is due): current value is`,
      );
    }
    expect(config({ liveness: { intervalMs: 3_000, timeoutMs: 2_999 } }).database.liveness.timeoutMs).toBe(
      2_999,
    );
  });
});
