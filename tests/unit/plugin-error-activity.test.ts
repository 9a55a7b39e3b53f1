import { describe, expect, it } from "vitest";
import {
  ACTIVITY_BYTES,
  ActivityWriter,
  createActivityBuffer,
  describeActivity,
  MAX_ACTIVITY_LABEL_BYTES,
  readActivity,
} from "../../src/sandbox/activity.js";
import { PluginTimers } from "../../src/sandbox/timers.js";

/**
 * A thread blocked in a handler answers nothing: the watchdog names the handler from the activity record the
 * worker keeps in shared memory (read by the core, or by the plugin host under process isolation).
 */
describe("the worker's activity record", () => {
  it("says which handler runs its synchronous part, and nothing once it has returned", () => {
    const buffer = createActivityBuffer();
    const writer = new ActivityWriter(buffer);
    expect(readActivity(buffer)).toBeUndefined();
    writer.enter("onEvent", "rosey.events.message");
    expect(readActivity(buffer)).toEqual({ seq: 1, kind: "onEvent", label: "rosey.events.message" });
    writer.leave();
    expect(readActivity(buffer)).toBeUndefined();
    writer.enter("interval", "'tick' (every 50 ms)");
    expect(readActivity(buffer)).toEqual({ seq: 2, kind: "interval", label: "'tick' (every 50 ms)" });
  });

  it(`keeps at most ${MAX_ACTIVITY_LABEL_BYTES} bytes of a label, cut at a character boundary`, () => {
    const buffer = createActivityBuffer();
    new ActivityWriter(buffer).enter("onCommand", `a${"é".repeat(400)}`);
    const label = readActivity(buffer)?.label ?? "";
    expect(Buffer.byteLength(label)).toBeLessThanOrEqual(MAX_ACTIVITY_LABEL_BYTES);
    expect(label).toBe(`a${"é".repeat(127)}`);
  });

  it("reads nothing from a buffer that is not an activity record", () => {
    expect(readActivity(new SharedArrayBuffer(ACTIVITY_BYTES + 4))).toBeUndefined();
    expect(readActivity({} as SharedArrayBuffer)).toBeUndefined();
  });

  it("names each kind of handler for the watchdog's message", () => {
    expect(describeActivity({ kind: "onEvent", label: "rosey.events.user.join" })).toBe(
      "onEvent(rosey.events.user.join)",
    );
    expect(describeActivity({ kind: "subscription", label: "rosey.plugins.x.y" })).toBe(
      "subscription(rosey.plugins.x.y)",
    );
    expect(describeActivity({ kind: "onCommand", label: "spin" })).toBe("onCommand for 'spin'");
    expect(describeActivity({ kind: "timeout", label: "(after 0 ms)" })).toBe("timeout (after 0 ms)");
  });
});

describe("timers describe themselves to the guard", () => {
  it("by the callback's own name and delay, without running plugin code to read the name", async () => {
    const seen: string[] = [];
    const timers = new PluginTimers({
      guard: (kind, detail, fn) => {
        seen.push(`${kind} ${detail}`);
        fn();
      },
    });
    const sneaky = () => undefined;
    Object.defineProperty(sneaky, "name", {
      get() {
        throw new Error("a getter must not run");
      },
    });
    timers.setTimeout(function later() {}, 5);
    timers.setTimeout(sneaky, 0);
    timers.setTimeout(
      Object.defineProperty(() => undefined, "name", { value: "esc\u001b[2J" }),
      0,
    );
    const id = timers.setInterval(function tick() {}, 1);
    await new Promise((r) => setTimeout(r, 40));
    timers.clear(id);
    timers.clearAll();
    expect(seen).toContain("timeout 'later' (after 5 ms)");
    expect(seen).toContain("timeout (after 0 ms)");
    expect(seen).toContain("timeout 'esc\\u001b[2J' (after 0 ms)");
    expect(seen).toContain("interval 'tick' (every 10 ms)");
  });
});
