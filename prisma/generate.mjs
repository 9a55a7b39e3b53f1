#!/usr/bin/env node
// Generates the Prisma clients offline, one per engine, into src/generated/prisma/{sqlite,postgresql}.
//
// Prisma 7 clients need no Rust query engine (the wasm query compiler ships in @prisma/client and
// queries go through driver adapters). `prisma generate` still insists that a schema engine binary exists
// and tries to download one unless PRISMA_SCHEMA_ENGINE_BINARY names an existing file; it never executes
// it. We point it at prisma/offline-schema-engine, a script that fails loudly if anything ever runs it.
//
// The provider is fixed per generated client, so the PostgreSQL client is generated from a copy of
// schema.prisma with only the provider and output rewritten: the models have one source.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const schemaFile = path.join(here, "schema.prisma");
const prismaCli = path.join(root, "node_modules", "prisma", "build", "index.js");
const placeholder = path.join(here, "offline-schema-engine");

const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: "1", CHECKPOINT_DISABLE: "1" };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY || !existsSync(env.PRISMA_SCHEMA_ENGINE_BINARY)) {
  env.PRISMA_SCHEMA_ENGINE_BINARY = placeholder;
}

const schema = readFileSync(schemaFile, "utf8");
const pgSchema = schema
  .replace(/provider\s*=\s*"sqlite"/, 'provider = "postgresql"')
  .replace(
    'output                 = "../src/generated/prisma/sqlite"',
    'output = "../src/generated/prisma/postgresql"',
  );
if (pgSchema === schema || !pgSchema.includes('"postgresql"') || !pgSchema.includes("prisma/postgresql")) {
  console.error("prisma/generate.mjs: cannot derive the PostgreSQL schema (provider/output lines changed?)");
  process.exit(1);
}
const tmpDir = path.join(here, ".generated");
mkdirSync(tmpDir, { recursive: true });
const pgSchemaFile = path.join(here, ".generated", "schema.postgresql.prisma");
// The copy sits one level deeper, so its relative output path needs one more "..".
writeFileSync(pgSchemaFile, pgSchema.replace('"../src/generated/', '"../../src/generated/'));

function generate(file) {
  const result = spawnSync(process.execPath, [prismaCli, "generate", "--schema", file], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
  });
  if (result.status !== 0) {
    process.stderr.write(result.stdout ?? "");
    process.stderr.write(result.stderr ?? "");
    console.error(`prisma/generate.mjs: prisma generate failed for ${path.relative(root, file)}`);
    process.exit(result.status ?? 1);
  }
}

try {
  generate(schemaFile);
  generate(pgSchemaFile);
} finally {
  rmSync(tmpDir, { recursive: true, force: true });
}
console.log("Generated Prisma clients (sqlite, postgresql) in src/generated/prisma");
