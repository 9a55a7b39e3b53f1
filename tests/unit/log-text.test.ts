import { describe, expect, it } from "vitest";
import { sanitizeLogText } from "../../src/sandbox/ctx.js";
import { MAX_LOG_CHARS } from "../../src/sandbox/wire-limits.js";

/** A plugin's log line as the worker sends it: one line, nothing a terminal or log viewer would act on. */
describe("sanitizeLogText", () => {
  it("escapes controls, line separators and bidi overrides with the same rule as the CLI", () => {
    expect(sanitizeLogText("ok\r\n\u001b[2J\u2028\u202e!")).toBe("ok\\u000d\\u000a\\u001b[2J\\u2028\\u202e!");
  });

  it("escapes first and then cuts, so the line never exceeds the protocol's limit", () => {
    const line = sanitizeLogText("\u0007".repeat(MAX_LOG_CHARS));
    expect(line.length).toBe(MAX_LOG_CHARS);
    expect(line.endsWith("...")).toBe(true);
  });
});
