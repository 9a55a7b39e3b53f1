import { z } from "zod";
import { errorMessage } from "../errors.js";
import { silentLogger } from "../logger.js";
import { PLUGIN_STATES } from "../plugins/plugin-state.js";
import { SUBJECTS } from "../subjects.js";
import { describeProblem } from "../validation.js";

/**
 * The running platform's side of `rosey audit`: each plugin's state as the plugin manager answers on
 * `rosey.monitoring.plugins`, and where what runs differs from what is on disk and in the config. The
 * manager bundles a plugin's code when it first launches it (again on `rosey.admin.plugins.reload`), and
 * reads manifests and grants once, at start: a file edited since is not what runs, and the report must say so.
 */

const count = z.number().int().nonnegative();
// Fields a platform of an older version may not send are optional: the report then says less, not wrong.
const liveStatus = z.looseObject({
  name: z.string(),
  state: z.enum(PLUGIN_STATES),
  version: z.string().optional(),
  restarts: count.optional(),
  violations: count.optional(),
  lastError: z.string().optional(),
  codeSha256: z.string().optional(),
  grants: z.looseObject({ requested: z.array(z.string()), effective: z.array(z.string()) }).optional(),
});
const answer = z.looseObject({ plugins: z.array(liveStatus) });

export type LiveStatus = z.infer<typeof liveStatus>;

/** How the running plugin differs from disk and config, and what makes the difference take effect. */
export type LiveDrift =
  | { what: "code"; running: string; onDisk: string; apply: "reload" }
  | { what: "version"; running: string; onDisk: string; apply: "restart" }
  | { what: "requested" | "effective"; running: string[]; onDisk: string[]; apply: "restart" };

export interface LiveAudit {
  version: string | null;
  restarts: number;
  /** Counted by the running platform since it started (the audit log's are all-time). */
  violations: number;
  lastError: string | null;
  codeSha256: string | null;
  /** The capabilities the running gate enforces; null when the platform does not report them. */
  effective: string[] | null;
  drift: LiveDrift[];
}

/** Asks a running platform for its plugins' states; an error when it does not answer in time, or not sensibly. */
export async function fetchLiveStatus(
  url: string,
  timeoutMs: number,
): Promise<{ statuses: LiveStatus[] } | { error: string }> {
  const { createBus } = await import("../bus.js");
  let bus: Awaited<ReturnType<typeof createBus>> | undefined;
  try {
    bus = await createBus({
      url,
      source: "cli:audit",
      logger: silentLogger(),
      connectTimeoutMs: timeoutMs,
      maxReconnectAttempts: 0,
    });
    const reply = await bus.request(SUBJECTS.monitoringPlugins, {}, { timeoutMs });
    const parsed = answer.safeParse(reply.data);
    if (!parsed.success)
      return {
        error: `${SUBJECTS.monitoringPlugins} answered something else than a plugin list: ${describeProblem(parsed.error)}`,
      };
    return { statuses: parsed.data.plugins };
  } catch (err) {
    return { error: errorMessage(err) };
  } finally {
    await bus?.close().catch(() => {});
  }
}

/** The running plugin against what is on disk (`version`, `codeSha256`) and in the config (`requested`, `effective`). */
export function liveAudit(
  status: LiveStatus,
  disk: {
    version: string;
    codeSha256: string | null;
    requested: readonly string[];
    effective: readonly string[];
  },
): LiveAudit {
  const drift: LiveDrift[] = [];
  if (status.codeSha256 && disk.codeSha256 && status.codeSha256 !== disk.codeSha256)
    drift.push({ what: "code", running: status.codeSha256, onDisk: disk.codeSha256, apply: "reload" });
  if (status.version !== undefined && status.version !== disk.version)
    drift.push({ what: "version", running: status.version, onDisk: disk.version, apply: "restart" });
  for (const what of ["requested", "effective"] as const) {
    const running = status.grants?.[what];
    if (running && !sameSet(running, disk[what]))
      drift.push({ what, running: [...running].sort(), onDisk: [...disk[what]].sort(), apply: "restart" });
  }
  return {
    version: status.version ?? null,
    restarts: status.restarts ?? 0,
    violations: status.violations ?? 0,
    lastError: status.lastError ?? null,
    codeSha256: status.codeSha256 ?? null,
    effective: status.grants ? [...status.grants.effective] : null,
    drift,
  };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return set.size === new Set(b).size && b.every((x) => set.has(x));
}

const short = (sha: string) => `${sha.slice(0, 12)}…`;
const names = (xs: readonly string[]) => (xs.length ? xs.join(", ") : "none");

/** One line per difference, for the plugin's block and its `!` finding. */
export function describeDrift(d: LiveDrift, plugin: string): string {
  switch (d.what) {
    case "code":
      return `running code differs from disk: running ${short(d.running)}, on disk ${short(d.onDisk)}; reload to apply (rosey plugin reload ${plugin})`;
    case "version":
      return `running version ${d.running} differs from the manifest's ${d.onDisk}; restart the platform to apply (a reload does not re-read the manifest)`;
    case "requested":
      return `running manifest requests ${names(d.running)}, the manifest on disk ${names(d.onDisk)}; restart the platform to apply`;
    case "effective":
      return `the running gate enforces ${names(d.running)}, the config now gives ${names(d.onDisk)}; restart the platform to apply`;
  }
}
