import type { HOOKS } from "../../sandbox/loader.js";
import type { WorkerInit } from "../../sandbox/protocol.js";
import { errorMessage } from "../errors.js";
import { BundleLocator, reportPluginError, splitSourceMap } from "./bundle-source-map.js";
import { workerResourceLimits } from "./limits.js";
import { endedBeforeReadyError, loadFailedError, notReadyError } from "./load-errors.js";
import { checkWorkerMessage } from "./plugin-worker.js";
import type { SandboxSpawner, SandboxThread, ThreadExit } from "./sandbox-thread.js";

/**
 * Loads a plugin's bundle in a sandbox worker the way `rosey start` does (the same spawner, worker entry,
 * resource limits and READY deadline), but in the worker's load-only mode: the module is evaluated and its
 * default export checked by the loader, and `start` and the handlers never run, so the plugin cannot act.
 * For `rosey config check`. The worker is always ended before the outcome is returned.
 */

export type HookName = (typeof HOOKS)[number];

export type LoadOutcome =
  | { ok: true; hooks: readonly HookName[] }
  /** `error` is the text start fails the plugin with; `hostCrash`: the plugin host died under it. */
  | { ok: false; error: string; hostCrash: boolean };

export interface LoadOnlyRequest {
  /** As start builds it: `source` is the bundle with its inline source map. */
  init: WorkerInit;
  memoryMb: number;
  readyTimeoutMs: number;
}

export async function loadOnly(spawner: SandboxSpawner, request: LoadOnlyRequest): Promise<LoadOutcome> {
  const { name } = request.init.plugin;
  // The map stays on this side, as with the worker handle: it places an error in the author's files.
  const { code, map } = splitSourceMap(request.init.source);
  let thread: SandboxThread;
  try {
    thread = spawner.spawn({
      name: `plugin:${name}`,
      workerData: { ...request.init, source: code, loadOnly: true } satisfies WorkerInit,
      resourceLimits: workerResourceLimits(request.memoryMb),
    });
  } catch (err) {
    // An init over the plugin host's frame limit: start refuses it the same way, before any worker exists.
    return { ok: false, error: errorMessage(err), hostCrash: false };
  }
  const exited = new Promise<ThreadExit>((resolve) => thread.onExit(resolve));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await new Promise<LoadOutcome>((resolve) => {
    const fail = (error: Error, hostCrash = false) => resolve({ ok: false, error: error.message, hostCrash });
    // The deadline is what bounds top-level code that never ends (`for (;;) {}`).
    timer = setTimeout(() => fail(notReadyError(name, request.readyTimeoutMs)), request.readyTimeoutMs);
    thread.onMessage((raw) => {
      // Only the two answers count; anything else is left to the deadline, like a worker that says nothing.
      const parsed = checkWorkerMessage(raw);
      if (!parsed.success) return;
      const message = parsed.data;
      if (message.type === "loaded") resolve({ ok: true, hooks: message.hooks });
      else if (message.type === "load-failed")
        fail(
          loadFailedError(
            name,
            message.message,
            reportPluginError(message.message, message.frames, new BundleLocator(map)),
          ),
        );
    });
    void exited.then((exit) =>
      fail(
        endedBeforeReadyError(name, exit.reason ?? `exited with code ${exit.code}`),
        exit.hostCrash === true,
      ),
    );
  });
  clearTimeout(timer);
  thread.terminate();
  await exited;
  return outcome;
}
