// Measures the sandbox watchdog on this machine: how fast a misbehaving worker is ended, how long a
// restart takes, and how responsive the core's main thread stays meanwhile. Run after `npm run build`:
//   node bench/sandbox-watchdog.mjs [--isolation process|thread] [--runs N] [--json FILE]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { createBus } from "../dist/core/bus.js";
import { validateConfig } from "../dist/core/config/load.js";
import { silentLogger } from "../dist/core/logger.js";
import { startEmbeddedNats } from "../dist/core/nats/embedded-server.js";
import { PluginManager } from "../dist/core/plugins/plugin-manager.js";

const { values } = parseArgs({
  options: {
    isolation: { type: "string", default: "process" },
    runs: { type: "string", default: "5" },
    json: { type: "string" },
  },
});
const runs = Number(values.runs);
const fixtures = path.resolve(import.meta.dirname, "../tests/fixtures/sandbox-plugins");
const plugins = ["spinner", "looper", "bomber", "steady"];
const dataDir = mkdtempSync(path.join(os.tmpdir(), "rosey-watchdog-"));
const nats = await startEmbeddedNats({ dataDir });
const bus = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
const config = validateConfig(
  {
    plugins: {
      directory: fixtures,
      enabled: plugins,
      entries: Object.fromEntries(plugins.map((p) => [p, { grants: ["chat.send"] }])),
    },
    sandbox: { isolation: values.isolation, maxRestarts: 100 },
  },
  "watchdog bench",
);
const manager = new PluginManager({ bus, config, logger: silentLogger() });
await manager.start();

const state = (name) => manager.status().find((s) => s.name === name);
const command = (name) => ({
  name,
  args: [],
  text: "",
  user: "bench",
  rank: 0,
  platform: "bench",
  channel: "bench",
  correlationId: `w-${Math.random()}`,
});
const run = (plugin, name) =>
  bus.request(`rosey.commands.${plugin}.execute`, command(name), { timeoutMs: 30_000 });
async function until(predicate) {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > 30_000) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 2));
  }
  return performance.now();
}
const summary = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return {
    min: +s[0].toFixed(1),
    median: +s[Math.floor(s.length / 2)].toFixed(1),
    max: +s[s.length - 1].toFixed(1),
  };
};

const result = { isolation: values.isolation, runs, heartbeatMs: config.sandbox.heartbeatMs, cases: {} };
for (const [label, plugin, cmd] of [
  ["handler deadline (spinner, handlerTimeoutMs 300)", "spinner", "spin"],
  ["heartbeat silence (looper: spins in a timer)", "looper", "loop"],
]) {
  const kill = [];
  const restart = [];
  const loopP99 = [];
  for (let i = 0; i < runs; i++) {
    await until(() => state(plugin)?.state === "running");
    const restarts = state(plugin).restarts;
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const sent = performance.now();
    await run(plugin, cmd);
    const ended = await until(() => state(plugin)?.restarts > restarts);
    delay.disable();
    const back = await until(() => state(plugin)?.state === "running");
    kill.push(ended - sent);
    restart.push(back - ended);
    loopP99.push(delay.percentile(99) / 1e6);
  }
  result.cases[label] = {
    killAfterMs: summary(kill),
    restartMs: summary(restart),
    mainLoopDelayP99Ms: summary(loopP99),
  };
}
if (values.isolation === "process") {
  await until(() => state("steady")?.state === "running");
  const sent = performance.now();
  await run("bomber", "bomb").catch(() => undefined);
  await until(() => state("bomber")?.state === "failed");
  const quarantined = performance.now();
  await until(() => state("steady")?.state === "running" && manager.spawner.hostStarts === 2);
  const restored = performance.now();
  result.cases["single huge allocation (host abort)"] = {
    quarantinedAfterMs: +(quarantined - sent).toFixed(1),
    othersRestoredAfterMs: +(restored - sent).toFixed(1),
  };
}
await manager.stop();
await bus.close();
await nats.stop();
rmSync(dataDir, { recursive: true, force: true });
console.log(JSON.stringify(result, null, 2));
if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2));
