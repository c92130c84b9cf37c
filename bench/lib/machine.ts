/**
 * Facts about the machine a benchmark ran on, read from the machine itself,
 * so every table in docs/benchmarks.md can be judged by where it came from.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as os from "node:os";
import { chooseAccelerator, probeHost } from "../../hostd/drivers/accel";
import { pulumiBinDir, REPO } from "../../test/fixtures/env";

export interface MachineFacts {
  date: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  accelerator: string;
  acceleratorReason: string;
  ksm: string;
  qemu: string;
  node: string;
  pulumi: string;
  commit: string;
}

function cmd(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], cwd: REPO }).trim();
  } catch {
    return "not found";
  }
}

export function machineFacts(): MachineFacts {
  const accel = chooseAccelerator(probeHost());
  const ksmDir = "/sys/kernel/mm/ksm";
  let pulumi = "not built";
  try {
    pulumi = cmd(`${pulumiBinDir()}/pulumi`, ["version"]);
  } catch {
    /* not built */
  }
  const dirty = cmd("git", ["status", "--porcelain", "--untracked-files=no"]) !== "";
  return {
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    accelerator: accel.kind.toUpperCase(),
    acceleratorReason: accel.reason,
    ksm: existsSync(`${ksmDir}/run`) ? `available (run=${readFileSync(`${ksmDir}/run`, "utf8").trim()})` : "not in this kernel",
    qemu: cmd("qemu-system-x86_64", ["--version"]).split("\n")[0] ?? "not found",
    node: process.version,
    pulumi,
    commit: cmd("git", ["rev-parse", "--short", "HEAD"]) + (dirty ? " (with uncommitted changes)" : ""),
  };
}

export function factsTable(f: MachineFacts): (string | number)[][] {
  return [
    ["date", f.date],
    ["CPU", `${f.cpu}, ${f.cores} cores`],
    ["memory", `${f.memoryGiB} GiB`],
    ["kernel", f.kernel],
    ["accelerator", `${f.accelerator}: ${f.acceleratorReason}`],
    ["KSM", f.ksm],
    ["QEMU", f.qemu],
    ["Node.js", f.node],
    ["Pulumi CLI", f.pulumi],
    ["pulumi-kvm commit", f.commit],
  ];
}
