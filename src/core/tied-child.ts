import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { findExecutable } from "./nats/install-hint.js";

/**
 * Children of the core that must not outlive it (the embedded nats-server, the database service). Each is
 * started under `setpriv --pdeathsig SIGKILL` where available, so the kernel kills it even when the core
 * is SIGKILLed; an `exit` hook kills what is left when the core crashes or calls process.exit.
 */
export function spawnTied(bin: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const setpriv = process.platform === "linux" ? findExecutable("setpriv") : undefined;
  const child = setpriv
    ? spawn(setpriv, ["--pdeathsig", "SIGKILL", "--", bin, ...args], options)
    : spawn(bin, [...args], options);
  liveChildren.add(child);
  child.once("exit", () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // 'exit' hooks still run on an uncaught exception or process.exit; kill() is synchronous there.
    process.on("exit", () => {
      for (const c of liveChildren) c.kill("SIGKILL");
    });
  }
  return child;
}

/** Resolves once the child has exited (at once if it already has). */
function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child is gone. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  const exited = exitOf(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  // A stopped process (SIGSTOP, a debugger) holds SIGTERM until it runs again: the grace would be spent
  // waiting for nothing. SIGCONT lets it take the SIGTERM now; a running process ignores it.
  child.kill("SIGCONT");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
