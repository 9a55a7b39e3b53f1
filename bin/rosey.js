#!/usr/bin/env node
// The compiled CLI; `npm install` builds dist/ (the `prepare` script).
import v8 from "node:v8";

// A larger young generation lets the core's short-lived per-message objects die young instead of being
// promoted: at 1,000 msg/s it takes p99 from ~6.5 ms to ~4 ms (bench/README.md). Set before the heap grows.
v8.setFlagsFromString("--max-semi-space-size=16");
await import("../dist/cli/main.js");
