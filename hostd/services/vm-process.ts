/**
 * One QEMU process of a VM: launching it, watching how it ends, stopping
 * and killing it. A QEMU this hostd launched is its child, so its exit status
 * arrives; one adopted after a hostd restart is not, and only /proc says
 * whether it still runs.
 */
import { KvmError } from "../../sdk/errors";
import type { QemuCgroup } from "../drivers/cgroup";
import type { QemuVmConfig } from "../drivers/qemu-argv";
import { QemuDriver, RunAs } from "../drivers/qemu";
import { isOurQemu, processStartMs, waitGone } from "../drivers/process";
import type { Logger } from "../log";
import type { Monitor } from "./vm-monitor";

/** How a QEMU ended, when hostd is its parent. */
export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/** How often a graceful stop presses the ACPI power button again. */
const POWERDOWN_REPEAT_MS = 3000;
/** How long QEMU may take to exit after `quit` or SIGTERM, and after SIGKILL. */
const QUIT_MS = 5000;
const KILL_MS = 10_000;

export class QemuProcess {
  /** The exit status, once it arrived (only for a QEMU this hostd launched). */
  status?: ExitStatus;
  /** QEMU's own cgroup (its OOM-kill count is this VM's alone), or why it has none. */
  cgroup: QemuCgroup | { none: string } = { none: "not placed yet" };
  private startMs?: number;

  private constructor(
    readonly pid: number,
    private readonly vm: { id: string; name: string },
    private readonly log: Logger,
    /** Resolves when the exit status arrives; undefined for an adopted QEMU, whose status never will. */
    private readonly statusArrives?: Promise<void>,
  ) {}

  /**
   * Launches QEMU; resolves once it runs and has opened its QMP socket.
   * `onSpawn` gets the pid right after the spawn (to move it into its cgroups).
   */
  static async launch(
    qemu: QemuDriver,
    cfg: QemuVmConfig,
    o: { vm: { id: string; name: string }; as?: RunAs; log: Logger; onSpawn?: (pid: number) => void },
  ): Promise<QemuProcess> {
    const holder: { status?: ExitStatus; proc?: QemuProcess } = {};
    let arrived!: () => void;
    const statusArrives = new Promise<void>((r) => (arrived = r));
    let pid: number;
    try {
      pid = await qemu.launch(cfg, {
        as: o.as,
        onSpawn: o.onSpawn,
        onExit: (s) => {
          holder.status = s;
          if (holder.proc) holder.proc.status = s;
          arrived();
        },
      });
    } catch (e) {
      throw new KvmError("qemu_failed", `QEMU could not start VM "${o.vm.name}": ${(e as Error).message}`, { vm: o.vm.name });
    }
    const proc = new QemuProcess(pid, o.vm, o.log, statusArrives);
    proc.status = holder.status;
    holder.proc = proc;
    return proc;
  }

  /** A QEMU that was running before this hostd started (it is not hostd's child). */
  static adopt(pid: number, vm: { id: string; name: string }, log: Logger): QemuProcess {
    return new QemuProcess(pid, vm, log);
  }

  /** Alive, not a zombie, and still this VM's QEMU (pid reuse is ruled out by the uuid in its argv). */
  alive(): boolean {
    return isOurQemu(this.pid, this.vm.id);
  }

  /** When QEMU started (ms since the epoch, from /proc), to tell this boot's DHCP leases from older ones. */
  startedMs(): number | undefined {
    this.startMs ??= processStartMs(this.pid);
    return this.startMs;
  }

  /** Whether the OOM killer killed this QEMU; undefined when hostd cannot tell (no cgroup of its own to read). */
  oomKilled(): boolean | undefined {
    return "none" in this.cgroup ? undefined : this.cgroup.oomKilled();
  }

  /**
   * Gives the exit status a moment to arrive (Node reaps its children
   * asynchronously), so a kill is not recorded as "vanished". Never waits long.
   */
  async settle(): Promise<void> {
    if (this.statusArrives) await Promise.race([this.statusArrives, new Promise((r) => setTimeout(r, 500))]);
  }

  /**
   * Stops QEMU: the guest agent's and ACPI's power-off first (unless
   * forced), then QMP `quit` (SIGTERM without a monitor), then SIGKILL, each
   * bounded, so a stop always ends. Throws when QEMU survives even SIGKILL.
   */
  async stop(o: { force: boolean; timeoutSeconds: number }, via: { monitor?: Monitor; agentShutdown?: () => Promise<void> }): Promise<void> {
    const alive = () => this.alive();
    const mon = via.monitor && !via.monitor.closed ? via.monitor : undefined;
    if (!o.force && o.timeoutSeconds > 0 && mon) {
      // The guest agent shuts down cleanly even where ACPI is ignored; ACPI covers guests without one.
      await via.agentShutdown?.().catch((e: Error) => this.log.debug("the guest agent did not take the shutdown", { vm: this.vm.name, err: e.message }));
      // A press of the ACPI button before the guest listens for it (early boot) is lost, so press again now and then.
      const deadline = Date.now() + o.timeoutSeconds * 1000;
      while (alive() && Date.now() < deadline) {
        // A press QEMU refuses changes nothing here: the loop goes by whether QEMU still runs.
        await mon.execute("system_powerdown").catch((e: Error) => this.log.debug("system_powerdown failed", { vm: this.vm.name, err: e.message }));
        await waitGone(alive, Math.min(POWERDOWN_REPEAT_MS, Math.max(0, deadline - Date.now())));
      }
      if (alive()) this.log.warn("guest did not power off in time; powering it off", { vm: this.vm.name, timeoutSeconds: o.timeoutSeconds });
    }
    if (alive()) {
      // QMP quit, or SIGTERM when hostd has no monitor: both make QEMU exit cleanly.
      if (mon) {
        // QEMU closes the connection as it exits, so the reply may never come; whether it exited is checked next.
        await mon.execute("quit").catch((e: Error) => this.log.debug("no reply to quit", { vm: this.vm.name, err: e.message }));
      } else this.signal("SIGTERM");
      await waitGone(alive, QUIT_MS);
    }
    if (alive()) await this.kill();
  }

  /** SIGKILL, and waits until QEMU is gone; throws (and logs, with the pid) when it cannot be killed. */
  async kill(): Promise<void> {
    if (!this.alive()) return;
    this.signal("SIGKILL");
    if (!(await waitGone(() => this.alive(), KILL_MS))) {
      this.log.error("QEMU did not exit after SIGKILL", { vm: this.vm.name, pid: this.pid });
      throw new KvmError("timeout", `QEMU (pid ${this.pid}) of VM "${this.vm.name}" did not exit even after SIGKILL.`, { vm: this.vm.name, pid: this.pid });
    }
  }

  /** Sends a signal; a QEMU already gone is fine, any other failure is logged with the pid and raised. */
  private signal(sig: NodeJS.Signals): void {
    try {
      process.kill(this.pid, sig);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === "ESRCH") return;
      this.log.error("could not signal QEMU", { vm: this.vm.name, pid: this.pid, signal: sig, err: err.message });
      throw new KvmError("qemu_failed", `hostd could not send ${sig} to QEMU (pid ${this.pid}) of VM "${this.vm.name}": ${err.message}`, { vm: this.vm.name, pid: this.pid });
    }
  }
}
