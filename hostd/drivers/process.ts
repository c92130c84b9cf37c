/**
 * Process facts from /proc. QEMU runs detached in its own session and
 * outlives hostd (a restarted hostd is not its parent), so liveness is read from /proc: a pid
 * is "our QEMU" only if it is alive, not a zombie, and its command line
 * carries the VM's uuid — which also guards against pid reuse.
 */
import { readFileSync } from "node:fs";

export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 3, after the parenthesised comm which may itself contain spaces.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

/**
 * True while `pid` is a process that has not exited: a zombie has closed its files and sockets
 * already, so it counts as gone.
 */
export function isRunning(pid: number): boolean {
  const st = procState(pid);
  return st !== undefined && st !== "Z" && st !== "X";
}

export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((s) => s !== "");
  } catch {
    return [];
  }
}

/** True when `pid` is a live (non-zombie) process whose argv contains `-uuid <uuid>`. */
export function isOurQemu(pid: number, uuid: string): boolean {
  if (!isRunning(pid)) return false;
  const argv = cmdline(pid);
  const i = argv.indexOf("-uuid");
  return i >= 0 && argv[i + 1] === uuid;
}

export function readPidfile(path: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Waits until `alive()` turns false, polling; resolves true if it did within `timeoutMs`. */
export async function waitGone(alive: () => boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!alive()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return !alive();
}

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux architecture hostd runs on). */
const USER_HZ = 100;
let bootTimeSec: number | undefined;

/** When `pid` started, in ms since the epoch (from /proc), or undefined when it is gone. */
export function processStartMs(pid: number): number | undefined {
  try {
    if (bootTimeSec === undefined) {
      const m = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"));
      if (!m) return undefined;
      bootTimeSec = Number(m[1]);
    }
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after "comm)": state is field 3, starttime field 22.
    const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    return Number.isFinite(ticks) ? (bootTimeSec + ticks / USER_HZ) * 1000 : undefined;
  } catch {
    return undefined;
  }
}
