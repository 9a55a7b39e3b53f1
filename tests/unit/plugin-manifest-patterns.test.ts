import { describe, expect, it } from "vitest";
import { isRoseyError } from "../../src/core/errors.js";
import { readManifest } from "../../src/core/plugins/manifest.js";
import { writePluginFolder } from "../support/plugin-folder.js";
import { useTempDir } from "../support/temp-dir.js";

/** A manifest value refused by a pattern is explained in words, with the value, not by the regular expression. */
describe("plugin.json pattern errors", () => {
  const tmp = useTempDir("rosey-manifest-patterns-");

  it("say what the value must be and quote it", () => {
    const dir = writePluginFolder(tmp(), "shop", {
      manifest: {
        version: "1.0",
        entry: "../index.cjs",
        commands: [{ name: "Buy", aliases: ["ok", "b!"] }],
        storage: { collections: { "Bad-Name": {} } },
      },
    });
    let message = "";
    try {
      readManifest(dir);
    } catch (err) {
      expect(isRoseyError(err, "MANIFEST_INVALID")).toBe(true);
      message = (err as Error).message;
    }
    expect(message).toContain(
      `'version' must be a semantic version such as 1.0.0 or 2.1.0-beta.1: current value is "1.0"`,
    );
    expect(message).toContain(
      `'entry' must be a relative path inside the plugin's folder to a .js, .mjs, .ts or .mts file: current value is "../index.cjs"`,
    );
    expect(message).toContain(
      `'commands.0.name' must be 1-32 lowercase letters, digits, '_' or '-', starting with a letter or digit, without the prefix: current value is "Buy"`,
    );
    expect(message).toContain(`'commands.0.aliases.1' must be 1-32 lowercase letters`);
    expect(message).toContain(`current value is "b!"`);
    expect(message).toMatch(
      /'storage\.collections' must be a collection name of 1-64 lowercase letters, digits or '_', starting with a letter: current value is "Bad-Name"/,
    );
    expect(message).not.toContain("must match pattern");
  });
});
