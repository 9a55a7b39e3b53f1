import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: integration suites each own workers and child processes, so keep parallelism modest.
    maxWorkers: 2,
    pool: "forks",
  },
});
