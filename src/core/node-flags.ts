/**
 * Node/V8 flags of the core process. They only work on node's command line: V8 sizes the heap before any
 * script runs, so `v8.setFlagsFromString` from inside is too late (it was, silently, until measured).
 * `npm start`, the `rosey` bin's shebang and the bench's spawn of `rosey start` all pass them; a unit test
 * keeps the three in step.
 *
 * `--max-semi-space-size=2`: the young generation otherwise grows to 2 × 16 MB under load, RSS for objects
 * that live under a millisecond. Measured at 1,000 msg/s (bench, 30 s): core RSS 119 → 89 MB, p99
 * 3.8 → 3.0 ms, CPU unchanged (25%).
 */
export const CORE_SEMI_SPACE_MB = 2;

/**
 * The core's flags, with another cap on the young generation when asked: a deployment that favours
 * throughput over memory runs the core this way (docs/operations.md), and `rosey bench --core-semi-space`
 * measures it.
 */
export function coreNodeFlags(semiSpaceMb: number = CORE_SEMI_SPACE_MB): readonly string[] {
  return [`--max-semi-space-size=${semiSpaceMb}`];
}

export const CORE_NODE_FLAGS = coreNodeFlags();
