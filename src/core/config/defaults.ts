import type { RoseyConfigInput } from "./schema.js";

/**
 * The embedded defaults `rosey start` runs on when no config file exists: console connector, embedded
 * nats-server, SQLite in `data/`, and the bundled plugins granted the `basic` group. Anything else found
 * in the plugins folder loads with no grants (default deny) until the operator grants it.
 */
export const DEFAULT_CONFIG: RoseyConfigInput = {
  version: 2,
  dataDir: "data",
  platforms: [],
  plugins: {
    directory: "plugins",
    entries: {
      help: { grants: ["basic"] },
      echo: { grants: ["basic"] },
      dice: { grants: ["basic"] },
      eightball: { grants: ["basic"] },
      quotes: { grants: ["basic"] },
    },
  },
};
