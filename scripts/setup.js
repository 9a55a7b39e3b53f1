#!/usr/bin/env node
// Post-build setup run by `npm install` (the `prepare` script): makes the machine ready to run Rosey
// offline. It never fails the install: anything it cannot do, it explains and moves on.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

function run(command, args) {
  process.stderr.write(`rosey setup: ${command} ${args.join(" ")}\n`);
  const result = spawnSync(command, args, { stdio: ["ignore", "inherit", "inherit"] });
  return result.status === 0;
}

/** nats-server: apt-get it when we are root on Debian/Ubuntu, otherwise print how to install it. */
function ensureNatsServer({ findExecutable, natsInstallHint }) {
  if (findExecutable("nats-server")) return;
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const apt = findExecutable("apt-get");
  if (isRoot && apt && existsSync("/etc/debian_version")) {
    process.env.DEBIAN_FRONTEND = "noninteractive";
    if (
      run(apt, ["install", "-y", "nats-server"]) ||
      (run(apt, ["update"]) && run(apt, ["install", "-y", "nats-server"]))
    ) {
      if (findExecutable("nats-server")) {
        process.stderr.write("rosey setup: nats-server installed\n");
        return;
      }
    }
    process.stderr.write("rosey setup: apt-get could not install nats-server\n");
  }
  process.stderr.write(`${natsInstallHint()}\n`);
}

// Database (Prisma client generation, offline engines) setup goes here; owned by the database service.

try {
  // The one install hint, shared with `rosey start` (the build has just run).
  ensureNatsServer(await import("../dist/core/nats/install-hint.js"));
} catch (err) {
  process.stderr.write(`rosey setup: skipped (${err instanceof Error ? err.message : String(err)})\n`);
}
process.exit(0);
