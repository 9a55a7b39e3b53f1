import { describe, expect, it } from "vitest";
import type { Bus } from "../../src/core/bus.js";
import { silentLogger } from "../../src/core/logger.js";
import { pluginsCheck } from "../../src/core/monitoring/core-monitoring.js";
import { HealthResponder, worstStatus } from "../../src/core/monitoring/health.js";
import type { PluginStatus } from "../../src/core/plugins/plugin-manager.js";

/** `report()` runs the probes only; the bus is used by `start()`, which the integration suite covers. */
const responder = (probes: ConstructorParameters<typeof HealthResponder>[0]["probes"]) =>
  new HealthResponder({ bus: {} as Bus, logger: silentLogger(), service: "x", probes, probeTimeoutMs: 50 });

describe("health reports", () => {
  it("takes the worst status of the checks", () => {
    expect(worstStatus([])).toBe("ok");
    expect(worstStatus(["ok", "degraded", "ok"])).toBe("degraded");
    expect(worstStatus(["degraded", "down", "ok"])).toBe("down");
  });

  it("reports a probe that throws or never settles as down, and still answers for the others", async () => {
    const report = await responder({
      fine: () => ({ name: "fine", status: "ok" }),
      many: async () => [
        { name: "a", status: "ok" },
        { name: "b", status: "degraded", detail: "slow" },
      ],
      thrower: () => {
        throw new Error("pool closed");
      },
      hung: () => new Promise(() => {}),
    }).report();
    expect(report).toMatchObject({ service: "x", status: "down", pid: process.pid });
    expect(report.checks).toEqual([
      { name: "fine", status: "ok" },
      { name: "a", status: "ok" },
      { name: "b", status: "degraded", detail: "slow" },
      { name: "thrower", status: "down", detail: "check failed: pool closed" },
      { name: "hung", status: "down", detail: "no answer within 50 ms" },
    ]);
  });
});

describe("pluginsCheck", () => {
  const plugin = (name: string, state: PluginStatus["state"], lastError?: string) =>
    ({ name, state, lastError }) as PluginStatus;

  it("is ok when every plugin runs", () => {
    expect(pluginsCheck([plugin("dice", "running"), plugin("echo", "running")], [])).toEqual({
      name: "plugins",
      status: "ok",
      detail: "2 of 2 running",
    });
  });

  it("is degraded naming each plugin that does not run, and why", () => {
    const check = pluginsCheck(
      [plugin("dice", "running"), plugin("echo", "failed", "crashed 3 times"), plugin("quotes", "suspended")],
      [{ dir: "/p/broken", error: "invalid manifest" }],
    );
    expect(check).toEqual({
      name: "plugins",
      status: "degraded",
      detail:
        "1 of 4 running; echo failed (crashed 3 times); quotes suspended; /p/broken not loaded (invalid manifest)",
    });
  });
});
