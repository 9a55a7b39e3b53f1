import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type ts from "typescript";
import { beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import type { Command as RouterCommand } from "../../src/core/commands.js";
import type { KvResults } from "../../src/core/db/kv-protocol.js";
import type {
  ChatEvent,
  Envelope as CoreEnvelope,
  UserData as CoreUserData,
} from "../../src/core/envelope.js";
import type { ErrorCode } from "../../src/core/errors.js";
import { PACKAGE_ROOT } from "../../src/core/paths.js";
import { pluginCompilerOptions } from "../../src/core/plugins/scaffold.js";
import { NORMALIZED_EVENTS } from "../../src/core/subjects.js";
import type { HOOKS } from "../../src/sandbox/loader.js";
import type {
  Command,
  CtxErrorCode,
  Envelope,
  Plugin,
  PmEvent,
  StorageDeleteResult,
  StorageRecords,
  StorageSetResult,
  UserData,
} from "../../src/sandbox/plugin-api.js";
import { useTempDir } from "../support/temp-dir.js";
import { type CompileError, typeCheckFiles } from "../support/type-check.js";

const API = path.join(PACKAGE_ROOT, "src", "sandbox", "plugin-api.ts");
const FIXTURE = path.join(PACKAGE_ROOT, "tests", "fixtures", "typed-plugin", "index.ts");

/**
 * Plugin code the declarations must refuse, each with the one error it gets. Each file imports the types as
 * `import type { Plugin } from "rosey/plugin"` unless it says otherwise.
 */
const WRONG: Record<string, { code: string; error: number; message: RegExp }> = {
  "a number passed to ctx.reply": {
    code: "export default { onCommand(command, ctx) { ctx.reply(42); } } satisfies Plugin;",
    error: 2345,
    message: /'number' is not assignable to parameter of type 'string'/,
  },
  "a misspelt hook": {
    code: 'export default { onComand() { return "hi"; } } satisfies Plugin;',
    error: 2561,
    message: /Did you mean to write 'onCommand'\?/,
  },
  "an object returned from onCommand (nothing would be sent)": {
    code: 'export default { onCommand() { return { text: "hi" }; } } satisfies Plugin;',
    error: 2322,
    message: /'\{ text: string; \}' is not assignable/,
  },
  "ctx.reply outside onCommand (it throws there)": {
    code: 'export default { start(ctx) { ctx.reply("hi"); } } satisfies Plugin;',
    error: 2339,
    message: /Property 'reply' does not exist on type 'Ctx'/,
  },
  "a storage option the gate refuses": {
    code: 'export default { async start(ctx) { await ctx.storage.query("notes", { limt: 5 }); } } satisfies Plugin;',
    error: 2561,
    message: /Did you mean to write 'limit'\?/,
  },
  "a frozen command changed": {
    code: 'export default { onCommand(command) { command.args.push("x"); } } satisfies Plugin;',
    error: 2339,
    message: /Property 'push' does not exist on type 'readonly string\[\]'/,
  },
  "a global the sandbox does not have": {
    code: 'export default { start() { console.log("hi"); } } satisfies Plugin;',
    error: 2584,
    message: /Cannot find name 'console'/,
  },
  "a value import of the types (the bundler would refuse it)": {
    code: 'import { Plugin as P } from "rosey/plugin";\nexport default { start() {} } satisfies P;',
    error: 1484,
    message: /'Plugin' is a type and must be imported using a type-only import/,
  },
};

/** The subjects of docs/plugins.md's table of events (`rosey.events.user.join` / `.leave` is two). */
function documentedEvents(): string[] {
  const docs = readFileSync(path.join(PACKAGE_ROOT, "docs", "plugins.md"), "utf8");
  return [...docs.matchAll(/^\| (`rosey\.events\.[^|]*)\|/gm)].flatMap((row) => {
    const [first, ...others] = [...row[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const parent = first!.slice(0, first!.lastIndexOf("."));
    return [first!, ...others.map((suffix) => parent + suffix)];
  });
}

/** The property names of an exported interface of plugin-api.ts. */
function membersOf(program: ts.Program, name: string): string[] {
  const checker = program.getTypeChecker();
  const module = checker.getSymbolAtLocation(program.getSourceFile(API)!)!;
  const symbol = checker.getExportsOfModule(module).find((s) => s.name === name);
  if (!symbol) throw new Error(`plugin-api.ts exports no ${name}`);
  return checker
    .getDeclaredTypeOfSymbol(symbol)
    .getProperties()
    .map((p) => p.name);
}

describe("rosey/plugin (src/sandbox/plugin-api.ts), as a plugin author compiles against it", () => {
  const tmp = useTempDir("rosey-plugin-api-", "all");
  let program: ts.Program;
  let errors: CompileError[];
  const wrongFile = (title: string) => path.join(tmp(), `${Object.keys(WRONG).indexOf(title)}.ts`);

  beforeAll(() => {
    for (const [title, { code }] of Object.entries(WRONG)) {
      const imports = code.startsWith("import") ? "" : 'import type { Plugin } from "rosey/plugin";\n';
      writeFileSync(wrongFile(title), `${imports}${code}\n`);
    }
    // The options `rosey plugin new --typescript` writes, with the types read from the source, not dist/.
    const options = { ...pluginCompilerOptions(path.dirname(FIXTURE)), paths: { "rosey/plugin": [API] } };
    ({ program, errors } = typeCheckFiles(
      [FIXTURE, ...Object.keys(WRONG).map(wrongFile)],
      options,
      path.dirname(FIXTURE),
    ));
  });

  it("type-checks a plugin that uses every hook and every member of ctx", () => {
    // The declarations themselves included: they need nothing the sandbox lacks (no Node or DOM types).
    const wrongFiles = Object.keys(WRONG).map(wrongFile);
    expect(errors.filter((e) => e.file === undefined || !wrongFiles.includes(e.file))).toEqual([]);
    const source = readFileSync(FIXTURE, "utf8");
    for (const hook of membersOf(program, "Plugin"))
      expect(source).toMatch(new RegExp(`\n  (async )?${hook}\\(`));
    const uses = [
      ...membersOf(program, "CommandCtx").map((m) => `ctx.${m}`),
      ...membersOf(program, "CtxStorage").map((m) => `ctx.storage.${m}(`),
      ...membersOf(program, "CtxLog").map((m) => `ctx.log.${m}(`),
    ];
    for (const use of uses) expect(source, use).toContain(use);
  });

  it.each(Object.keys(WRONG))("refuses %s", (title) => {
    const { error, message } = WRONG[title]!;
    const found = errors.filter((e) => e.file === wrongFile(title));
    expect(found).toEqual([{ file: wrongFile(title), code: error, message: expect.stringMatching(message) }]);
  });

  it("gives the data of every event docs/plugins.md lists, and of no other", () => {
    expect(membersOf(program, "Events").sort()).toEqual(documentedEvents().sort());
    expect([...NORMALIZED_EVENTS].sort()).toEqual(documentedEvents().sort());
  });
});

// Checked by `npm run typecheck` (tests/ is part of it): the contract's types against the code on either side.
describe("the public types agree with the sandbox and the core", () => {
  it("the loader knows every hook, and the core's commands, events and storage answers fit the types", () => {
    expectTypeOf<(typeof HOOKS)[number]>().toEqualTypeOf<keyof Plugin>();
    expectTypeOf<CtxErrorCode>().toExtend<ErrorCode>();
    expectTypeOf<RouterCommand>().toExtend<Command>();
    expectTypeOf<CoreEnvelope>().toExtend<Envelope>();
    expectTypeOf<ChatEvent>().toExtend<PmEvent>();
    expectTypeOf<CoreUserData>().toExtend<UserData>();
    expectTypeOf<KvResults["set"]>().toExtend<StorageSetResult>();
    expectTypeOf<KvResults["delete"]>().toExtend<StorageDeleteResult>();
    expectTypeOf<KvResults["query"]>().toExtend<StorageRecords>();
    expectTypeOf<KvResults["count"]>().toEqualTypeOf<number>();
  });
});
