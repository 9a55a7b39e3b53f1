import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The package root. `src/` and `dist/` sit at the same depth, so paths computed from here hold for
 * the compiled build and for sources run under vitest alike.
 */
export const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A compiled runtime file (worker or child-process entry); always from `dist/`, which `npm install` builds. */
export function runtimeFile(relative: string): string {
  return fileURLToPath(new URL(`../../dist/${relative}`, import.meta.url));
}

/** The installed package's version, as answers to health requests report it. */
export const PACKAGE_VERSION: string = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;
