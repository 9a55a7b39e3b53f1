import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { errorMessage, RoseyError } from "../errors.js";
import { PACKAGE_ROOT } from "../paths.js";
import { parseConfigText, validateConfig } from "./load.js";
import { LAYOUT_NAMES, type MigrationNote, type MigrationResult, migrateV1Config } from "./migrate-v1.js";

/**
 * The file side of `rosey config migrate V1.json [-o FILE]`: reads the Python bot's config, renders the
 * Rosey 2 config as YAML or JSON, checks the rendered text with Rosey's own validation, then writes it —
 * never over an existing file unless forced, and owner-only when it holds a password.
 */

export interface MigrateFileOptions {
  /** Write the config here; `.json` → JSON, `.yaml`/`.yml` → YAML. Without it, YAML is only returned. */
  output?: string | undefined;
  /** Overwrite an existing output file. @default false */
  force?: boolean | undefined;
  /** Folder relative paths are taken against; also where a config without `output` is assumed to be saved. */
  cwd?: string;
}

export interface MigrateFileOutcome extends MigrationResult {
  /** The rendered config. */
  text: string;
  /** Absolute path of the file written, when `output` was given. */
  written: string | undefined;
  /** For people, one line each: what became of every setting, then what was written. */
  report: string[];
}

type Format = "yaml" | "json";

function formatOf(file: string): Format {
  const ext = path.extname(file).toLowerCase();
  if (ext === ".json") return "json";
  if (ext === ".yaml" || ext === ".yml") return "yaml";
  throw new RoseyError(
    "VALIDATION_FAILED",
    `Cannot write ${file} as the output's extension must be .yaml, .yml or .json: current value is '${ext}'`,
  );
}

function readInput(file: string, shown: string): unknown {
  if (!existsSync(file)) {
    throw new RoseyError("CONFIG_INVALID", `Cannot migrate ${shown} as the file does not exist: ${file}`);
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new RoseyError("CONFIG_INVALID", `Cannot read ${file}: ${errorMessage(err)}`, { cause: err });
  }
  return parseConfigText(text, file);
}

/** Header lines are built from input keys: a newline in one must not start a YAML line of its own. */
function commentLine(text: string): string {
  return `# ${text.replace(/[\r\n]+/g, " ")}`.trimEnd();
}

function render(result: MigrationResult, format: Format, from: string, checkCommand: string): string {
  if (format === "json") return `${JSON.stringify(result.config, null, 2)}\n`;
  const notCarried = result.notes.filter((n) => n.action === "dropped" || n.action === "unknown");
  const header = [
    `Rosey 2 config migrated by 'rosey config migrate' from ${from} (${LAYOUT_NAMES[result.layout]}).`,
    `Relative paths resolve against this file's folder. Check it with: ${checkCommand}`,
    ...(notCarried.length > 0
      ? [
          "Not carried:",
          ...notCarried.map((n) => `  ${n.path}: ${n.action === "unknown" ? "unknown, " : ""}${n.detail}`),
        ]
      : ["Every setting was carried."]),
  ];
  const doc = new YAML.Document(result.config);
  // `grants: [basic]`, as the README writes them, rather than a line per grant.
  YAML.visit(doc, {
    Seq(_, seq) {
      if (seq.items.every(YAML.isScalar)) seq.flow = true;
    },
  });
  return `${header.map(commentLine).join("\n")}\n${doc.toString({ lineWidth: 0, flowCollectionPadding: false })}`;
}

function formatNote(note: MigrationNote): string {
  const tag = note.warning ? "WARNING" : note.action;
  const where = note.to ? `${note.path} → ${note.to}` : note.path;
  return `  ${tag.padEnd(8)}${where}: ${note.warning ? `${note.action}: ` : ""}${note.detail}`;
}

function summary(notes: MigrationNote[]): string {
  const count = (action: MigrationNote["action"]) => notes.filter((n) => n.action === action).length;
  const warnings = notes.filter((n) => n.warning).length;
  return (
    `${count("carried")} carried, ${count("changed")} changed, ${count("dropped")} dropped, ` +
    `${count("unknown")} unknown, ${count("added")} added; ${warnings} need${warnings === 1 ? "s" : ""} your attention (WARNING)`
  );
}

function write(file: string, text: string, force: boolean, secret: boolean): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text, { flag: force ? "w" : "wx", mode: secret ? 0o600 : 0o666 });
    // `mode` applies only when the file is created; --force may have reused a wider one.
    if (secret) chmodSync(file, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new RoseyError(
        "ALREADY_EXISTS",
        `Cannot write ${file} as it already exists: pick another name or pass --force to overwrite it`,
      );
    }
    throw new RoseyError("INTERNAL", `Cannot write ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Migrates the Rosey-Robot config `inputFile` and, with `output`, writes the result.
 * @throws RoseyError `CONFIG_INVALID` (unreadable input, every problem of it), `VALIDATION_FAILED` (output
 * extension), `ALREADY_EXISTS` (output exists and not `force`, or is the input itself).
 */
export function migrateConfigFile(inputFile: string, options: MigrateFileOptions = {}): MigrateFileOutcome {
  const cwd = options.cwd ?? process.cwd();
  const input = path.resolve(cwd, inputFile);
  const output = options.output === undefined ? undefined : path.resolve(cwd, options.output);
  const format = output ? formatOf(output) : "yaml";
  if (output === input) {
    throw new RoseyError(
      "ALREADY_EXISTS",
      `Cannot write ${output} as it is the input file, which stays as it is: pick another name (-o)`,
    );
  }
  const outputDir = output ? path.dirname(output) : cwd;
  const shown = (file: string) => path.relative(cwd, file) || ".";

  const result = migrateV1Config(readInput(input, shown(input)), {
    source: shown(input),
    inputDir: path.dirname(input),
    outputDir,
    bundledPluginsDir: path.join(PACKAGE_ROOT, "plugins"),
  });
  const from = path.relative(outputDir, input);
  const text = render(result, format, from, `rosey config check ${output ? shown(output) : "FILE"}`);
  // What is written must load as it is: the rendered text goes through the loader's own parse and schema.
  validateConfig(
    parseConfigText(text, output ?? "stdout.yaml"),
    output ? shown(output) : "the migrated config",
  );

  if (output) write(output, text, options.force === true, result.hasSecrets);
  const report = [
    `Migrated ${shown(input)} (${LAYOUT_NAMES[result.layout]}); what became of each setting:`,
    ...result.notes.map(formatNote),
    summary(result.notes),
    output
      ? `Wrote ${shown(output)}${result.hasSecrets ? " (mode 0600: it holds a password)" : ""}; check it with: rosey config check ${shown(output)}`
      : `Wrote the config to stdout; its relative paths assume it is saved in ${cwd}`,
  ];
  return { ...result, text, written: output, report };
}
