import type { ResourceLimits } from "node:worker_threads";
import type { RoseyConfig } from "../config/schema.js";
import type { PluginManifest } from "./manifest.js";

/** A plugin's sandbox limits as enforced: what the manager applies and what `rosey audit` shows. */
export interface ResolvedLimits {
  memoryMb: number;
  handlerTimeoutMs: number;
  publishPerSecond: number;
}

/** Limits for a plugin that asks for none. */
export const DEFAULT_LIMITS: Readonly<ResolvedLimits> = Object.freeze({
  memoryMb: 64,
  handlerTimeoutMs: 5_000,
  publishPerSecond: 200,
});

/** Operator config, else the manifest, else the defaults; always capped by `sandbox.maxLimits`. */
export function resolveLimits(
  config: Readonly<RoseyConfig>,
  manifest: Pick<PluginManifest, "name" | "limits">,
): ResolvedLimits {
  const max = config.sandbox.maxLimits;
  const fromConfig = config.plugins.entries[manifest.name]?.limits ?? {};
  const fromManifest = manifest.limits ?? {};
  const pick = (key: keyof ResolvedLimits) =>
    Math.min(max[key], fromConfig[key] ?? fromManifest[key] ?? DEFAULT_LIMITS[key]);
  return {
    memoryMb: pick("memoryMb"),
    handlerTimeoutMs: pick("handlerTimeoutMs"),
    publishPerSecond: pick("publishPerSecond"),
  };
}

/** The worker's V8 limits for a heap cap (never `--max-old-space-size`: it would override them). */
export function workerResourceLimits(memoryMb: number): ResourceLimits {
  return {
    maxOldGenerationSizeMb: memoryMb,
    // Plugins handle small messages; a small young generation saves ~4 MB RSS per idle worker.
    maxYoungGenerationSizeMb: Math.max(2, Math.min(8, Math.floor(memoryMb / 16))),
    stackSizeMb: 4,
  };
}
