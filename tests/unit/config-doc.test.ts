import { readFileSync } from "node:fs";
import path from "node:path";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import {
  configJsonSchema,
  type JsonSchema,
  renderConfigDoc,
  renderConfigSchemaJson,
} from "../../src/core/config/config-doc.js";
import { ENV_OVERRIDES } from "../../src/core/config/load.js";
import { configSchema } from "../../src/core/config/schema.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const SCHEMA_FILE = path.join(ROOT, "schemas", "config.schema.json");
const DOC_FILE = path.join(ROOT, "docs", "configuration.md");

const ajv = new Ajv({ allErrors: true, strict: true });
(addFormats as unknown as (a: Ajv) => void)(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, "utf8")));

/** Every key path of the schema, as the doc names them, with its node. */
function keys(node: JsonSchema, prefix = ""): [string, JsonSchema][] {
  const found: [string, JsonSchema][] = [];
  for (const variant of node.items?.oneOf ?? []) found.push(...keys(variant, `${prefix}[]`));
  if (typeof node.additionalProperties === "object" && node.additionalProperties.properties) {
    found.push(
      [`${prefix}.<name>`, node.additionalProperties],
      ...keys(node.additionalProperties, `${prefix}.<name>`),
    );
  }
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    const key = prefix ? `${prefix}.${name}` : name;
    found.push([key, child], ...keys(child, key));
  }
  return found;
}

describe("schemas/config.schema.json and docs/configuration.md", () => {
  it("are what `npm run docs:config` renders from src/core/config/schema.ts (run it when this fails)", () => {
    expect(readFileSync(SCHEMA_FILE, "utf8")).toBe(renderConfigSchemaJson());
    expect(readFileSync(DOC_FILE, "utf8")).toBe(renderConfigDoc());
  });

  it("describe every key, and the doc has a row (or a section) for each", () => {
    const all = keys(configJsonSchema());
    expect(all.map(([key]) => key)).toEqual(
      expect.arrayContaining([
        "sandbox.violations.threshold",
        "plugins.entries.<name>.limits.memoryMb",
        "platforms[].password_env",
        "logging.pretty",
      ]),
    );
    const doc = renderConfigDoc();
    for (const [key, node] of all) {
      expect(node.description, key).toMatch(/\S/);
      // A top-level object or list is a section of its own rather than a row.
      const where = doc.includes(`| \`${key}\` |`) || doc.includes(`\n## \`${key}\`\n`);
      expect(where, key).toBe(true);
    }
  });

  it("name every environment override next to the key it replaces", () => {
    const rows = renderConfigDoc().split("\n");
    for (const { variable, key } of ENV_OVERRIDES) {
      const row = rows.find((line) => line.startsWith(`| \`${key.join(".")}\` |`));
      expect(row, variable).toContain(`\`${variable}\``);
    }
    expect(rows.some((line) => line.startsWith("| `ROSEY_CONFIG` |"))).toBe(true);
  });
});

describe("the config JSON Schema", () => {
  it("accepts every YAML example of the README", () => {
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    const examples = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const ok = validate(YAML.parse(example) ?? {});
      expect(validate.errors ?? [], example).toEqual([]);
      expect(ok).toBe(true);
    }
  });

  // Each sample is judged by the JSON Schema and by zod: they must agree.
  const samples: [string, unknown, boolean][] = [
    ["an empty file", {}, true],
    ["every section present", { nats: {}, sandbox: { violations: {} }, database: { liveness: {} } }, true],
    ["an unknown top-level key", { plugin: {} }, false],
    ["an unknown nested key", { sandbox: { violations: { limit: 3 } } }, false],
    ["version 1", { version: 1 }, false],
    ["an isolation that is not offered", { sandbox: { isolation: "vm" } }, false],
    ["a threshold of 0", { sandbox: { violations: { threshold: 0 } } }, false],
    ["a fractional timeout", { router: { timeoutMs: 1.5 } }, false],
    ["an empty prefix", { router: { prefix: "" } }, false],
    ["a plugin name with capitals", { plugins: { entries: { Dice: {} } } }, false],
    ["a grant that is no name", { plugins: { defaultGrants: ["chat send"] } }, false],
    ["a string for a number", { nats: { connectTimeoutMs: "10000" } }, false],
    [
      "a cytube server that is no URL",
      { platforms: [{ type: "cytube", server: "cytu be", channel: "a" }] },
      false,
    ],
    [
      "a cytube entry without its channel",
      { platforms: [{ type: "cytube", server: "https://cytu.be" }] },
      false,
    ],
    ["a platform of no known type", { platforms: [{ type: "irc" }] }, false],
    ["metrics off", { monitoring: { metricsIntervalMs: 0 } }, true],
    ["metrics every second", { monitoring: { metricsIntervalMs: 1_000 } }, true],
    ["metrics every hour", { monitoring: { metricsIntervalMs: 3_600_000 } }, true],
    ["metrics every 999 ms", { monitoring: { metricsIntervalMs: 999 } }, false],
    ["metrics beyond an hour", { monitoring: { metricsIntervalMs: 3_600_001 } }, false],
    ["a negative metrics interval", { monitoring: { metricsIntervalMs: -1 } }, false],
  ];
  it.each(samples)("%s: JSON Schema and zod agree", (_, config, valid) => {
    expect(validate(config), JSON.stringify(validate.errors)).toBe(valid);
    expect(configSchema.safeParse(config).success).toBe(valid);
  });
});
