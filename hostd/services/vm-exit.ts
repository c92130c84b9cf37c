/**
 * Why a QEMU ended, from what hostd saw: its own stop request, QEMU's
 * SHUTDOWN event, the exit status (when hostd started it and so is its
 * parent) and the OOM killer's counter of QEMU's own cgroup. Pure, so every
 * case is unit tested.
 */
import type { ExitReason } from "../../sdk/protocol";

export interface ExitFacts {
  /** hostd itself was stopping it. */
  stopRequested: boolean;
  /** QEMU's SHUTDOWN event, if one came. */
  shutdown?: { guest: boolean; reason: string };
  /** Exit code or signal, known when hostd is QEMU's parent. */
  status?: { code: number | null; signal: string | null };
  /**
   * The OOM killer killed QEMU, read from QEMU's own cgroup (no other VM
   * counts there); undefined when hostd cannot tell (QEMU has no such group).
   */
  oomKilled: boolean | undefined;
}

/** Reasons that mean nobody asked the VM to stop: it shows as `crashed`. */
export const CRASH_REASONS: ReadonlySet<ExitReason> = new Set(["vanished", "host-signal", "killed", "oom-killed", "killed-or-oom", "crashed"]);

const OOM = "the kernel's OOM killer killed QEMU (its VM's cgroup counted the kill: the host ran out of memory, or the cgroup's limit was hit)";

export function classifyExit(f: ExitFacts): { reason: ExitReason; detail: string } {
  const sd = f.shutdown;
  if (f.stopRequested) return { reason: "hostd-stop", detail: sd ? `stopped by hostd (QEMU reported SHUTDOWN: ${sd.reason})` : "stopped by hostd" };
  if (sd?.guest) return { reason: "guest-shutdown", detail: `the guest powered off (QEMU reported SHUTDOWN: ${sd.reason})` };
  if (sd?.reason.startsWith("host-signal")) return { reason: "host-signal", detail: `someone on the host signalled QEMU to quit (SHUTDOWN: ${sd.reason})` };
  // hostd holds the VM's own QMP socket and sends quit only when it stops the VM itself: this one came over qmp-ops.sock.
  if (sd?.reason.startsWith("host-qmp")) return { reason: "operator-quit", detail: `an operator ended QEMU over the VM's operators' QMP socket (SHUTDOWN: ${sd.reason})` };
  if (sd) return { reason: "crashed", detail: `QEMU shut down on its own (SHUTDOWN: ${sd.reason})` };
  const st = f.status;
  if (st?.signal === "SIGKILL" || (!st && f.oomKilled === true)) {
    if (f.oomKilled === true) return { reason: "oom-killed", detail: OOM };
    if (f.oomKilled === false) return { reason: "killed", detail: "QEMU was killed with SIGKILL by someone on the host (its cgroup counted no OOM kill)" };
    return { reason: "killed-or-oom", detail: "QEMU was killed with SIGKILL; hostd cannot tell whether by the OOM killer or by someone on the host (QEMU has no cgroup of its own here)" };
  }
  if (st?.signal) return { reason: "crashed", detail: `QEMU died of ${st.signal}` };
  if (st && st.code !== 0) return { reason: "crashed", detail: `QEMU exited with code ${st.code} without a SHUTDOWN event` };
  if (st) return { reason: "vanished", detail: "QEMU exited (code 0) without a SHUTDOWN event" };
  return { reason: "vanished", detail: "QEMU exited without a SHUTDOWN event while hostd was not its parent (killed or crashed; the status is unknown)" };
}
