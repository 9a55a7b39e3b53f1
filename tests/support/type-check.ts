import path from "node:path";
import ts from "typescript";

/** One error the TypeScript compiler reports. */
export interface CompileError {
  /** The file it is in, as the program names it (absolute for absolute root names). */
  file: string | undefined;
  /** `TS2345` is 2345. */
  code: number;
  message: string;
}

/** Every error of a program: options, syntax and types. */
function errorsOf(program: ts.Program): CompileError[] {
  return ts.getPreEmitDiagnostics(program).map((d) => ({
    file: d.file?.fileName,
    code: d.code,
    message: ts.flattenDiagnosticMessageText(d.messageText, "\n"),
  }));
}

/**
 * Type-checks `files` with tsconfig.json-style `compilerOptions` (strings, as the file has them), in process.
 * Returns the program too, for its type checker.
 */
export function typeCheckFiles(
  files: string[],
  compilerOptions: Record<string, unknown>,
  basePath: string,
): { program: ts.Program; errors: CompileError[] } {
  const { options, errors } = ts.convertCompilerOptionsFromJson(compilerOptions, basePath);
  if (errors.length > 0) throw new Error(ts.flattenDiagnosticMessageText(errors[0]!.messageText, "\n"));
  const program = ts.createProgram(files, options);
  return { program, errors: errorsOf(program) };
}

/** Type-checks the project of `<dir>/tsconfig.json`, as `tsc -p <dir>` does. */
export function typeCheckProject(dir: string): CompileError[] {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(dir, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (!parsed) throw new Error(`no tsconfig.json in ${dir}`);
  return errorsOf(ts.createProgram(parsed.fileNames, parsed.options));
}
