import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { ProcessSpawner } from "../../src/core/plugins/plugin-host-process.js";
import { type FixturePlugins, startFixturePlugins } from "../support/fixture-plugins.js";

/**
 * Ctrl-C signals the whole process group, and a service manager's stop signals the whole cgroup: the plugin
 * host receives the core's SIGINT or SIGTERM. Its life is the core's to end, so that the plugins stop in
 * order (their stop() runs) and no crash is reported for a clean stop. A host that dies on its own is a crash.
 */

interface Line {
  level: number;
  msg: string;
}
const ERROR = 50;

describe("the plugin host and the stop signals of its process group", () => {
  let fixtures: FixturePlugins | undefined;
  let lines: Line[] = [];

  afterEach(async () => {
    await fixtures?.stop();
    fixtures = undefined;
    lines = [];
  });

  /** The tidy fixture running in a plugin host; returns the host's pid. */
  const start = async (): Promise<number> => {
    const logger = pino(
      { level: "debug" },
      { write: (line: string) => lines.push(JSON.parse(line) as Line) },
    );
    fixtures = await startFixturePlugins({
      plugins: { tidy: { grants: ["chat.send"] } },
      sandbox: { isolation: "process" },
      logger,
    });
    const pid = (fixtures.manager.spawner as ProcessSpawner).hostPid;
    expect(pid).toBeGreaterThan(0);
    return pid as number;
  };
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`a ${signal} to the host leaves it to the core: the plugins' stop() runs, nothing is logged as a crash`, async () => {
      const pid = await start();
      process.kill(pid, signal);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(alive(pid)).toBe(true);
      await fixtures?.stop();
      fixtures = undefined;
      expect(lines.map((l) => l.msg)).toContain("tidy stopped cleanly");
      expect(lines.filter((l) => l.level >= ERROR)).toEqual([]);
      await expect.poll(() => alive(pid)).toBe(false);
    });
  }

  it("a host that dies while the platform runs is an error at once (SIGKILL)", async () => {
    const pid = await start();
    process.kill(pid, "SIGKILL");
    await expect
      .poll(() => lines.find((l) => l.level === ERROR && /plugin host process/.test(l.msg))?.msg, {
        timeout: 5_000,
      })
      .toBe("plugin host process died (SIGKILL)");
  });
});
