import { isRoseyError, type RoseyError } from "../../src/core/errors.js";

/** The RoseyError that `fn` throws; anything else thrown is rethrown, and throwing nothing fails. */
export function thrownRoseyError(fn: () => unknown): RoseyError {
  try {
    fn();
  } catch (err) {
    if (isRoseyError(err)) return err;
    throw err;
  }
  throw new Error("expected a RoseyError");
}
