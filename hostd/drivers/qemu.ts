/**
 * Starting QEMU. hostd spawns it detached, in its own session (so stopping
 * or crashing hostd never stops a VM), as the VM's own unprivileged user
 * through setpriv (util-linux: no new privileges, no capabilities), with
 * QEMU's seccomp sandbox on. Start-up errors come from QEMU's log.
 */
import { ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync } from "node:fs";
import { run } from "../exec";
import { buildQemuArgv, QemuVmConfig } from "./qemu-argv";
import { readPidfile } from "./process";

/** Who QEMU runs as: a uid and gid of its own, plus supplementary groups (e.g. kvm for /dev/kvm). */
export interface RunAs {
  uid: number;
  gid: number;
  groups: number[];
}

/** A QEMU that exited during start-up, with the end of what it printed. */
export class QemuStartError extends Error {
  override readonly name = "QemuStartError";
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

/** The argv that starts QEMU as `as` (setpriv execs QEMU: same pid, nothing left in between). */
export function launchCommand(binary: string, argv: string[], as?: RunAs): { cmd: string; args: string[] } {
  if (!as) return { cmd: binary, args: argv };
  return {
    cmd: "setpriv",
    args: [
      `--reuid=${as.uid}`,
      `--regid=${as.gid}`,
      as.groups.length > 0 ? `--groups=${as.groups.join(",")}` : "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
      "--",
      binary,
      ...argv,
    ],
  };
}

const START_TIMEOUT_MS = 60_000;
const KILL_TIMEOUT_MS = 10_000;

export interface LaunchOptions {
  /** Who QEMU runs as; hostd's own user when absent. */
  as?: RunAs;
  /** How a QEMU this hostd started ended (a restarted hostd is no longer its parent and never learns). */
  onExit?: (status: { code: number | null; signal: string | null }) => void;
  /** Called with the pid right after the spawn, before QEMU gets going (setpriv execs QEMU: same pid). */
  onSpawn?: (pid: number) => void;
}

export class QemuDriver {
  constructor(
    readonly binary = process.env.HOSTD_QEMU ?? "qemu-system-x86_64",
    /** How long QEMU may take to write its pidfile and open its QMP socket. */
    private readonly startTimeoutMs = START_TIMEOUT_MS,
  ) {}

  async version(): Promise<string> {
    const { stdout } = await run(this.binary, ["--version"], { timeoutMs: 10_000 });
    return /version ([0-9][^\s]*)/.exec(stdout)?.[1] ?? stdout.split("\n")[0] ?? "unknown";
  }

  /**
   * Launches QEMU for `cfg`; resolves with its pid once it has written its
   * pidfile and opened its QMP socket. Throws {@link QemuStartError} with
   * QEMU's own words when it exits first.
   */
  async launch(cfg: QemuVmConfig, o: LaunchOptions = {}): Promise<number> {
    const { as, onExit, onSpawn } = o;
    const p = cfg.paths;
    for (const f of [p.qmp, p.opsQmp, p.serialSocket, p.pidfile, p.log]) rmSync(f, { force: true });
    const { cmd, args } = launchCommand(this.binary, buildQemuArgv(cfg), as);
    const log = openSync(p.log, "a", 0o600);
    let exited: { code: number | null; signal: string | null } | undefined;
    let spawnError: Error | undefined;
    // What QEMU creates (serial log, pidfile, its sockets) is for the VM's user alone: the child inherits umask 077.
    const umask = process.umask(0o077);
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { detached: true, stdio: ["ignore", log, log] });
    } finally {
      process.umask(umask);
      closeSync(log);
    }
    // Both events come asynchronously, so listening right after the spawn misses neither.
    const gone = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        exited = { code, signal };
        onExit?.(exited);
        resolve();
      });
      child.once("error", (e) => {
        spawnError = e;
        if (child.pid === undefined) resolve();
      });
    });
    child.unref();
    try {
      if (child.pid !== undefined) onSpawn?.(child.pid);
      const deadline = Date.now() + this.startTimeoutMs;
      for (;;) {
        const pid = readPidfile(p.pidfile);
        if (pid !== undefined && existsSync(p.qmp)) return pid;
        if (spawnError) throw new QemuStartError(`${cmd} could not be started: ${spawnError.message}`, "");
        if (exited) {
          const out = tail(p.log);
          throw new QemuStartError(`QEMU exited during start-up (${exited.signal ? `signal ${exited.signal}` : `exit ${exited.code}`})${out ? `: ${out}` : ""}`, out);
        }
        if (Date.now() > deadline) throw new QemuStartError(`QEMU did not finish starting within ${this.startTimeoutMs / 1000} s`, tail(p.log));
        await new Promise((r) => setTimeout(r, 20));
      }
    } catch (e) {
      // A launch that failed leaves no QEMU: one still starting (a timeout, a failed onSpawn) is killed and waited for.
      if (!exited && child.pid !== undefined) {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch (k) {
          if ((k as NodeJS.ErrnoException).code !== "ESRCH") {
            throw new QemuStartError(`${(e as Error).message}; and QEMU (pid ${child.pid}) could not be killed: ${(k as Error).message}`, tail(p.log));
          }
        }
        const timeout = new Promise<false>((r) => setTimeout(() => r(false), KILL_TIMEOUT_MS).unref());
        if ((await Promise.race([gone.then(() => true), timeout])) === false) {
          throw new QemuStartError(`${(e as Error).message}; and QEMU (pid ${child.pid}) did not exit after SIGKILL`, tail(p.log));
        }
      }
      throw e;
    }
  }
}

/** The last lines QEMU printed, without its timestamps. */
function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-3).map((l) => l.replace(/^\S+T\S+ /, "")).join(" | ");
  } catch {
    return "";
  }
}
