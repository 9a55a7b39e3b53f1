import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { expect } from "vitest";
import schema from "../../schemas/audit-report.schema.json" with { type: "json" };

const ajv = new Ajv({ allErrors: true, strict: true });
(addFormats as unknown as (a: Ajv) => void)(ajv);
const validate = ajv.compile(schema);

/** Asserts a `rosey audit --json` report (as it would be serialised) matches schemas/audit-report.schema.json. */
export function expectValidAuditReport(report: unknown): void {
  const ok = validate(JSON.parse(JSON.stringify(report)));
  expect(validate.errors ?? []).toEqual([]);
  expect(ok).toBe(true);
}
