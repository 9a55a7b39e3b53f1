import { readdirSync, readFileSync } from "node:fs";

/**
 * RSS and CPU time of processes from /proc: the bench's children (its embedded nats-server and the
 * `rosey start` core), the core's child (the plugin host under process isolation). Linux only; elsewhere
 * the lists are empty and the report says so.
 */

export interface ChildProcessSample {
  pid: number;
  /** `nats-server`, `plugin-host`, `rosey-core` or the command name. */
  role: string;
  rssMb: number;
  /** user + system CPU time so far, ms. */
  cpuMs: number;
}

const CLOCK_TICKS = 100;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Parses /proc/<pid>/stat: the comm field may contain spaces and parentheses. */
export function parseStat(text: string): { ppid: number; cpuMs: number; comm: string } | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const fields = text.slice(close + 2).split(" ");
  // After comm: state(0) ppid(1) … utime(11) stime(12)
  const ppid = Number(fields[1]);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(ppid) || !Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return { ppid, cpuMs: ((utime + stime) * 1000) / CLOCK_TICKS, comm: text.slice(open + 1, close) };
}

export function parseRssKb(status: string): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return match ? Number(match[1]) : undefined;
}

function roleOf(pid: number, comm: string): string {
  const cmdline = read(`/proc/${pid}/cmdline`)?.replaceAll("\0", " ") ?? "";
  if (cmdline.includes("nats-server") || comm === "nats-server") return "nats-server";
  if (cmdline.includes("plugin-host")) return "plugin-host";
  if (/rosey(\.js)? start/.test(cmdline)) return "rosey-core";
  if (cmdline.includes("relay/relay.mjs")) return "relay";
  if (cmdline.includes("floor/core.mjs")) return "floor-core";
  if (cmdline.includes("floor/host.mjs")) return "floor-host";
  return comm;
}

/** Direct children of `parent` (default: this process). */
export function sampleChildren(parent = process.pid): ChildProcessSample[] {
  if (process.platform !== "linux") return [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const out: ChildProcessSample[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = read(`/proc/${entry}/stat`);
    const parsed = stat ? parseStat(stat) : undefined;
    if (!parsed || parsed.ppid !== parent) continue;
    const pid = Number(entry);
    const rssKb = parseRssKb(read(`/proc/${entry}/status`) ?? "");
    if (rssKb === undefined) continue;
    out.push({
      pid,
      role: roleOf(pid, parsed.comm),
      rssMb: Math.round((rssKb / 1024) * 10) / 10,
      cpuMs: parsed.cpuMs,
    });
  }
  return out;
}

/** RSS of one process in MB, or undefined when it cannot be read. */
export function rssOfPid(pid: number): number | undefined {
  const kb = parseRssKb(read(`/proc/${pid}/status`) ?? "");
  return kb === undefined ? undefined : Math.round((kb / 1024) * 10) / 10;
}

/** Peak RSS (VmHWM) of one process since it started, in MB. */
export function peakRssOfPid(pid: number): number | undefined {
  const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(read(`/proc/${pid}/status`) ?? "");
  return match ? Math.round((Number(match[1]) / 1024) * 10) / 10 : undefined;
}

/** user + system CPU time of one process so far (ms), or undefined when it cannot be read. */
export function cpuMsOfPid(pid: number): number | undefined {
  const stat = read(`/proc/${pid}/stat`);
  return stat ? parseStat(stat)?.cpuMs : undefined;
}

/** user + system CPU time of one thread (default: the process's main thread) so far (ms). */
export function threadCpuMsOf(pid: number, tid = pid): number | undefined {
  const stat = read(`/proc/${pid}/task/${tid}/stat`);
  return stat ? parseStat(stat)?.cpuMs : undefined;
}

/** Whether a process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === undefined) {
    if (process.platform === "linux") return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  const close = stat.lastIndexOf(")");
  return stat.slice(close + 2, close + 3) !== "Z";
}
