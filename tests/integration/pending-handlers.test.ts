import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { command } from "../support/command.js";
import { type FixturePlugins, startFixturePlugins } from "../support/fixture-plugins.js";

/**
 * Nothing bounds how long an onEvent may take, so a promise that never settles holds its memory until the
 * worker's heap limit ends it. The count of unsettled handlers makes such a leak visible before that.
 */
describe("handlers whose promise has not settled", () => {
  let p: FixturePlugins;
  const warnings: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    p = await startFixturePlugins({
      plugins: { hanger: { grants: ["basic"] } },
      sandbox: { heartbeatMs: 50 },
      logger: pino({ level: "warn" }, { write: (line: string) => warnings.push(JSON.parse(line)) }),
    });
  }, 60_000);

  afterAll(async () => {
    await p?.stop();
  });

  const pending = () => p.manager.status()[0]?.pendingHandlers;
  const until = async (check: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`still ${pending()} pending`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const events = (content: string, n: number) => {
    for (let i = 0; i < n; i++)
      p.client.publish("rosey.events.message", { platform: "t", channel: "t", user: "u", content });
  };

  it("are counted at each heartbeat, and the count falls when they settle", async () => {
    events("hang", 5);
    events("fine", 3);
    await until(() => pending() === 5);
    expect(await p.run("hanger", command("settle"))).toEqual({ ok: true, replied: true });
    await until(() => pending() === 0);
    expect(p.manager.status()[0]).toMatchObject({ state: "running", restarts: 0 });
  });

  it("draw a warning naming the plugin once a thousand are pending", async () => {
    expect(warnings).toEqual([]);
    events("hang", 1_000);
    await until(() => pending() === 1_000);
    expect(warnings).toEqual([
      expect.objectContaining({
        plugin: "hanger",
        pendingHandlers: 1_000,
        msg: expect.stringContaining("handlers whose promise never settled"),
      }),
    ]);
    await p.run("hanger", command("settle"));
    await until(() => pending() === 0);
  });
});
