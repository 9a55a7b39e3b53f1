import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { bundlePlugin } from "../../src/core/plugins/bundle.js";
import {
  BundleLocator,
  MAX_STACK_CHARS,
  reportPluginError,
  splitSourceMap,
} from "../../src/core/plugins/bundle-source-map.js";
import { compileCheck } from "../../src/core/validation.js";
import {
  AMBIENT_HINT,
  ambientHint,
  BUNDLE_SOURCE_URL,
  MAX_FRAME_NAME_CHARS,
  MAX_STACK_FRAMES,
  pluginFrames,
} from "../../src/sandbox/plugin-error.js";
import { workerMessageSchema } from "../../src/sandbox/protocol.js";
import { useTempDir } from "../support/temp-dir.js";

/**
 * A plugin's error reaches the core as its own frames only (positions in its bundle, short escaped names),
 * bounded in count and size, and is logged in the author's files through the bundle's source map.
 */

const at = (fn: string | undefined, line: number, column: number, file = BUNDLE_SOURCE_URL) =>
  fn ? `    at ${fn} (${file}:${line}:${column})` : `    at ${file}:${line}:${column}`;

describe("pluginFrames keeps the plugin's own frames", () => {
  it("drops the sandbox's and SES's frames and code made at run time, and undoes the loader's line offset", () => {
    const stack = [
      "TypeError: reply text must be a string",
      at("requireString", 60, 11, "file:///work/dist/sandbox/ctx.js"),
      at("Object.reply", 88, 21, "file:///work/dist/sandbox/ctx.js"),
      at("helper", 11, 9),
      "    at eval (eval at <anonymous> (rosey-plugin-bundle.js:3:1), <anonymous>:1:1)",
      at("async Object.onCommand", 4, 5),
      at(undefined, 30, 2),
      at("onMessage", 200, 7, "file:///work/dist/sandbox/worker-entry.js"),
    ].join("\n");
    expect(pluginFrames(stack, 1)).toEqual([
      { fn: "helper", line: 10, column: 9 },
      { fn: "async Object.onCommand", line: 3, column: 5 },
      { line: 29, column: 2 },
    ]);
  });

  it(`reports at most ${MAX_STACK_FRAMES} frames, the innermost`, () => {
    const stack = Array.from({ length: 50 }, (_, i) => at(`f${i}`, i + 2, 1)).join("\n");
    const frames = pluginFrames(stack, 1);
    expect(frames).toHaveLength(MAX_STACK_FRAMES);
    expect(frames[0]).toEqual({ fn: "f0", line: 1, column: 1 });
  });

  it("cuts and escapes a function name the plugin chose, and parses a huge one in linear time", () => {
    // (A newline in a name splits its line: what follows is at most another frame of the plugin's own bundle.)
    const [frame] = pluginFrames(at("x\u001b[2J\ry\u0085", 5, 3), 1);
    expect(frame).toEqual({ fn: "x\\u001b[2J\\u000dy\\u0085", line: 4, column: 3 });
    const huge = `${"( (".repeat(300_000)}`;
    const started = performance.now();
    const [long] = pluginFrames(at(huge, 5, 3), 1);
    expect(performance.now() - started).toBeLessThan(500);
    expect(long?.fn).toHaveLength(MAX_FRAME_NAME_CHARS);
  });

  it("ignores lines that only look like frames of the bundle", () => {
    const stack = [
      `    at x (other-${BUNDLE_SOURCE_URL}:1:1)`,
      `    at ${BUNDLE_SOURCE_URL}:0:4`,
      `    at f (${BUNDLE_SOURCE_URL}:99999999999:1)`,
      `  not a frame ${BUNDLE_SOURCE_URL}:3:4`,
    ].join("\n");
    expect(pluginFrames(stack, 1)).toEqual([]);
  });
});

describe("ambientHint", () => {
  it.each([
    "TypeError: secure mode Calling %SharedDate%.now() throws",
    "TypeError: secure mode Calling new %SharedDate%() with no arguments throws",
    "TypeError: secure mode %SharedMath%.random() throws",
  ])("points %s at ctx.now() / ctx.random()", (error) => {
    expect(ambientHint(error)).toBe(AMBIENT_HINT);
  });

  it("says nothing for other errors", () => {
    expect(ambientHint("Error: kaboom")).toBeUndefined();
    expect(ambientHint("TypeError: Cannot read properties of undefined (reading 'now')")).toBeUndefined();
  });
});

describe("the bundle's source map", () => {
  const tmp = useTempDir("rosey-plugin-error-");

  async function bundled(): Promise<string> {
    const dir = path.join(tmp(), "thrower");
    mkdirSync(path.join(dir, "lib"), { recursive: true });
    writeFileSync(
      path.join(dir, "lib", "util.ts"),
      "// helpers\nexport function explode(what: string): never {\n  throw new Error('kaboom ' + what);\n}\n",
    );
    writeFileSync(
      path.join(dir, "index.ts"),
      'import { explode } from "./lib/util.js";\ninterface C { name: string }\nexport default {\n  onCommand(c: C): string {\n    return explode(c.name);\n  },\n};\n',
    );
    return bundlePlugin(path.join(dir, "index.ts"), dir);
  }

  /** The 1-based bundle position of the first `needle` in `code`. */
  const positionOf = (code: string, needle: string) => {
    const lines = code.split("\n");
    const index = lines.findIndex((l) => l.includes(needle));
    return { line: index + 1, column: lines[index]!.indexOf(needle) + 1 };
  };

  it("travels with the bundle and is taken off before the worker gets the code", async () => {
    const bundle = await bundled();
    expect(bundle).toMatch(/\n\/\/# sourceMappingURL=data:application\/json;base64,[A-Za-z0-9+/=]+\n$/);
    const { code, map } = splitSourceMap(bundle);
    expect(code).not.toContain("sourceMappingURL");
    expect(bundle.startsWith(code)).toBe(true);
    expect(JSON.parse(map!)).toMatchObject({ sources: ["index.ts", "lib/util.ts"] });
    expect(splitSourceMap("module.exports = {};\n")).toEqual({
      code: "module.exports = {};\n",
      map: undefined,
    });
  });

  it("maps bundle positions to the author's files, lines and columns", async () => {
    const { code, map } = splitSourceMap(await bundled());
    const locator = new BundleLocator(map);
    const thrown = positionOf(code, "new Error");
    const called = positionOf(code, "explode(c.name)");
    expect(locator.locate(thrown.line, thrown.column)).toEqual({ file: "lib/util.ts", line: 3, column: 9 });
    expect(locator.locate(called.line, called.column)).toEqual({ file: "index.ts", line: 5, column: 12 });
    const report = reportPluginError(
      "Error: kaboom x",
      [
        { fn: "explode", ...thrown },
        { fn: "Object.onCommand", ...called },
      ],
      locator,
    );
    expect(report).toEqual({
      stack: "Error: kaboom x\n    at explode (lib/util.ts:3:9)\n    at Object.onCommand (index.ts:5:12)",
      at: "lib/util.ts:3:9",
    });
  });

  it("falls back to bundled positions without a map, and adds the hint for SES's refusals", () => {
    expect(
      reportPluginError(
        "TypeError: secure mode %SharedMath%.random() throws",
        [
          { fn: "roll", line: 40, column: 7 },
          { line: 2, column: 1 },
        ],
        new BundleLocator(undefined),
      ),
    ).toEqual({
      stack:
        "TypeError: secure mode %SharedMath%.random() throws\n    at roll (bundle.js:40:7)\n    at bundle.js:2:1",
      at: "bundle.js:40:7",
      hint: AMBIENT_HINT,
    });
    expect(reportPluginError("oops", undefined, undefined)).toEqual({ stack: "oops" });
    expect(new BundleLocator("{not json").locate(1, 1)).toBeUndefined();
  });

  it(`bounds the logged stack to ${MAX_STACK_CHARS} characters`, () => {
    const frames = Array.from({ length: MAX_STACK_FRAMES }, () => ({
      fn: "f".repeat(MAX_FRAME_NAME_CHARS),
      line: 1,
      column: 1,
    }));
    const { stack } = reportPluginError("E".repeat(4_000), frames, undefined);
    expect(stack.length).toBeLessThanOrEqual(MAX_STACK_CHARS);
    expect(stack.endsWith("\n...")).toBe(true);
  });
});

describe("the worker messages that carry a plugin's error", () => {
  const check = compileCheck(workerMessageSchema);
  const frame = { fn: "Object.onCommand", line: 12, column: 5 };

  it("accepts frames on a failed command, a failed load and a handler error", () => {
    for (const message of [
      { type: "command-result", id: 1, ok: false, error: "Error: x", frames: [frame] },
      { type: "load-failed", message: "Error: x", frames: [frame, { line: 1, column: 1 }] },
      {
        type: "handler-error",
        handler: "onEvent",
        detail: "rosey.events.message",
        error: "Error: x",
        frames: [frame],
        correlationId: "c-1",
        dropped: 3,
      },
      { type: "handler-error", handler: "unhandled-rejection", error: "boom" },
      { type: "blocked", seq: 4, kind: "interval", label: "'tick' (every 10 ms)" },
    ])
      expect(check(message), JSON.stringify(message)).toMatchObject({ success: true });
  });

  it("refuses what the worker's shim never sends: too many frames, long or raw names, bad positions", () => {
    const failed = (frames: unknown) => ({ type: "command-result", id: 1, ok: false, error: "E", frames });
    for (const message of [
      failed(Array.from({ length: MAX_STACK_FRAMES + 1 }, () => frame)),
      failed([{ ...frame, fn: "f".repeat(MAX_FRAME_NAME_CHARS + 1) }]),
      failed([{ ...frame, fn: "a\nb" }]),
      failed([{ ...frame, line: 0 }]),
      failed([{ ...frame, column: 1.5 }]),
      failed([{ ...frame, file: "/etc/passwd" }]),
      // The error texts themselves arrive escaped, as the handler errors' do.
      { type: "command-result", id: 1, ok: false, error: 'E\n{"level":50,"msg":"forged"}' },
      { type: "load-failed", message: "E\u001b]0;pwned\u0007" },
      { type: "handler-error", handler: "onEvent", error: "forged\nline" },
      { type: "handler-error", handler: "onMessage", error: "x" },
      { type: "handler-error", handler: "onEvent", error: "x".repeat(1025) },
      { type: "blocked", seq: 1, kind: "start", label: "x" },
    ])
      expect(check(message).success, JSON.stringify(message).slice(0, 120)).toBe(false);
  });
});
