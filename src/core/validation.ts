import { Ajv } from "ajv";
import { z } from "zod";

/**
 * Compiled checks for the zod schemas on the message hot path (envelopes, commands, worker and host
 * frames). The zod schema stays the one definition; it is turned into JSON Schema once and compiled by
 * ajv into plain code, which runs ~10× faster than zod's interpreter (a command crosses a dozen such
 * checks in the core). Only a value ajv refuses goes through zod, which then words the problem exactly
 * as it always has and stays the authority on what is valid.
 *
 * For schemas whose parsed value is the input itself: no transforms, defaults or refinements (JSON
 * Schema cannot express them; `assertRepresentable` refuses them). The value is returned as given:
 * keys a non-strict `z.object` would strip are kept, so callers that forward a value pick its fields.
 */

export type CheckResult<T> = { success: true; data: T } | { success: false; problem: string };
export type Check<T> = (value: unknown) => CheckResult<T>;

// Strings are measured in code points by both ajv's minLength/maxLength and zod's `.min()`/`.max()`.
const ajv = new Ajv({ strict: false, discriminator: true, allErrors: false });

/** `'path' message` for zod's first issue, the form every hot-path log line and error uses. */
export function describeProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue?.path.length ? issue.path.map(String).join(".") : "(root)";
  return `'${where}' ${issue?.message ?? "is invalid"}`;
}

export function compileCheck<S extends z.ZodType>(schema: S): Check<z.output<S>> {
  assertRepresentable(schema);
  const jsonSchema = z.toJSONSchema(schema, {
    target: "draft-7",
    io: "input",
    unrepresentable: "throw",
  }) as Record<string, unknown>;
  const discriminator = (schema._zod.def as { discriminator?: string }).discriminator;
  // ajv then checks only the branch the tag names; it takes string tags only (not `ok: true|false`).
  const branches = (jsonSchema.oneOf ?? []) as { properties?: Record<string, { const?: unknown }> }[];
  if (discriminator && branches.every((b) => typeof b.properties?.[discriminator]?.const === "string")) {
    jsonSchema.discriminator = { propertyName: discriminator };
  }
  const validate = ajv.compile(jsonSchema);
  return (value) => {
    if (validate(value)) return { success: true, data: value as z.output<S> };
    const parsed = schema.safeParse(value);
    return parsed.success
      ? { success: true, data: parsed.data }
      : { success: false, problem: describeProblem(parsed.error) };
  };
}

/** Throws for a schema the JSON Schema translation would silently weaken. */
function assertRepresentable(schema: z.ZodType, seen = new Set<z.ZodType>()): void {
  if (seen.has(schema)) return;
  seen.add(schema);
  const def = schema._zod.def as {
    type: string;
    checks?: { _zod: { def: { check: string } } }[];
    shape?: Record<string, z.ZodType>;
    options?: z.ZodType[];
    element?: z.ZodType;
    innerType?: z.ZodType;
  };
  if (["transform", "default", "prefault", "catch", "pipe", "custom"].includes(def.type)) {
    throw new Error(`compileCheck: a '${def.type}' schema cannot be compiled to JSON Schema faithfully`);
  }
  if (def.checks?.some((c) => c._zod.def.check === "custom")) {
    throw new Error("compileCheck: refinements cannot be compiled to JSON Schema faithfully");
  }
  const children = [
    ...Object.values(def.shape ?? {}),
    ...(def.options ?? []),
    ...(def.element ? [def.element] : []),
    ...(def.innerType ? [def.innerType] : []),
  ];
  for (const child of children) assertRepresentable(child, seen);
}
