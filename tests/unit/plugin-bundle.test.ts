import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { bundlePlugin, MAX_BUNDLE_BYTES } from "../../src/core/plugins/bundle.js";
import { splitSourceMap } from "../../src/core/plugins/bundle-source-map.js";
import { useTempDir } from "../support/temp-dir.js";

/**
 * Bundling runs in the core, which can read the operator's files: what a plugin imports must come from its
 * own folder, whatever path or symlink it takes to get out.
 */
describe("bundlePlugin keeps a plugin inside its folder", () => {
  const tmp = useTempDir("rosey-bundle-");
  let root: string;
  let dir: string;
  beforeEach(() => {
    root = tmp();
    dir = path.join(root, "plugins", "p");
    mkdirSync(path.join(dir, "lib"), { recursive: true });
    writeFileSync(path.join(root, "secret.json"), '{ "password": "hunter2" }');
    writeFileSync(path.join(root, "secret.txt"), "hunter2");
  });

  const entry = (code: string) => {
    writeFileSync(path.join(dir, "index.js"), code);
    return bundlePlugin(path.join(dir, "index.js"), dir);
  };

  it("bundles modules and data from inside the folder", async () => {
    writeFileSync(path.join(dir, "lib", "words.js"), 'export const word = "inside";');
    writeFileSync(path.join(dir, "lib", "data.json"), '{ "n": 42 }');
    const code = await entry(
      'import { word } from "./lib/words.js"; import data from "./lib/data.json"; export default { onCommand: () => word + data.n };',
    );
    expect(code).toContain('"inside"');
    expect(code).toContain("42");
  });

  it.each([
    ["a relative path", '"../../secret.json"'],
    ["a relative path to a text file", '"../../secret.txt"'],
    ["an absolute path", () => JSON.stringify(path.join(root, "secret.json"))],
  ])("refuses a file outside the folder reached by %s", async (_how, spec) => {
    const target = typeof spec === "function" ? spec() : spec;
    const load = entry(`import s from ${target}; export default { onCommand: () => JSON.stringify(s) };`);
    await expect(load).rejects.toMatchObject({ code: "PLUGIN_LOAD_FAILED" });
    await expect(load).rejects.toThrow(/outside the plugin's folder|no access to modules outside/);
  });

  it("refuses a symlink inside the folder that points out of it", async () => {
    symlinkSync(path.join(root, "secret.json"), path.join(dir, "lib", "config.json"));
    const load = entry('import s from "./lib/config.json"; export default { onCommand: () => s.password };');
    await expect(load).rejects.toThrow(
      "cannot import 'lib/config.json': it is outside the plugin's folder (directly or through a symlink)",
    );
  });

  it("ignores sourceMappingURL comments: esbuild would follow them out of the folder, to a FIFO or /dev/zero", async () => {
    execFileSync("mkfifo", [path.join(root, "fifo.map")]);
    writeFileSync(path.join(dir, "lib", "a.js"), "export const a = 1;\n//# sourceMappingURL=/dev/zero\n");
    const fake = Buffer.from(
      JSON.stringify({ version: 3, sources: ["../other/index.ts"], mappings: "AAAA" }),
    );
    const started = Date.now();
    const code = await entry(
      `import { a } from "./lib/a.js";\nexport default { onCommand: () => String(a) };\n//# sourceMappingURL=../../fifo.map\n/*# sourceMappingURL=data:application/json;base64,${fake.toString("base64")} */\n`,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    // The map the core keeps names the plugin's own files only.
    const { map } = splitSourceMap(code);
    expect((JSON.parse(map ?? "{}") as { sources?: string[] }).sources).toEqual(["index.js", "lib/a.js"]);
    expect(code).not.toContain("fifo.map");
  });

  it("refuses to bundle a file no loader is meant for", async () => {
    writeFileSync(path.join(dir, "lib", "notes.txt"), "hello");
    await expect(entry('import t from "./lib/notes.txt"; export default {};')).rejects.toThrow(
      /cannot import 'lib\/notes\.txt': not a \.js, \.mjs, \.cjs, \.ts, \.mts, \.cts or \.json file/,
    );
  });

  it("refuses bare module names (Node built-ins, packages)", async () => {
    await expect(entry('import fs from "node:fs"; export default {};')).rejects.toThrow(
      /cannot import 'node:fs': plugins have no access to modules outside their folder/,
    );
  });
});

/**
 * "rosey/plugin" holds types only: `import type` is erased from the bundle, and any import of it that stays
 * is refused like every other module from outside the folder, with a hint.
 */
describe("bundlePlugin and Rosey's plugin types", () => {
  const tmp = useTempDir("rosey-bundle-types-");
  const entryTs = (code: string) => {
    const dir = path.join(tmp(), "typed");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "index.ts"), code);
    return bundlePlugin(path.join(dir, "index.ts"), dir);
  };

  it("erases `import type` of rosey/plugin", async () => {
    const code = await entryTs(
      'import type { Plugin } from "rosey/plugin";\nexport default { onCommand: () => "hi" } satisfies Plugin;\n',
    );
    expect(code).not.toContain("rosey/plugin");
  });

  it("refuses a value import, saying to use `import type`", async () => {
    const load = entryTs('import { definePlugin } from "rosey/plugin";\nexport default definePlugin({});\n');
    await expect(load).rejects.toMatchObject({ code: "PLUGIN_LOAD_FAILED" });
    await expect(load).rejects.toThrow(
      "cannot import 'rosey/plugin': plugins have no access to modules outside their folder; 'rosey/plugin' has types only: import them with `import type`",
    );
  });

  it("reads no package.json or tsconfig.json of the plugin's: esbuild's resolver would, FIFOs and devices included", async () => {
    const dir = path.join(tmp(), "typed");
    mkdirSync(path.join(dir, "lib"), { recursive: true });
    execFileSync("mkfifo", [path.join(dir, "tsconfig.json")]);
    execFileSync("mkfifo", [path.join(dir, "package.json")]);
    execFileSync("mkfifo", [path.join(dir, "lib", "package.json")]);
    writeFileSync(path.join(dir, "lib", "index.ts"), "export const answer: number = 42;\n");
    writeFileSync(path.join(dir, "lib", "util.ts"), "export const twice = (n: number) => 2 * n;\n");
    const code = await entryTs(
      'import { answer } from "./lib";\nimport { twice } from "./lib/util.js";\nexport default { onCommand: () => String(twice(answer)) };\n',
    );
    expect(code).toContain("42");
  });
});

/**
 * The bundle travels to the plugin host in one frame: a plugin over the cap must fail to load on its own,
 * with an error that says why, instead of the host refusing the frame and dying with every plugin in it.
 */
describe("bundlePlugin caps the bundled code", () => {
  const tmp = useTempDir("rosey-bundle-size-");

  const withWords = (chars: number) => {
    const dir = path.join(tmp(), "wordy");
    mkdirSync(dir);
    writeFileSync(path.join(dir, "words.js"), `export const WORDS = "${"w".repeat(chars)}";\n`);
    writeFileSync(
      path.join(dir, "index.js"),
      'import { WORDS } from "./words.js"; export default { onCommand: () => WORDS.slice(0, 5) };',
    );
    return bundlePlugin(path.join(dir, "index.js"), dir);
  };

  it("refuses code over MAX_BUNDLE_BYTES, naming the plugin, its size and the limit", async () => {
    const load = withWords(MAX_BUNDLE_BYTES);
    await expect(load).rejects.toMatchObject({
      code: "PLUGIN_LOAD_FAILED",
      details: { bytes: expect.any(Number), limit: MAX_BUNDLE_BYTES },
    });
    await expect(load).rejects.toThrow(
      new RegExp(
        `^Cannot load plugin 'wordy': its bundled code \\(.*index\\.js and what it imports\\) is \\d+ bytes, over the ${MAX_BUNDLE_BYTES}-byte limit`,
      ),
    );
  });

  it("loads code just under the limit", async () => {
    const code = await withWords(MAX_BUNDLE_BYTES - 4096);
    expect(Buffer.byteLength(code)).toBeLessThanOrEqual(MAX_BUNDLE_BYTES);
  });
});
