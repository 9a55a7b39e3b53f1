import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { command } from "../support/command.js";
import { type FixturePlugins, startFixturePlugins } from "../support/fixture-plugins.js";

/**
 * The watchdog judges workers by what the core has heard from them. When the core itself stalls (a long GC,
 * a busy machine, a debugger), the workers' answers wait in its queue; the timers that judge them fire first
 * when it resumes. Healthy workers must not be killed for the core's own silence.
 */
function stallCore(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // The core's event loop is blocked, as in a long pause.
  }
}

describe.each(["process", "thread"] as const)("a stall of the core itself (%s isolation)", (isolation) => {
  let p: FixturePlugins;

  beforeAll(async () => {
    p = await startFixturePlugins({
      plugins: { steady: { grants: ["chat.send"] }, plodder: { grants: ["chat.send"] } },
      // Silence limit 400 ms (4 heartbeats); the stalls below are twice that.
      sandbox: { isolation, heartbeatMs: 100 },
    });
  }, 60_000);

  afterAll(async () => {
    await p?.stop();
  });

  const restarts = () => Object.fromEntries(p.manager.status().map((s) => [s.name, [s.state, s.restarts]]));

  it("does not kill workers whose heartbeat answers wait in the core's own queue", async () => {
    expect(await p.run("steady", command("ping"))).toEqual({ ok: true, replied: true });
    stallCore(800);
    await new Promise((r) => setTimeout(r, 300));
    expect(restarts()).toEqual({ plodder: ["running", 0], steady: ["running", 0] });
    expect(await p.run("steady", command("ping"))).toEqual({ ok: true, replied: true });
  });

  it("does not take a command that completed during the stall for one past its deadline", async () => {
    // 30 ms of work against the plodder's 100 ms deadline; the result arrives while the core is stalled.
    const result = p.run("plodder", command("plod", ["30"]));
    await new Promise((r) => setTimeout(r, 50));
    stallCore(800);
    expect(await result).toEqual({ ok: true, replied: true });
    expect(restarts()).toEqual({ plodder: ["running", 0], steady: ["running", 0] });
  });
});
