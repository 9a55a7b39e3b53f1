#!/usr/bin/env -S node --max-semi-space-size=2
// The compiled CLI; `npm install` builds dist/ (the `prepare` script). The node flags above are the core's
// (src/core/node-flags.ts says why); `npm start` passes the same ones.
await import("../dist/cli/main.js");
