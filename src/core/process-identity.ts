import { readFileSync } from "node:fs";

/**
 * Files that name a process (the data dir lock, the embedded server's runtime file) must tell "that process
 * still runs" from "another process now has its pid": after a reboot or a long uptime pids come round again,
 * and a lock naming a pid some unrelated process now holds would block every start until removed by hand.
 * So such files also record when the process started; where the system says (Linux: `/proc`), a pid whose
 * process started at another time, or in another boot, is not the one named.
 */

/** What a file records of a process. `started` is absent where the system does not say (then the pid decides). */
export interface ProcessIdentity {
  readonly pid: number;
  readonly started?: string | undefined;
}

/** The identity of a running process, to be written beside its pid. */
export function processIdentity(pid: number): ProcessIdentity {
  const started = startedMark(pid);
  return started === undefined ? { pid } : { pid, started };
}

/**
 * Whether the process a file recorded still runs. A record without `started` (written where the system did
 * not say, or by an older Rosey) is judged by its pid alone.
 */
export function isSameProcess(recorded: ProcessIdentity): boolean {
  if (!isRunning(recorded.pid)) return false;
  if (recorded.started === undefined) return true;
  const now = startedMark(recorded.pid);
  // Unreadable now (it exited meanwhile, or /proc is hidden from us): the pid, which runs, decides.
  return now === undefined || now === recorded.started;
}

/** Whether a process with this pid runs (as anyone). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** `<boot id>:<start time in clock ticks since boot>`, which no two processes of one machine share. */
function startedMark(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may itself hold spaces and parentheses; starttime is field 22,
    // the 20th after it.
    const ticks = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    if (!ticks || !/^\d+$/.test(ticks)) return undefined;
    return `${bootId()}:${ticks}`;
  } catch {
    return undefined;
  }
}

let cachedBootId: string | undefined;

function bootId(): string {
  cachedBootId ??= readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  return cachedBootId;
}
