import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { errorMessage, RoseyError } from "../errors.js";
import { PACKAGE_ROOT } from "../paths.js";
import { PLUGIN_NAME } from "../subjects.js";
import { prefixClashes, readManifest } from "./manifest.js";
import { claimCommands } from "./preflight.js";

/**
 * `rosey plugin new NAME`: a new plugin folder that loads as it is (manifest, entry module, README), so
 * an author starts from something that runs under the real contract and edits it, rather than from a
 * blank folder and the docs. It only creates: an existing folder or file is never overwritten.
 * `--typescript` writes the entry as TypeScript typed with Rosey's declarations (`rosey/plugin`, from
 * src/sandbox/plugin-api.ts), with a tsconfig.json that checks it.
 */

export interface ScaffoldOptions {
  /** Write index.ts and a tsconfig.json instead of index.js. */
  typescript?: boolean;
}

export interface ScaffoldResult {
  /** Absolute path of the new plugin folder. */
  dir: string;
  /** Absolute paths of the files written, in the order written. */
  files: string[];
  /** The README among them: how to grant and try the plugin. */
  readme: string;
  /**
   * Command words the new plugin claims that an installed plugin claims too: until `router.commands` names
   * one of them, none answers such a word (preflight.ts).
   */
  commandClashes: Array<{ word: string; claimants: string[] }>;
}

function manifest(name: string, entryFile: string): string {
  const body = {
    name,
    version: "0.1.0",
    description: `Greets people: !${name} [name]`,
    entry: entryFile,
    commands: [
      {
        name,
        usage: `!${name} [name]`,
        description: "Greets the name given, or whoever asked",
        cooldownMs: 1000,
      },
    ],
    capabilities: ["chat.send"],
    limits: { memoryMb: 16, handlerTimeoutMs: 1000, publishPerSecond: 10 },
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

function entry(name: string, typescript: boolean): string {
  const types = typescript
    ? `
// The types are Rosey's, imported with \`import type\` only: the bundle may import nothing from outside this
// folder. Rosey does not check them when it loads the plugin; tsc with the tsconfig.json beside this file does.
import type { Plugin } from "rosey/plugin";
`
    : "";
  return `// ${name}: a Rosey plugin. It runs in a sandboxed worker with no require, no Node built-ins, no process,
// no network and no file system: everything goes through \`ctx\`, and only what the operator grants.
// Randomness and time come from ctx.random() and ctx.now() (Math.random and Date.now are not there).
${types}
export default {
  start(ctx) {
    ctx.log.info(\`\${ctx.plugin.name} \${ctx.plugin.version} started\`);
  },

  // command = { name, args, text, user, rank, platform, channel, correlationId }.
  // A returned string goes to the channel the command came from (needs the chat.send capability).
  onCommand(command) {
    const who = command.text.trim() || command.user;
    return \`Hello, \${who.slice(0, 100)}!\`;
  },
}${typescript ? " satisfies Plugin" : ""};
`;
}

/**
 * A TypeScript plugin's compiler options: the sandbox's globals (the language's built-ins, no Node, no DOM),
 * modules resolved as the bundler does, nothing emitted. Inside Rosey's checkout "rosey/plugin" resolves
 * through the package's own `exports`; outside it no package.json leads there, so a path names the file.
 */
export function pluginCompilerOptions(pluginDir: string): Record<string, unknown> {
  const relative = path.relative(PACKAGE_ROOT, pluginDir);
  const outside = relative.startsWith("..") || path.isAbsolute(relative);
  return {
    target: "ES2022",
    lib: ["ES2023"],
    types: [],
    module: "preserve",
    moduleResolution: "bundler",
    verbatimModuleSyntax: true,
    isolatedModules: true,
    strict: true,
    noEmit: true,
    ...(outside
      ? { paths: { "rosey/plugin": [path.join(PACKAGE_ROOT, "dist", "sandbox", "plugin-api.d.ts")] } }
      : {}),
  };
}

function tsconfig(pluginDir: string): string {
  return `${JSON.stringify({ compilerOptions: pluginCompilerOptions(pluginDir) }, null, 2)}\n`;
}

/** A path as a POSIX shell word: as it is when it is plain, else single-quoted. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/**
 * How to run this Rosey from the folder `rosey plugin new` ran in: `node bin/rosey.js` in the checkout,
 * `node /abs/path/bin/rosey.js` elsewhere. Not `npx rosey`: the package is not published, so outside the
 * checkout npx would look up (and offer to install) an unrelated registry package of that name.
 */
export function roseyCommand(cwd = process.cwd()): string {
  const bin = path.join(PACKAGE_ROOT, "bin", "rosey.js");
  const relative = path.relative(cwd, bin);
  return `node ${shellWord(relative.startsWith("..") || path.isAbsolute(relative) ? bin : relative)}`;
}

function readme(name: string, pluginsDir: string, rosey: string, typescript: boolean): string {
  const types = typescript
    ? `- \`index.ts\` is typed with Rosey's declarations (\`rosey/plugin\`: Rosey's docs/plugins.md, TypeScript).
  Rosey only strips the types when it loads the plugin; \`npx -p typescript tsc -p ${shellWord(path.join(pluginsDir, name))}\`
  checks them, with the sandbox's globals (\`tsconfig.json\`).`
    : `- The entry may be TypeScript: rename it \`index.ts\` and set \`"entry": "index.ts"\` (\`rosey plugin new
  --typescript\` writes one typed with Rosey's declarations).`;
  return `# ${name}

A Rosey plugin: \`!${name} [name]\` greets the name given, or whoever asked.

## Try it

Rosey loads every folder of its plugins directory, but grants nothing by default: the operator grants what
\`plugin.json\` requests (\`capabilities\`). A \`rosey.yaml\` in the folder \`rosey plugin new\` ran in:

\`\`\`yaml
plugins:
  directory: ${pluginsDir}
  entries:
    ${name}: { grants: [chat.send] }
\`\`\`

then, with no chat platform configured, each line typed is a chat message (the console connector). Run these
in that folder too; \`${rosey}\` is the Rosey that created this plugin. (\`npx rosey\` works only inside
Rosey's checkout: Rosey is not a published package, so elsewhere npx would fetch an unrelated one.)

\`\`\`sh
echo '!${name} world' | ${rosey} start --config rosey.yaml  # prints: <rosey> Hello, world!
${rosey} audit --config rosey.yaml  # what ${name} requests, is granted and may reach
\`\`\`

## Grow it

- \`plugin.json\` is checked against Rosey's \`schemas/plugin-manifest.schema.json\`: commands (aliases,
  cooldowns), \`subscribe\` (events delivered to \`onEvent(subject, envelope, ctx)\`), \`capabilities\` (Rosey's
  docs/permissions.md lists them and the subjects each allows) and \`limits\`.
- \`ctx\` offers \`publish\`, \`subscribe\`, \`request\`, \`reply\`, \`storage\` (needs \`storage\`; the plugin's own
  collections, and SQL migrations in \`migrations/\`: Rosey's docs/database.md), \`log\`, tracked timers,
  \`now()\`, \`random()\`, \`config\` (the plugin's block of the operator's config) and \`plugin\`.
${types}
`;
}

/** The other plugin folders under `parent`. */
function installedPlugins(name: string, parent: string): string[] {
  if (!existsSync(parent)) return [];
  return readdirSync(parent).filter(
    (other) =>
      other !== name && PLUGIN_NAME.test(other) && existsSync(path.join(parent, other, "plugin.json")),
  );
}

/**
 * A name whose table prefix overlaps an installed plugin's would get both refused at start: the same rule and
 * wording as discovery's (`prefixClashes`), said before anything is created.
 */
function refuseClash(name: string, parent: string): void {
  const clash = prefixClashes([...installedPlugins(name, parent), name]).get(name);
  if (clash)
    throw new RoseyError("PLUGIN_PREFIX_CLASH", `Cannot create plugin '${name}': ${clash.message}`, {
      details: clash.details,
    });
}

/**
 * Creates `<pluginsDir>/<name>/` with plugin.json, index.js and README.md (with `typescript`: index.ts and
 * tsconfig.json for index.js). Throws `VALIDATION_FAILED` for a name the manifest schema refuses,
 * `ALREADY_EXISTS` when the folder exists and `PLUGIN_PREFIX_CLASH` for a name an installed plugin's would
 * clash with.
 */
export function scaffoldPlugin(
  name: string,
  pluginsDir: string,
  options: ScaffoldOptions = {},
): ScaffoldResult {
  if (!PLUGIN_NAME.test(name)) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Cannot create plugin ${JSON.stringify(name)} as its name must be 1–32 lowercase letters, digits or '-', starting with a letter (${PLUGIN_NAME.source})`,
    );
  }
  const parent = path.resolve(pluginsDir);
  const dir = path.join(parent, name);
  refuseClash(name, parent);
  try {
    mkdirSync(parent, { recursive: true });
    mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new RoseyError(
        "ALREADY_EXISTS",
        `Cannot create plugin '${name}' as ${dir} already exists: pick another name or folder (--dir)`,
      );
    }
    throw new RoseyError("INTERNAL", `Cannot create ${dir}: ${errorMessage(err)}`, { cause: err });
  }
  const typescript = options.typescript === true;
  const entryFile = typescript ? "index.ts" : "index.js";
  const shownParent = path.relative(process.cwd(), parent) || ".";
  const files: Array<[string, string]> = [
    ["plugin.json", manifest(name, entryFile)],
    [entryFile, entry(name, typescript)],
    ...(typescript ? [["tsconfig.json", tsconfig(dir)] satisfies [string, string]] : []),
    ["README.md", readme(name, shownParent, roseyCommand(), typescript)],
  ];
  const written: string[] = [];
  for (const [file, text] of files) {
    const target = path.join(dir, file);
    writeFileSync(target, text, { flag: "wx" });
    written.push(target);
  }
  // What was written must load through the same reader the plugin manager uses.
  const created = readManifest(dir).manifest;
  const siblings = installedPlugins(name, parent).flatMap((other) => {
    try {
      return [readManifest(path.join(parent, other)).manifest];
    } catch {
      return [];
    }
  });
  const commandClashes = claimCommands([...siblings, created])
    .clashes.filter((c) => c.claimants.includes(name))
    .map(({ word, claimants }) => ({ word, claimants }));
  return { dir, files: written, readme: path.join(dir, "README.md"), commandClashes };
}
