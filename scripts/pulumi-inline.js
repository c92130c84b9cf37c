#!/usr/bin/env node
/**
 * `pulumi-inline <pulumi arguments>`: runs the real Pulumi CLI with exactly the
 * arguments given, on machines that have no standalone Node.js language host
 * (`pulumi-language-nodejs`).
 *
 * Why: the CLI and engine build from Go modules here (scripts/build-pulumi.sh),
 * but the language host is its own untagged Go module, which the Go module
 * proxy reachable from these machines refuses. Pulumi itself offers another
 * way in, the one its Automation API uses: serve Pulumi's own Node language
 * runtime (`LanguageServer` in @pulumi/pulumi/automation) on a loopback port
 * and attach the CLI to it with `--client=<addr> --exec-kind auto.inline`.
 * This script does that and nothing else: every argument goes to `pulumi`
 * unchanged (`--diff`, `--refresh`, `--target`, `--replace`, `--json`,
 * `--expect-no-changes`, `--parallel`, `--skip-preview`, `--yes` ...), the
 * CLI's output is the output, and its exit code is the exit code.
 *
 * What differs from `pulumi` with a language host (README, "Use it in your own project"):
 * - `--program FILE` (ours, removed before the CLI sees the rest) names the program;
 *   otherwise it is Pulumi.yaml's `main:`, else package.json's `main`, else
 *   index.ts, else index.js — Pulumi's own rule. .ts files load through Node's
 *   built-in type stripping (Node >= 22.18 / 24), not ts-node: no type checking.
 * - The program's exports become the stack outputs, as in a `pulumi up` of a
 *   CommonJS program.
 * Commands that do not run the program (`stack`, `config`, `cancel` ...) go to
 * `pulumi` without a language runtime.
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { spawn } = require("node:child_process");
const { pathToFileURL } = require("node:url");

/** CLI commands that run the program, and so take `--client`. */
const ENGINE_COMMANDS = new Set(["up", "update", "preview", "pre", "refresh", "destroy", "down", "import"]);

/** Splits off our one option, `--program FILE` (before any `--`). */
function takeProgram(argv) {
  const rest = [];
  let program;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === "--program") program = argv[++i];
    else if (a.startsWith("--program=")) program = a.slice("--program=".length);
    else rest.push(a);
  }
  return { program, rest };
}

/** The directory Pulumi works in: `-C`/`--cwd` if given, as the CLI reads it. */
function workDirOf(args) {
  for (let i = 0; i < args.length && args[i] !== "--"; i++) {
    if (args[i] === "-C" || args[i] === "--cwd") return path.resolve(args[i + 1] ?? ".");
    if (args[i].startsWith("--cwd=")) return path.resolve(args[i].slice("--cwd=".length));
  }
  return process.cwd();
}

/** Pulumi's rule for a Node program's entry: Pulumi.yaml `main`, package.json `main`, index. */
function programOf(workDir) {
  let base = workDir;
  const yaml = ["Pulumi.yaml", "Pulumi.yml"].map((f) => path.join(workDir, f)).find((f) => fs.existsSync(f));
  const main = yaml && /^main:\s*["']?([^"'\s#]+)/m.exec(fs.readFileSync(yaml, "utf8"));
  if (main) {
    const p = path.resolve(workDir, main[1]);
    if (!fs.statSync(p, { throwIfNoEntry: false })?.isDirectory()) return p;
    base = p;
  }
  const pkgFile = path.join(base, "package.json");
  if (fs.existsSync(pkgFile)) {
    const pkgMain = JSON.parse(fs.readFileSync(pkgFile, "utf8")).main;
    if (pkgMain) return path.resolve(base, pkgMain);
  }
  const ts = path.join(base, "index.ts");
  return fs.existsSync(ts) ? ts : path.join(base, "index.js");
}

/** Puts `extra` after the CLI's own arguments but before a `--`, after which everything is a value. */
function withFlags(args, extra) {
  const dd = args.indexOf("--");
  return dd < 0 ? [...args, ...extra] : [...args.slice(0, dd), ...extra, ...args.slice(dd)];
}

function runPulumi(args) {
  return new Promise((resolve) => {
    const child = spawn("pulumi", args, { stdio: "inherit" });
    // The terminal sends Ctrl-C to the whole process group; a signal sent to us alone is passed on.
    for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
    child.on("error", (e) => {
      process.stderr.write(`pulumi-inline: cannot run pulumi (${e.message}); put the Pulumi CLI on PATH\n`);
      resolve(127);
    });
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 + require("node:os").constants.signals[signal] : 1)));
  });
}

async function main() {
  const { program, rest } = takeProgram(process.argv.slice(2));
  const command = rest.find((a) => !a.startsWith("-"));
  if (!ENGINE_COMMANDS.has(command)) return runPulumi(rest);

  const workDir = workDirOf(rest);
  const programFile = program ? path.resolve(workDir, program) : programOf(workDir);
  // The language runtime and the program must share the project's @pulumi/pulumi (one runtime state).
  const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [workDir] }));
  const grpc = require(require.resolve("@grpc/grpc-js", { paths: [pulumiDir] }));
  const { LanguageServer } = require(path.join(pulumiDir, "automation", "server"));
  const langrpc = require(path.join(pulumiDir, "proto", "language_grpc_pb"));
  const { grpcChannelOptions } = require(path.join(pulumiDir, "runtime", "settings"));

  // `pulumi up` runs the program twice in one session (preview, then the update), and each run must
  // construct its resources anew: the entry is loaded fresh each time (a new URL for an ES module, a
  // cleared require cache for CommonJS), sharing only node_modules (one @pulumi/pulumi runtime).
  let runs = 0;
  const languageServer = new LanguageServer(async () => {
    for (const k of Object.keys(require.cache)) if (!k.includes(`${path.sep}node_modules${path.sep}`)) delete require.cache[k];
    const mod = await import(`${pathToFileURL(programFile).href}?run=${++runs}`);
    const exports = "module.exports" in mod ? mod["module.exports"] : mod;
    return Object.fromEntries(Object.entries(exports).filter(([k]) => k !== "__esModule" && k !== "default"));
  });
  const server = new grpc.Server(grpcChannelOptions);
  server.addService(langrpc.LanguageRuntimeService, languageServer);
  const port = await new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const code = await runPulumi(withFlags(rest, [`--client=127.0.0.1:${port}`, "--exec-kind", "auto.inline"]));
  try {
    languageServer.onPulumiExit(code !== 0);
  } catch (e) {
    // A program that leaves promises unfinished: Pulumi's own check, reported as the Automation API does.
    process.stderr.write(`${e.message}\n`);
    return code || 1;
  }
  server.forceShutdown();
  return code;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`pulumi-inline: ${(e && e.stack) || e}\n`);
    process.exit(1);
  },
);
