import { describe, expect, it } from "vitest";
import { LIVENESS_DEFAULTS, livenessOptions } from "../../src/core/db/liveness.js";
import { databaseService } from "../../src/core/db/service.js";
import { thrownRoseyError } from "../support/rosey-error.js";

describe("database liveness options", () => {
  it("fills in the defaults and freezes the result", () => {
    const options = livenessOptions({ intervalMs: 10_000 });
    expect(options).toEqual({ ...LIVENESS_DEFAULTS, intervalMs: 10_000 });
    expect(Object.isFrozen(options)).toBe(true);
  });

  it("refuses invalid values, naming the key", () => {
    expect(thrownRoseyError(() => livenessOptions({ maxMissed: 0 }))).toMatchObject({
      code: "VALIDATION_FAILED",
      message: expect.stringContaining("'maxMissed'"),
    });
    expect(thrownRoseyError(() => livenessOptions({ intervalMs: 1_000, timeoutMs: 1_500 }))).toMatchObject({
      code: "VALIDATION_FAILED",
      message: expect.stringMatching(/'timeoutMs' must be less than 'intervalMs'.*"timeoutMs":1500/),
    });
    expect(thrownRoseyError(() => livenessOptions({ intervalMs: 1_000, timeoutMs: 1_000 })).code).toBe(
      "VALIDATION_FAILED",
    );
  });

  it("are checked when the factory is built, not when the service starts", () => {
    expect(thrownRoseyError(() => databaseService({ liveness: { timeoutMs: -1 } })).code).toBe(
      "VALIDATION_FAILED",
    );
  });
});
