import { existsSync, readdirSync, readFileSync } from "node:fs";

/**
 * What a test left running, seen from outside Node (Linux /proc): worker threads are OS threads of this
 * process until they have exited, and forked helpers (a plugin host, esbuild) are its child processes.
 */

/** Whether /proc can answer (Linux). */
export const CAN_SEE_LEFTOVERS = existsSync("/proc/self/task");

/** OS threads of this process. */
export function osThreads(): number {
  return readdirSync("/proc/self/task").length;
}

/** Pids of this process's children that are still running (not zombies). */
export function childProcesses(): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // ended meanwhile
    }
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so fields are read after the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(ppid) === process.pid && state !== "Z") children.push(Number(entry));
  }
  return children;
}
