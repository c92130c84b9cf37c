/**
 * The `hostd install`, `hostd uninstall` and `hostd doctor` commands: argument
 * handling and printing around install.ts and doctor.ts. Each returns the exit code.
 */
import * as path from "node:path";
import { doctorExitCode, evaluate, gatherProbes, renderReport } from "./doctor";
import { install, realSystem, uninstall } from "./install";

function needRoot(cmd: string): boolean {
  if (process.getuid?.() === 0) return true;
  process.stderr.write(`hostd ${cmd}: must run as root (it writes /etc/systemd/system and manages groups)\n`);
  return false;
}

/** 0: installed (and enabled); 1: something failed; 2: not root. */
export async function installCommand(socket: string, stateDir: string): Promise<number> {
  if (!needRoot("install")) return 2;
  const r = await install(realSystem(), {
    socket: path.resolve(socket),
    stateDir: path.resolve(stateDir),
    node: process.execPath,
    // dist/hostd/ops/commands.js → dist/hostd/cli.js
    cli: path.resolve(__dirname, "..", "cli.js"),
  });
  for (const l of r.lines) process.stdout.write(`${l}\n`);
  process.stdout.write(r.ok ? "hostd install: done\n" : "hostd install: FAILED (see above)\n");
  return r.ok ? 0 : 1;
}

/** 0: everything install made is gone (a state directory with VMs/disks is kept on purpose); 1: something failed; 2: not root. */
export async function uninstallCommand(): Promise<number> {
  if (!needRoot("uninstall")) return 2;
  const r = await uninstall(realSystem());
  for (const l of r.lines) process.stdout.write(`${l}\n`);
  process.stdout.write(r.ok ? "hostd uninstall: done\n" : "hostd uninstall: FAILED (see above)\n");
  return r.ok ? 0 : 1;
}

/** 0: every required check passed (warnings allowed); 1: a required check failed. */
export async function doctorCommand(stateDir: string, json: boolean): Promise<number> {
  const checks = evaluate(await gatherProbes({ stateDir }));
  const code = doctorExitCode(checks);
  if (json) process.stdout.write(JSON.stringify({ exitCode: code, checks }, null, 2) + "\n");
  else process.stdout.write(renderReport(checks));
  return code;
}
