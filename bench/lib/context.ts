/**
 * What every benchmark gets: the mode (quick or full), the report, a progress
 * log on stderr, and small probes of the host (RSS, available memory, files
 * growing on a serial console).
 */
import { existsSync, readFileSync } from "node:fs";
import { sleep } from "../../test/fixtures/env";
import { Report } from "./report";

export interface BenchContext {
  quick: boolean;
  /** Run the Terraform + libvirt side of the lab benchmark (`--no-peer` turns it off). */
  peer: boolean;
  report: Report;
  /** Progress for the person watching (stderr, not part of the report). */
  log(msg: string): void;
  /**
   * Registers a clean-up (delete VMs, stop hostd, restore KSM, …). They run
   * newest first when the benchmark ends, fails, or the run is interrupted
   * (SIGINT/SIGTERM), so a benchmark never leaves VMs or namespaces behind.
   */
  defer(fn: () => unknown): void;
}

export interface Benchmark {
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<void>;
}

/** Resident set size of a process in MiB (VmRSS), or NaN if it is gone. */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Proportional set size (shared pages divided among their users) in MiB, from smaps_rollup. */
export function pssMiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** /proc/meminfo field in MiB (MemAvailable, MemFree, …). */
export function meminfoMiB(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/meminfo", "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Resolves with the time (performance.now()) at which `file` first contains
 * `pattern`, polling every `stepMs`. Both sides of a comparison use this same
 * probe, so its granularity cancels out of the ratio.
 */
export async function whenFileMatches(file: string | (() => string | undefined), pattern: RegExp, timeoutMs: number, stepMs = 5): Promise<number> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const f = typeof file === "string" ? file : file();
    if (f && existsSync(f) && pattern.test(readFileSync(f, "utf8"))) return performance.now();
    if (performance.now() > end) throw new Error(`no ${pattern} in ${f ?? "(file not known yet)"} within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}

/** Runs `fns` in a different order each round (rotation), so neither side always goes first. */
export async function alternate(round: number, fns: (() => Promise<void>)[]): Promise<void> {
  for (let i = 0; i < fns.length; i++) await fns[(i + round) % fns.length]!();
}
