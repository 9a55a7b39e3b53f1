import { readFileSync, realpathSync, statSync } from "node:fs";
import path from "node:path";
import { build, type Loader, stop } from "esbuild";
import { escapeControls } from "../../sandbox/escape-text.js";
import { MAX_FRAME_BYTES } from "../../sandbox/host/framing.js";
import { errorMessage, RoseyError } from "../errors.js";
import { isInside } from "./plugin-files.js";

/**
 * Bundles a plugin's entry (.js or .ts, plus any relative modules it imports) into one CommonJS-shaped
 * script for the sandbox loader. The worker never touches the file system; it only gets this text.
 *
 * `platform: "neutral"` resolves no Node built-ins, so `import fs from "node:fs"` is a load error that
 * names the module. SES rejects any text containing `import(` or HTML comments, so those are reported
 * here with a clear message instead of an opaque SES error in the worker.
 *
 * The bundle ends with its source map as an inline comment (sources relative to the plugin's folder, no
 * source text): the worker handle takes it off and keeps it, to show a plugin's errors in the author's files
 * and lines (bundle-source-map.ts). The worker gets the code alone.
 */
const FORBIDDEN_TEXT = [
  { pattern: /\bimport\s*\(/, what: "'import(' (dynamic import)" },
  { pattern: /<!--|-->/, what: "an HTML comment marker ('<!--' or '-->')" },
  // SES refuses anything that looks like a direct eval, also inside strings; say so at load time.
  { pattern: /(?:^|[^.\w$])eval\s*\(/m, what: "'eval(' (a direct eval; use (0, eval)(…) or Function)" },
];

/**
 * Largest bundled code, in UTF-8 bytes. The code reaches the plugin host in one spawn frame (framing.ts,
 * `MAX_FRAME_BYTES`) as a JSON string beside the plugin's config, and JSON escaping can double it (every
 * backslash and double quote); half a frame leaves that room. Not an operator setting: the frame limit bounds it in any case, and
 * the same code must load under both isolations. The spawners refuse an init that still does not fit.
 */
export const MAX_BUNDLE_BYTES = MAX_FRAME_BYTES / 2;

/**
 * Largest total of the source files one bundle reads, in bytes: checked file by file before esbuild reads
 * each, so a huge file is never read, nor its bundle handed to the core. Sources shrink when bundled (types,
 * comments), so this leaves room above `MAX_BUNDLE_BYTES`, which still bounds the result.
 */
export const MAX_SOURCE_BYTES = 4 * MAX_BUNDLE_BYTES;

/**
 * Largest source map kept with a bundle, in bytes of JSON. It stays in the core (the plugin manager's copy of
 * the code, the worker handle); past this, errors show bundled positions instead of the author's.
 */
export const MAX_SOURCE_MAP_BYTES = MAX_BUNDLE_BYTES;

/**
 * Rosey's declarations for plugin authors (package.json `exports`, src/sandbox/plugin-api.ts): types only, so
 * erased from the bundle when imported with `import type`. Any other import of it reaches the refusal below.
 */
const PLUGIN_TYPES = "rosey/plugin";

/** Builds in progress; esbuild's service process is stopped when none is. */
let building = 0;

export async function bundlePlugin(entryFile: string, pluginDir: string): Promise<string> {
  building++;
  try {
    return await bundle(entryFile, pluginDir);
  } finally {
    // esbuild keeps its service (a ~15 MB child process) alive after a build. Plugins are bundled at
    // start and on reload only, so it is stopped once idle; the next build starts it again.
    if (--building === 0) await stop();
  }
}

/** The file's real path (symlinks resolved); a path that cannot be resolved is returned as given. */
function realFile(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/** The loaders of the files a plugin may import; nothing else is bundled. */
const LOADERS: Readonly<Record<string, Loader>> = {
  ".js": "js",
  ".mjs": "js",
  ".cjs": "js",
  ".ts": "ts",
  ".mts": "ts",
  ".cts": "ts",
  ".json": "json",
};

/** What a relative import may name, tried in order: the file, TypeScript's `.js` for `.ts`, an extension. */
const JS_TO_TS: Readonly<Record<string, string>> = { ".js": ".ts", ".mjs": ".mts", ".cjs": ".cts" };

/**
 * A relative import resolved as esbuild would for a plugin (`./util`, `./util.js` for util.ts, `./lib` for
 * lib/index.ts), without reading any package.json: the first candidate that exists. Whether it is inside the
 * folder and a regular file is `onLoad`'s check, made on what is read.
 */
function resolveInside(
  specifier: string,
  resolveDir: string,
): { path: string } | { errors: Array<{ text: string }> } {
  const base = path.resolve(resolveDir, specifier);
  const ext = path.extname(base);
  const candidates = [
    base,
    ...(JS_TO_TS[ext] ? [base.slice(0, -ext.length) + JS_TO_TS[ext]] : []),
    ...Object.keys(LOADERS).map((e) => base + e),
    ...Object.keys(LOADERS).map((e) => path.join(base, `index${e}`)),
  ];
  const found = candidates.find((file) => statSync(file, { throwIfNoEntry: false })?.isDirectory() === false);
  return found
    ? { path: found }
    : {
        errors: [
          { text: `cannot import '${escapeControls(specifier)}': no such file in the plugin's folder` },
        ],
      };
}

/** `//# sourceMappingURL=…` (or `//@`) line comments and their `/*# … *\/` block form. */
const SOURCE_MAP_COMMENT =
  /(?:\/\/[#@][ \t]*sourceMappingURL=[^\r\n]*|\/\*[#@][ \t]*sourceMappingURL=[\s\S]*?\*\/)/g;

async function bundle(entryFile: string, pluginDir: string): Promise<string> {
  const realDir = realFile(pluginDir);
  let sourceBytes = 0;
  let code: string;
  let map: string | undefined;
  try {
    const result = await build({
      entryPoints: [entryFile],
      absWorkingDir: pluginDir,
      bundle: true,
      write: false,
      // Never written (write: false, so overwriting an entry of that name is moot); it places the map's
      // `sources` relative to the plugin's folder.
      outfile: path.join(pluginDir, "bundle.js"),
      allowOverwrite: true,
      sourcemap: "external",
      sourcesContent: false,
      format: "cjs",
      platform: "neutral",
      target: "es2022",
      legalComments: "none",
      logLevel: "silent",
      // esbuild's own resolver reads package.json and tsconfig.json files (and what a tsconfig `extends`) to
      // resolve an import: the bundler resolves every path itself instead (`resolveInside`), and compiles
      // TypeScript with fixed options, so that esbuild opens only the files `onLoad` checked and read.
      tsconfigRaw: {},
      // Plugins may not reach outside their own folder: bundling runs in the core, with its file access, so
      // a `../` path or a symlink out of the folder would put any file the core can read into the plugin.
      plugins: [
        {
          name: "stay-inside-plugin",
          setup(b) {
            b.onResolve({ filter: /.*/ }, (args) => {
              if (args.kind === "entry-point") return { path: entryFile };
              if (args.path.startsWith(".")) return resolveInside(args.path, args.resolveDir);
              const hint =
                args.path === PLUGIN_TYPES
                  ? `; '${PLUGIN_TYPES}' has types only: import them with \`import type\``
                  : "";
              return {
                errors: [
                  {
                    text: `cannot import '${escapeControls(args.path)}': plugins have no access to modules outside their folder${hint}`,
                  },
                ],
              };
            });
            b.onLoad({ filter: /.*/ }, (args) => {
              const shown = escapeControls(path.relative(pluginDir, args.path));
              const real = realFile(args.path);
              if (!isInside(real, realDir))
                return {
                  errors: [
                    {
                      text: `cannot import '${shown}': it is outside the plugin's folder (directly or through a symlink)`,
                    },
                  ],
                };
              // esbuild would read a FIFO or device for ever, and a huge file whole: only regular files,
              // and only up to MAX_SOURCE_BYTES in all. The files are the author's, not changing under us.
              const stat = statSync(real, { throwIfNoEntry: false });
              if (!stat?.isFile())
                return {
                  errors: [
                    { text: `cannot import '${shown}': it is not a regular file (a FIFO, socket or device)` },
                  ],
                };
              sourceBytes += stat.size;
              if (sourceBytes > MAX_SOURCE_BYTES)
                return {
                  errors: [
                    {
                      text: `cannot import '${shown}' (${stat.size} bytes): the plugin's source files together are over the ${MAX_SOURCE_BYTES}-byte limit`,
                    },
                  ],
                };
              const loader = LOADERS[path.extname(real).toLowerCase()];
              if (!loader)
                return {
                  errors: [
                    {
                      text: `cannot import '${shown}': not a .js, .mjs, .cjs, .ts, .mts, .cts or .json file`,
                    },
                  ],
                };
              // Read here, not by esbuild: it would follow a `sourceMappingURL` comment to any file, outside the
              // folder and past the checks above (a FIFO hangs the bundle, /dev/zero fills memory), and an
              // inline map would let the plugin say its errors come from another plugin's files.
              return { contents: readFileSync(real, "utf8").replace(SOURCE_MAP_COMMENT, ""), loader };
            });
          },
        },
      ],
    });
    code = result.outputFiles.find((file) => file.path.endsWith(".js"))?.text ?? "";
    map = result.outputFiles.find((file) => file.path.endsWith(".js.map"))?.text;
  } catch (err) {
    const errors = (
      err as { errors?: Array<{ text: string; location?: { file: string; line: number } | null }> }
    ).errors;
    const detail = errors?.length
      ? errors
          .map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text))
          .join("; ")
      : errorMessage(err);
    // esbuild quotes import paths and source lines, all the author's: no control character may pass.
    throw new RoseyError(
      "PLUGIN_LOAD_FAILED",
      `Cannot bundle ${escapeControls(entryFile)}: ${escapeControls(detail)}`,
      { cause: err },
    );
  }
  const bytes = Buffer.byteLength(code);
  if (bytes > MAX_BUNDLE_BYTES) {
    throw new RoseyError(
      "PLUGIN_LOAD_FAILED",
      // The folder's name is the plugin's (manifest.ts), so the message names the plugin.
      `Cannot load plugin '${path.basename(pluginDir)}': its bundled code (${entryFile} and what it imports) is ${bytes} bytes, over the ${MAX_BUNDLE_BYTES}-byte limit; keep large data (word lists, quotes) in storage, not in the code`,
      { details: { bytes, limit: MAX_BUNDLE_BYTES } },
    );
  }
  const forbidden = FORBIDDEN_TEXT.find((rule) => rule.pattern.test(code));
  if (forbidden) {
    throw new RoseyError(
      "PLUGIN_LOAD_FAILED",
      `Cannot load ${entryFile}: its code contains ${forbidden.what}, which the sandbox rejects even inside strings and comments`,
    );
  }
  if (map === undefined || Buffer.byteLength(map) > MAX_SOURCE_MAP_BYTES) return code;
  const separator = code.endsWith("\n") ? "" : "\n";
  return `${code}${separator}//# sourceMappingURL=data:application/json;base64,${Buffer.from(map).toString("base64")}\n`;
}
