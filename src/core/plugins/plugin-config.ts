import { Ajv } from "ajv";
import { didYouMean } from "../../sandbox/closest-name.js";
import { escapeControls } from "../../sandbox/escape-text.js";
import { errorMessage, RoseyError } from "../errors.js";

/**
 * The operator's `plugins.entries.<name>.config` checked against the manifest's `configSchema`, when the
 * plugin declares one, before the plugin starts: a wrong value is the operator's to fix, named by its path in
 * the config file, instead of surfacing later as the plugin's own error (or not at all).
 */

// verbose: an unknown key's error carries the schema it broke, whose properties say what was meant.
const ajv = new Ajv({ strict: false, allErrors: true, verbose: true });

export function checkPluginConfig(
  plugin: string,
  schema: Record<string, unknown> | undefined,
  config: unknown,
): void {
  const problems = pluginConfigProblems(plugin, schema, config).map((p) => `'${p.where}' ${p.message}`);
  if (problems.length === 0) return;
  throw new RoseyError(
    "CONFIG_INVALID",
    `Invalid config for plugin '${plugin}':\n  - ${problems.join("\n  - ")}`,
    {
      details: { problems },
    },
  );
}

/**
 * Each value the schema refuses, at its config path, with the rule and the value. Throws MANIFEST_INVALID
 * when the schema itself cannot be compiled.
 */
export function pluginConfigProblems(
  plugin: string,
  schema: Record<string, unknown> | undefined,
  config: unknown,
): Array<{ where: string; message: string }> {
  if (!schema) return [];
  let validate: ReturnType<typeof ajv.compile>;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    throw new RoseyError(
      "MANIFEST_INVALID",
      `Plugin '${plugin}': its manifest's configSchema is not a valid JSON Schema: ${errorMessage(err)}`,
      { cause: err },
    );
  }
  if (validate(config)) return [];
  return (validate.errors ?? []).map((e) => {
    const where = `plugins.entries.${plugin}.config${e.instancePath.replaceAll("/", ".")}`;
    if (e.keyword === "additionalProperties") {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      // The names come from the plugin's manifest: escaped, and not a list of thousands.
      const listed = known.length > 20 ? `${known.slice(0, 20).join(", ")}, …` : known.join(", ");
      return {
        where: escapeControls(`${where}.${key}`),
        message: escapeControls(
          `is not a setting ${plugin} defines${didYouMean(key, known)}${known.length ? ` (it defines: ${listed})` : ""}`,
        ),
      };
    }
    return {
      where,
      message: `${e.message ?? "is invalid"}: current value is ${JSON.stringify(valueAt(config, e.instancePath)) ?? "missing"}`,
    };
  });
}

function valueAt(value: unknown, pointer: string): unknown {
  let current = value;
  for (const key of pointer.split("/").slice(1)) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[key.replaceAll("~1", "/").replaceAll("~0", "~")];
  }
  return current;
}
