import { didYouMean } from "./closest-name.js";
import type { Plugin } from "./plugin-api.js";
import { BUNDLE_SOURCE_URL } from "./plugin-error.js";

/**
 * Evaluates a plugin's bundled code inside a SES Compartment whose globals are only the safe
 * built-ins SES provides (no `process`, `require`, `import()`, `fetch`, `Buffer`, timers, `Math.random`,
 * `Date.now`). The code is CommonJS-shaped (see core/plugins/bundle.ts): it fills in `module.exports`.
 */

/** The hooks a plugin's export defines, and the object they are called on (`this`). */
export interface PluginModule extends Plugin {
  readonly self: object;
}

/** The hooks of the public `Plugin` type (tests/unit/plugin-api.test.ts checks that none is missing). */
export const HOOKS = ["start", "onCommand", "onEvent", "stop"] as const satisfies ReadonlyArray<keyof Plugin>;

/**
 * Lines the loader puts before the bundle's first line: stack positions in the evaluated text are this many
 * lines below the bundle's own (plugin-error.ts `pluginFrames`).
 */
export const BUNDLE_LINE_OFFSET = 1;

/** Hook-like names (`onSomething`) outside the closed list are typos, reported instead of silently ignored. */
const HOOK_LIKE = /^on[A-Z]/;

export function loadPlugin(source: string, name: string): PluginModule {
  const compartment = new Compartment({ __options__: true, name: `plugin:${name}` });
  // The sourceURL names the bundle in stack traces, so the plugin's own frames can be told from the sandbox's.
  const factory = compartment.evaluate(
    `(function (module, exports) {\n${source}\n})\n//# sourceURL=${BUNDLE_SOURCE_URL}\n`,
  ) as (module: { exports: unknown }, exports: unknown) => void;
  const module: { exports: unknown } = { exports: {} };
  factory(module, module.exports);
  const exported = module.exports as { default?: unknown; __esModule?: boolean } | null;
  const candidate =
    exported && typeof exported === "object" && "default" in exported ? exported.default : exported;
  if (!candidate || typeof candidate !== "object") {
    throw new TypeError(
      "the entry module's default export must be an object with start/onCommand/onEvent/stop",
    );
  }
  const self = candidate as Record<string, unknown>;
  const hooks: Plugin = {};
  for (const key of Object.keys(self)) {
    const value = self[key];
    if ((HOOKS as readonly string[]).includes(key)) {
      if (typeof value !== "function") throw new TypeError(`'${key}' must be a function`);
      hooks[key as (typeof HOOKS)[number]] = value as never;
    } else if (HOOK_LIKE.test(key) && typeof value === "function") {
      throw new TypeError(`unknown hook '${key}': hooks are ${HOOKS.join(", ")}${didYouMean(key, HOOKS)}`);
    }
  }
  if (!hooks.onCommand && !hooks.onEvent && !hooks.start) {
    throw new TypeError("the plugin defines none of start, onCommand, onEvent");
  }
  return { ...hooks, self };
}
