import { execFileSync } from "node:child_process";

/** Pids of this process's children running the database service (`rosey start` forks it). */
export function databaseChildren(): number[] {
  let out = "";
  try {
    out = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" });
  } catch {
    return []; // ps exits 1 when there is no child at all
  }
  return out
    .split("\n")
    .filter((line) => line.includes("service-main.js"))
    .map((line) => Number.parseInt(line.trim(), 10));
}
