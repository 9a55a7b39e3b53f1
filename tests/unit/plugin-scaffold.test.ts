import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { isRoseyError } from "../../src/core/errors.js";
import { PACKAGE_ROOT } from "../../src/core/paths.js";
import { bundlePlugin } from "../../src/core/plugins/bundle.js";
import { readManifest } from "../../src/core/plugins/manifest.js";
import { roseyCommand, scaffoldPlugin } from "../../src/core/plugins/scaffold.js";
import { writePluginFolder } from "../support/plugin-folder.js";
import { useTempDir } from "../support/temp-dir.js";
import { typeCheckProject } from "../support/type-check.js";

describe("scaffoldPlugin (rosey plugin new)", () => {
  const dir = useTempDir("rosey-scaffold-");

  it("writes a manifest, an entry module and a README that load through the plugin reader", () => {
    const plugins = path.join(dir(), "nested", "plugins");
    const result = scaffoldPlugin("greeter-2", plugins);
    expect(result.dir).toBe(path.join(plugins, "greeter-2"));
    expect(result.files.map((f) => path.basename(f))).toEqual(["plugin.json", "index.js", "README.md"]);

    const { manifest, entryFile } = readManifest(result.dir);
    expect(manifest).toMatchObject({
      name: "greeter-2",
      version: "0.1.0",
      entry: "index.js",
      commands: [{ name: "greeter-2", usage: "!greeter-2 [name]" }],
      capabilities: ["chat.send"],
    });
    expect(entryFile).toBe(path.join(result.dir, "index.js"));
    const readme = readFileSync(path.join(result.dir, "README.md"), "utf8");
    expect(readme).toContain("greeter-2: { grants: [chat.send] }");
    // Not `npx rosey`: outside the checkout npx would fetch an unrelated registry package of that name.
    expect(readme).toContain(`echo '!greeter-2 world' | ${roseyCommand()} start --config rosey.yaml`);
    expect(readme).not.toMatch(/^npx rosey|\| npx rosey/m);
  });

  it("with typescript, writes index.ts typed with rosey/plugin and a tsconfig.json that checks it, in Rosey's checkout or elsewhere", async () => {
    const declarations = path.join(PACKAGE_ROOT, "dist", "sandbox", "plugin-api.d.ts");
    expect(existsSync(declarations), "run `npm run build` first").toBe(true);
    // Inside the checkout "rosey/plugin" resolves through package.json's `exports` (the package's own name).
    mkdirSync(path.join(PACKAGE_ROOT, ".tmp"), { recursive: true });
    const inCheckout = mkdtempSync(path.join(PACKAGE_ROOT, ".tmp", "scaffold-"));
    onTestFinished(() => rmSync(inCheckout, { recursive: true, force: true }));
    const places = [
      { plugins: path.join(inCheckout, "plugins"), paths: undefined },
      { plugins: path.join(dir(), "plugins"), paths: { "rosey/plugin": [declarations] } },
    ];
    for (const { plugins, paths } of places) {
      const result = scaffoldPlugin("greet-ts", plugins, { typescript: true });
      expect(result.files.map((f) => path.basename(f))).toEqual([
        "plugin.json",
        "index.ts",
        "tsconfig.json",
        "README.md",
      ]);
      const { manifest, entryFile } = readManifest(result.dir);
      expect(manifest.entry).toBe("index.ts");
      expect(readFileSync(entryFile, "utf8")).toContain('import type { Plugin } from "rosey/plugin";');
      const tsconfig = JSON.parse(readFileSync(path.join(result.dir, "tsconfig.json"), "utf8"));
      expect(tsconfig.compilerOptions.paths).toEqual(paths);
      expect(readFileSync(result.readme, "utf8")).toContain("npx -p typescript tsc -p ");
      expect(typeCheckProject(result.dir), plugins).toEqual([]);
      expect(await bundlePlugin(entryFile, result.dir)).not.toContain("rosey/plugin");
    }
  });

  it("tells the author to run this checkout's bin/rosey.js: by its relative path inside the checkout, else absolute", () => {
    const bin = path.join(PACKAGE_ROOT, "bin", "rosey.js");
    expect(existsSync(bin)).toBe(true);
    expect(roseyCommand(PACKAGE_ROOT)).toBe("node bin/rosey.js");
    expect(roseyCommand(path.join(PACKAGE_ROOT, "plugins"))).toBe(`node ${bin}`);
    expect(roseyCommand(dir())).toBe(`node ${bin}`);
  });

  it("refuses a name whose table prefix would clash with an installed plugin's, either way round", () => {
    const plugins = path.join(dir(), "plugins");
    scaffoldPlugin("vault", plugins);
    scaffoldPlugin("vaults", plugins);
    for (const clashing of ["vault-keys", "vault-keys-x"]) {
      let error: unknown;
      try {
        scaffoldPlugin(clashing, plugins);
      } catch (err) {
        error = err;
      }
      expect(isRoseyError(error, "PLUGIN_PREFIX_CLASH"), clashing).toBe(true);
      expect((error as Error).message).toMatch(/'vault' \(prefix 'vault_'\)/);
    }
    const pluginsB = path.join(dir(), "plugins-b");
    scaffoldPlugin("quote-book", pluginsB);
    expect(() => scaffoldPlugin("quote", pluginsB)).toThrow(
      /overlaps that of 'quote-book' \(prefix 'quote_book_'\)/,
    );
    expect(existsSync(path.join(pluginsB, "quote"))).toBe(false);
  });

  it("says when the new plugin's command is one an installed plugin claims too (none would answer it)", () => {
    const plugins = path.join(dir(), "clash");
    writePluginFolder(plugins, "quotes", {
      manifest: { commands: [{ name: "quotes", aliases: ["quote"] }] },
    });
    expect(scaffoldPlugin("quote", plugins).commandClashes).toEqual([
      { word: "quote", claimants: ["quotes", "quote"] },
    ]);
    expect(scaffoldPlugin("dice", plugins).commandClashes).toEqual([]);
  });

  it("refuses a name the manifest schema refuses, naming the rule, and writes nothing", () => {
    for (const bad of ["Hello", "1dice", "has_underscore", "", "a".repeat(33), "../escape"]) {
      let error: unknown;
      try {
        scaffoldPlugin(bad, dir());
      } catch (err) {
        error = err;
      }
      expect(isRoseyError(error, "VALIDATION_FAILED"), bad).toBe(true);
      expect((error as Error).message).toContain(`Cannot create plugin ${JSON.stringify(bad)}`);
    }
    expect(existsSync(path.join(dir(), "Hello"))).toBe(false);
    expect(existsSync(path.join(path.dirname(dir()), "escape"))).toBe(false);
  });

  it("never overwrites: an existing folder is ALREADY_EXISTS and its files stay as they were", () => {
    scaffoldPlugin("hello", dir());
    const manifestFile = path.join(dir(), "hello", "plugin.json");
    writeFileSync(manifestFile, '{"name":"hello","edited":true}');
    expect(() => scaffoldPlugin("hello", dir())).toThrowError(
      expect.objectContaining({ code: "ALREADY_EXISTS", message: expect.stringContaining("already exists") }),
    );
    expect(readFileSync(manifestFile, "utf8")).toBe('{"name":"hello","edited":true}');
  });
});
