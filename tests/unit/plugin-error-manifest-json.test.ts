import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { jsonErrorOffset, jsonSyntaxError, readManifest } from "../../src/core/plugins/manifest.js";
import { writePluginFolder } from "../support/plugin-folder.js";
import { useTempDir } from "../support/temp-dir.js";

/** A plugin.json that is not JSON is reported with the line and column of the problem, not only an offset. */
describe("plugin.json syntax errors", () => {
  const tmp = useTempDir("rosey-manifest-json-");

  it("name the line and column in the MANIFEST_INVALID error", () => {
    const dir = writePluginFolder(tmp(), "broken");
    writeFileSync(
      path.join(dir, "plugin.json"),
      '{\n  "name": "broken",\n  "version": "1.0.0"\n  "entry": "index.js"\n}\n',
    );
    expect(() => readManifest(dir)).toThrowError(
      expect.objectContaining({
        code: "MANIFEST_INVALID",
        message: expect.stringMatching(
          /plugin\.json: Expected ',' or '}' after property value in JSON at line 4, column 3 \(position 45\)$/,
        ),
      }),
    );
  });

  it.each([
    ['{"a": 1,}', "Expected double-quoted property name in JSON at line 1, column 9 (position 8)"],
    ["{\n  'a': 1\n}", "Expected property name or '}' in JSON at line 2, column 3 (position 4)"],
    [
      '{\n  "a": 1, // note\n}',
      "Expected double-quoted property name in JSON at line 2, column 11 (position 12)",
    ],
    ['{\n  "a": yes\n}', `Unexpected token 'y', "{\n  "a": yes\n}" is not valid JSON (at line 2, column 8)`],
    ['{\n  "a": ', "Unexpected end of JSON input (at line 2, column 8)"],
  ])("%j → %s", (text, expected) => {
    let message = "";
    try {
      JSON.parse(text);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(jsonSyntaxError(text, message)).toBe(expected);
  });

  it("finds no problem in valid JSON, and gives up on nesting deeper than a manifest needs", () => {
    expect(jsonErrorOffset('{"a": [1, -2.5e3, true, null, "\\u00e9\\n"], "b": {}}')).toBeUndefined();
    expect(jsonErrorOffset(`${"[".repeat(10_000)}x`)).toBeUndefined();
    expect(jsonErrorOffset('"a\tb"')).toBe(2);
    expect(jsonErrorOffset('{"a": 01}')).toBe(7);
  });
});
