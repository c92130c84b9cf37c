/**
 * Why a QEMU ended, from what hostd saw: its own stop request, QEMU's
 * SHUTDOWN event, the exit status (when hostd started it and so is its
 * parent) and the OOM killer's counter of its cgroup. Pure, so every case is
 * unit tested.
 */
import type { ExitReason } from "../../sdk/protocol";

export interface ExitFacts {
  /** hostd itself was stopping it. */
  stopRequested: boolean;
  /** QEMU's SHUTDOWN event, if one came. */
  shutdown?: { guest: boolean; reason: string };
  /** Exit code or signal, known when hostd is QEMU's parent. */
  status?: { code: number | null; signal: string | null };
  /** The OOM killer killed something in QEMU's cgroup while it ran. */
  oomKilled: boolean;
}

/** Reasons that mean nobody asked the VM to stop: it shows as `crashed`. */
export const CRASH_REASONS: ReadonlySet<ExitReason> = new Set(["vanished", "host-signal", "killed", "oom-killed", "crashed"]);

export function classifyExit(f: ExitFacts): { reason: ExitReason; detail: string } {
  const sd = f.shutdown;
  if (f.stopRequested) return { reason: "hostd-stop", detail: sd ? `stopped by hostd (QEMU reported SHUTDOWN: ${sd.reason})` : "stopped by hostd" };
  if (sd?.guest) return { reason: "guest-shutdown", detail: `the guest powered off (QEMU reported SHUTDOWN: ${sd.reason})` };
  if (sd?.reason.startsWith("host-signal")) return { reason: "host-signal", detail: `someone on the host signalled QEMU to quit (SHUTDOWN: ${sd.reason})` };
  if (sd) return { reason: "hostd-stop", detail: `QEMU reported SHUTDOWN (${sd.reason})` };
  const st = f.status;
  if (st?.signal === "SIGKILL" || (!st && f.oomKilled)) {
    return f.oomKilled
      ? { reason: "oom-killed", detail: "the kernel's OOM killer killed QEMU (the host ran out of memory, or its cgroup's limit was hit)" }
      : { reason: "killed", detail: "QEMU was killed with SIGKILL by someone on the host" };
  }
  if (st?.signal) return { reason: "crashed", detail: `QEMU died of ${st.signal}` };
  if (st && st.code !== 0) return { reason: "crashed", detail: `QEMU exited with code ${st.code} without a SHUTDOWN event` };
  if (st) return { reason: "vanished", detail: "QEMU exited (code 0) without a SHUTDOWN event" };
  return { reason: "vanished", detail: "QEMU exited without a SHUTDOWN event while hostd was not its parent (killed or crashed; the status is unknown)" };
}
