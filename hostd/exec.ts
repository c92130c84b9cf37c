/**
 * The one way hostd runs a program: execFile, never a shell, and errors that
 * carry the command, its arguments, exit code and stderr.
 */
import { execFile } from "node:child_process";

export class ExecError extends Error {
  override readonly name = "ExecError";
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stderr: string,
    cause?: string,
  ) {
    super(
      `${command} ${args.join(" ")} failed (${signal ? `signal ${signal}` : `exit ${exitCode}`})` +
        `${stderr.trim() ? `: ${lastLines(stderr)}` : cause ? `: ${cause}` : ""}`,
    );
  }
}

function lastLines(s: string, n = 5): string {
  return s.trim().split("\n").slice(-n).join(" | ");
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  maxBuffer?: number;
}

export function run(command: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        timeout: opts.timeoutMs ?? 60_000,
        env: opts.env ?? process.env,
        maxBuffer: opts.maxBuffer ?? 16 * 1024 * 1024,
        encoding: "utf8",
      },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { code?: number | string; signal?: string | null; killed?: boolean };
          const code = typeof e.code === "number" ? e.code : null;
          const cause = typeof e.code === "string" ? `${e.code}${e.code === "ENOENT" ? " (not installed?)" : ""}` : e.killed ? "timed out" : undefined;
          reject(new ExecError(command, args, code, e.signal ?? null, stderr ?? "", cause));
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}
