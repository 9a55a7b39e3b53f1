import { describe, expect, it } from "vitest";
import { checkPluginConfig } from "../../src/core/plugins/plugin-config.js";
import { startFixturePlugins } from "../support/fixture-plugins.js";

const SCHEMA = {
  type: "object",
  properties: { greeting: { type: "string", maxLength: 20 }, times: { type: "integer", maximum: 3 } },
  required: ["greeting"],
  additionalProperties: false,
};

describe("checkPluginConfig", () => {
  it("passes a config the manifest's configSchema accepts, and any config when there is none", () => {
    expect(() => checkPluginConfig("g", SCHEMA, { greeting: "Hi" })).not.toThrow();
    expect(() => checkPluginConfig("g", undefined, { anything: true })).not.toThrow();
  });

  it("lists every problem with its path in the config file and the value found", () => {
    expect(() => checkPluginConfig("g", SCHEMA, { times: 9, colour: "red" })).toThrow(
      [
        "Invalid config for plugin 'g':",
        '  - \'plugins.entries.g.config\' must have required property \'greeting\': current value is {"times":9,"colour":"red"}',
        "  - 'plugins.entries.g.config.colour' is not a setting g defines (it defines: greeting, times)",
        "  - 'plugins.entries.g.config.times' must be <= 3: current value is 9",
      ].join("\n"),
    );
  });

  it("names a misspelt setting and the one probably meant", () => {
    expect(() => checkPluginConfig("g", SCHEMA, { greting: "Hi" })).toThrow(
      "'plugins.entries.g.config.greting' is not a setting g defines; did you mean \"greeting\"? (it defines: greeting, times)",
    );
  });

  it("calls a manifest whose configSchema is not a JSON Schema invalid", () => {
    expect(() => checkPluginConfig("g", { type: "no-such-type" }, {})).toThrow(
      expect.objectContaining({ code: "MANIFEST_INVALID" }),
    );
  });
});

describe("a plugin's config checked against its configSchema before it starts", () => {
  const start = async (config: Record<string, unknown>) => {
    const p = await startFixturePlugins({
      plugins: { welcomer: { grants: ["chat.send"], config } },
    });
    const status = p.manager.status()[0]!;
    await p.stop();
    return status;
  };

  it("runs with a valid config", async () => {
    expect(await start({ greeting: "Ahoy", times: 2 })).toMatchObject({ state: "running" });
  });

  it("an operator's reload of a plugin that still fails says why, and that reload does not re-read rosey.yaml", async () => {
    const p = await startFixturePlugins({
      plugins: {
        welcomer: { grants: ["chat.send"], config: { greeting: "a greeting far too long to fit" } },
      },
    });
    try {
      const reply = await p.client.request<{ ok: boolean; error: { message: string } }>(
        "rosey.admin.plugins.reload",
        { plugin: "welcomer" },
        { timeoutMs: 10_000 },
      );
      expect(reply.data.ok).toBe(false);
      expect(reply.data.error.message).toMatch(
        /^plugin 'welcomer' is failed: Invalid config for plugin 'welcomer':[\s\S]*greeting[\s\S]*\(reload re-reads the plugin's code, not its plugin.json or rosey.yaml: restart rosey for those\)$/,
      );
    } finally {
      await p.stop();
    }
  });

  it("does not start with an invalid one, and says what to fix", async () => {
    const status = await start({ greeting: "a greeting far too long to fit", times: 2 });
    expect(status.state).toBe("failed");
    expect(status.lastError).toBe(
      "Invalid config for plugin 'welcomer':\n  - 'plugins.entries.welcomer.config.greeting' must NOT have more than 20 characters: current value is \"a greeting far too long to fit\"",
    );
  });
});
