/**
 * Starting QEMU. QEMU is run with -daemonize: the launching process exits
 * only once QEMU has initialised (or failed, with its reason on stderr), so
 * start errors are reported synchronously, and the VM ends up in its own
 * session, outliving hostd.
 */
import { rmSync } from "node:fs";
import { run } from "../exec";
import { buildQemuArgv, QemuVmConfig } from "./qemu-argv";
import { readPidfile } from "./process";

export class QemuDriver {
  constructor(readonly binary = process.env.HOSTD_QEMU ?? "qemu-system-x86_64") {}

  async version(): Promise<string> {
    const { stdout } = await run(this.binary, ["--version"], { timeoutMs: 10_000 });
    return /version ([0-9][^\s]*)/.exec(stdout)?.[1] ?? stdout.split("\n")[0] ?? "unknown";
  }

  /** Launches QEMU for `cfg`; resolves with its pid once it runs. Throws ExecError with QEMU's stderr. */
  async launch(cfg: QemuVmConfig): Promise<number> {
    const p = cfg.paths;
    for (const f of [p.qmp, p.opsQmp, p.serialSocket, p.pidfile]) rmSync(f, { force: true });
    await run(this.binary, buildQemuArgv(cfg), { timeoutMs: 60_000 });
    const pid = readPidfile(p.pidfile);
    if (pid === undefined) throw new Error(`QEMU started but wrote no pidfile at ${p.pidfile}`);
    return pid;
  }
}
