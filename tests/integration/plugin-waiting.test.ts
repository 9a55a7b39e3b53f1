import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { command } from "../support/command.js";
import { type FixturePlugins, startFixturePlugins } from "../support/fixture-plugins.js";

/**
 * A handler waiting on the platform (a storage call on a stalled database, a slow service) is not a stuck
 * worker: killing it would restart, and after `maxRestarts` fail, every plugin that uses storage whenever
 * the database stalls for longer than their deadline.
 */
/** The `waiter` plugin (1 s deadline) beside a slow platform service that answers after `slowMs`. */
function useWaiter(heartbeatMs: number, slowMs: number): { readonly p: FixturePlugins } {
  const state = {} as { p: FixturePlugins };
  beforeAll(async () => {
    state.p = await startFixturePlugins({
      plugins: { waiter: { grants: ["chat.send"] } },
      sandbox: { heartbeatMs },
      prepare: (client) =>
        client.subscribe("rosey.plugins.waiter.slow", (m) => {
          setTimeout(() => m.respond({ n: slowMs }), slowMs);
        }),
    });
  }, 60_000);
  afterAll(async () => {
    await state.p?.stop();
  });
  return state;
}

describe("a handler waiting on the platform past its deadline", () => {
  // The service answers after two and a half deadlines. The deadline is long enough that the handler's
  // request reaches the core before the first judgment, even on a loaded machine.
  const w = useWaiter(100, 2_500);

  it("is not killed: the command completes when the platform answers, with no restart", async () => {
    expect(await w.p.run("waiter", command("wait", ["5000"]))).toEqual({ ok: true, replied: true });
    expect(w.p.manager.status()[0]).toMatchObject({ state: "running", restarts: 0 });
  });

  it("stops being awaited at its sender's deadline, so the plugin's next command is served rather than refused BUSY", async () => {
    // Its request takes 2.5 s, but the router gives up at 1.2 s: from then on the plugin side does too.
    const late = w.p.run("waiter", { ...command("wait", ["5000"]), deadline: Date.now() + 1_200 });
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    // The first handler still waits in the worker. Were the command still awaited, it would be the oldest
    // waiting one, more than a handler deadline (1 s) old, and this one would be refused BUSY.
    const next = await w.p.run("waiter", { ...command("wait", ["5000"]), deadline: Date.now() + 5_000 });
    expect(next).toEqual({ ok: true, replied: true });
    expect(await late).toMatchObject({ ok: false, error: { code: "TIMEOUT" } });
    expect(w.p.manager.status()[0]).toMatchObject({ state: "running", restarts: 0 });
  });

  it("gets the request's own timeout when the platform never answers in time, and still no restart", async () => {
    expect(await w.p.run("waiter", command("wait", ["300"]))).toEqual({ ok: true, replied: true });
    expect(w.p.manager.status()[0]).toMatchObject({ state: "running", restarts: 0 });
  });
});

describe("a request that reaches the core only after the handler's deadline", () => {
  // Heartbeat silence limit 2 s: the 1.3 s of synchronous work below is not a blocked thread to it.
  const w = useWaiter(500, 500);

  it("is not taken for a stuck handler: no request in flight must hold for a second deadline", async () => {
    // At the 1 s deadline the handler is still working and has sent nothing (as when its request is still
    // on its way over a loaded machine); by the second judgment its request is in flight.
    expect(await w.p.run("waiter", command("wait", ["5000", "1300"]))).toEqual({ ok: true, replied: true });
    expect(w.p.manager.status()[0]).toMatchObject({ state: "running", restarts: 0 });
  });
});
