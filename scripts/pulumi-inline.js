#!/usr/bin/env node
/**
 * Runs a Pulumi program with the real Pulumi CLI and engine on machines that
 * have no standalone Node.js language host (`pulumi-language-nodejs`).
 *
 * Why: the CLI and engine build from Go modules here (scripts/build-pulumi.sh),
 * but the language host is its own untagged Go module, which the Go module
 * proxy reachable from these machines refuses. Pulumi itself offers another
 * way in: the Automation API starts Pulumi's own Node language runtime
 * (`LanguageServer` in @pulumi/pulumi/automation) and attaches the CLI to it
 * with `pulumi <cmd> --client=<addr>`. This script does exactly that for a
 * program file, so `up`, `preview`, `refresh` and `destroy` go through the
 * real CLI, engine, dynamic-provider plugin and state backend. Where the
 * language host is installed (any normal Pulumi install), plain `pulumi up`
 * runs the same programs.
 *
 * Usage (in a Pulumi project directory, PULUMI_BACKEND_URL etc. in the env):
 *   node scripts/pulumi-inline.js <up|preview|refresh|destroy> --stack S --program FILE
 *        [--expect-no-changes] [--diff] [--parallel N] [--clear-pending-creates]
 *        [--replace URN]... [--refresh]
 *
 * --expect-no-changes and --diff apply to up, preview and refresh;
 * --replace and --refresh to up and preview; --clear-pending-creates to refresh.
 *
 * The program file is required in this process; .ts files load through Node's
 * built-in type stripping (Node >= 22.18 / 24). Its exports become the stack
 * outputs. Exit code: 0 on success, 1 on failure (Pulumi's output explains).
 */
"use strict";
const path = require("node:path");
const { parseArgs } = require("node:util");

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      stack: { type: "string" },
      program: { type: "string" },
      cwd: { type: "string", default: process.cwd() },
      "expect-no-changes": { type: "boolean", default: false },
      diff: { type: "boolean", default: false },
      parallel: { type: "string" },
      "clear-pending-creates": { type: "boolean", default: false },
      replace: { type: "string", multiple: true, default: [] },
      refresh: { type: "boolean", default: false },
    },
  });
  const [command] = positionals;
  if (!["up", "preview", "refresh", "destroy"].includes(command ?? "") || !values.stack || !values.program) {
    process.stderr.write(
      "usage: pulumi-inline.js <up|preview|refresh|destroy> --stack S --program FILE [--expect-no-changes] [--diff] [--parallel N] [--clear-pending-creates] [--replace URN]... [--refresh]\n",
    );
    return 2;
  }
  const workDir = path.resolve(values.cwd);
  const programFile = path.resolve(workDir, values.program);
  // The automation API and the program must share the project's @pulumi/pulumi.
  const auto = require(require.resolve("@pulumi/pulumi/automation", { paths: [workDir] }));
  const program = async () => {
    const exports = require(programFile);
    return Object.fromEntries(Object.entries(exports).filter(([k]) => k !== "__esModule" && k !== "default"));
  };
  const ws = await auto.LocalWorkspace.create({ workDir, program });
  const stack = await auto.Stack.select(values.stack, ws);
  const onOutput = (s) => process.stdout.write(s);
  const onError = (s) => process.stderr.write(s);
  const common = { onOutput, onError, color: "never", ...(values.parallel && { parallel: Number(values.parallel) }) };
  const plan = { diff: values.diff, expectNoChanges: values["expect-no-changes"], replace: values.replace, refresh: values.refresh };
  switch (command) {
    case "up":
      await stack.up({ ...common, ...plan });
      break;
    case "preview":
      await stack.preview({ ...common, ...plan });
      break;
    case "refresh":
      if (values.diff) refreshWithDiff(stack);
      await stack.refresh({ ...common, expectNoChanges: values["expect-no-changes"], clearPendingCreates: values["clear-pending-creates"] });
      break;
    case "destroy":
      await stack.destroy({ ...common });
      break;
  }
  return 0;
}

/**
 * The Automation API's refresh has no `diff` option, though `pulumi refresh --diff` exists:
 * add the flag to that one CLI command (not to the `stack history` the API runs after it).
 */
function refreshWithDiff(stack) {
  const run = stack.runPulumiCmd.bind(stack);
  stack.runPulumiCmd = (args, ...rest) => run(args[0] === "refresh" ? [...args, "--diff"] : args, ...rest);
}

main().then(
  (code) => process.exit(code),
  (e) => {
    // CommandError carries the CLI's own output, already streamed above.
    const msg = e && e.commandResult ? `pulumi exited with code ${e.commandResult.code}` : String((e && e.stack) || e);
    process.stderr.write(`pulumi-inline: ${msg}\n`);
    process.exit(1);
  },
);
