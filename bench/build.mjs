#!/usr/bin/env node
// Builds the benchmark into dist/bench/index.js for `rosey bench` (the main build compiles src/ only).
// bench/ is bundled; its imports of the platform (../src/…) stay external and point at the compiled
// dist/ modules, so the bench drives exactly the code `rosey start` runs, not a second copy of it.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const src = path.join(root, "src");
const outdir = path.join(root, "dist", "bench");

const platformIsExternal = {
  name: "platform-is-external",
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      const target = path.resolve(args.resolveDir, args.path);
      if (!target.startsWith(src + path.sep)) return undefined;
      const inDist = path.join(root, "dist", path.relative(src, target));
      return { path: path.relative(outdir, inDist).split(path.sep).join("/"), external: true };
    });
  },
};

await build({
  entryPoints: [path.join(root, "bench", "index.ts")],
  outfile: path.join(outdir, "index.js"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  sourcemap: true,
  logLevel: "warning",
  plugins: [platformIsExternal],
});
