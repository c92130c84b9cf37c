/**
 * The VM runtime object: everything hostd holds in memory about one VM on
 * this host, in one place instead of maps keyed by VM id that must be kept
 * in step. The VM service keeps one registry of these and orchestrates them;
 * the durable part of a VM (spec, pid, device placement, last exit) stays in
 * the store.
 *
 * A runtime owns:
 * - its QEMU process (pid, exit status watcher, start time, its cgroup),
 * - its QMP monitor and what it heard (last SHUTDOWN, live run state and sizes),
 * - its guest-agent snapshot and poll state,
 * - its auto-restart history (`restartPolicy: on-crash`),
 * - changes to its devices: hot-plug goes through its monitor.
 *
 * Phases (see {@link VmPhase}):
 *
 *     stopped ──launch──▶ starting ──QMP attached──▶ running ──stop──▶ stopping ──exit recorded──▶ stopped
 *        ▲                   │ launch/attach failed                       │
 *        └───────────────────┴──────────── QEMU ended (any reason) ───────┘
 *
 * `incoming` is reserved for live migration: it is not entered yet.
 */
import { errors } from "../../sdk/errors";
import type { VmInfo } from "../../sdk/protocol";
import { GuestAgent } from "../drivers/guest-agent";
import type { QemuPaths } from "../drivers/qemu-argv";
import type { Logger } from "../log";
import { KeyedMutex } from "../mutex";
import { Monitor } from "./vm-monitor";
import type { QemuProcess } from "./vm-process";

/** What qemu-guest-agent last told hostd about a VM. */
export type GuestSnapshot = NonNullable<VmInfo["guest"]>;

/**
 * Where a VM is in its life on this host.
 * - `stopped`: no QEMU of this VM runs here.
 * - `starting`: hostd launched QEMU and is attaching to its QMP socket.
 * - `running`: QEMU runs (hostd's monitor is attached, or is retried by the poller).
 * - `stopping`: hostd is stopping QEMU (the stop request is recorded, so its exit is hostd's).
 * - `incoming` (reserved, not entered yet): this host is receiving the VM by live migration
 *   while it still runs on the source host, which stays authoritative until the switchover.
 *   A QEMU here in this phase was started with `-incoming` and is paused; its end is the
 *   migration's outcome, never a crash (no exit reason, no auto-restart), reads report the VM
 *   as the source does, and only the migration's own steps may stop or change it.
 */
export type VmPhase = "stopped" | "starting" | "running" | "stopping" | "incoming";

/** Guest agent polling: often until it first answers, then now and then. */
const AGENT_RETRY_MS = 2000;
const AGENT_REFRESH_MS = 10_000;
/** `restartPolicy: on-crash`: at most this many automatic restarts within the window. */
const AUTO_RESTART_MAX = 5;
const AUTO_RESTART_WINDOW_MS = 10 * 60_000;

export class VmRuntime {
  phase: VmPhase = "stopped";
  /** The VM's QEMU while one runs (launched by this hostd, or adopted after a restart). */
  process?: QemuProcess;
  /** hostd's QMP connection to that QEMU, once attached. */
  monitor?: Monitor;
  /** What the guest agent last reported about the running guest. */
  guest?: GuestSnapshot;
  private readonly agent: GuestAgent;
  private agentPoll = { next: 0, busy: false };
  /**
   * A move between hosts this hostd is running for the VM (its durable mark is in the row):
   * `abort` stops a `migration.send` under way; `files` are the offline copies being written here.
   */
  move?: { abort: AbortController; files: Map<string, Promise<void>> };

  /** The move's in-memory part, made on first use by whichever step of it comes first here. */
  moving(): { abort: AbortController; files: Map<string, Promise<void>> } {
    return (this.move ??= { abort: new AbortController(), files: new Map() });
  }
  /** When hostd restarted this VM lately (ms), to back off and give up. */
  private restarts: number[] = [];

  constructor(
    readonly id: string,
    readonly name: string,
    private readonly paths: QemuPaths,
    private readonly log: Logger,
  ) {
    this.agent = new GuestAgent(paths.guestAgent);
  }

  /** A QEMU now runs for this VM (just launched, or found running): nothing heard from an earlier one applies. */
  ran(proc: QemuProcess, phase: "starting" | "running"): void {
    this.monitor?.close();
    this.monitor = undefined;
    this.process = proc;
    this.phase = phase;
    this.guest = undefined;
    this.agentPoll = { next: 0, busy: false };
  }

  /** QEMU runs and hostd has a live monitor of it. */
  get attached(): boolean {
    return this.monitor !== undefined && !this.monitor.closed;
  }

  /**
   * Connects hostd's QMP monitor to the running QEMU. Right after a launch
   * the socket may need a moment (many attempts); the poller makes one per
   * round. `onGone` runs when QEMU closes the connection.
   */
  async attach(attempts: number, onGone: (proc: QemuProcess) => void): Promise<void> {
    const proc = this.process;
    if (!proc) throw errors.internal(`VM "${this.name}" has no QEMU to attach to.`);
    const mon = await Monitor.connect(this.paths.qmp, { attempts, stillThere: () => proc.alive(), onClose: () => onGone(proc) });
    if (this.process !== proc) {
      // That QEMU ended while hostd connected; its exit is already recorded.
      mon.close();
      return;
    }
    this.monitor?.close();
    this.monitor = mon;
    if (this.phase === "starting") this.phase = "running";
  }

  /** The monitor, for a change to the running VM (hot-plug, online resize); a clear error while hostd has none yet. */
  qmp(): Monitor {
    if (!this.monitor || this.monitor.closed) {
      throw errors.invalidState(`VM "${this.name}" is running but hostd has no QMP connection to it yet; retry in a moment.`);
    }
    return this.monitor;
  }

  /** Asks the guest for an orderly power-off through its agent (when the agent ever answered). */
  async agentShutdown(): Promise<void> {
    if (this.guest) await this.agent.shutdown("powerdown");
  }

  /** Asks the guest agent for addresses, hostname and OS, without ever blocking a request. */
  pollAgent(): void {
    const st = this.agentPoll;
    if (st.busy || Date.now() < st.next) return;
    st.busy = true;
    const proc = this.process;
    void (async () => {
      try {
        const [interfaces, hostname, os] = await Promise.all([
          this.agent.interfaces(),
          this.agent.hostname().catch(() => null),
          this.agent.osInfo().catch(() => null),
        ]);
        // An answer from a QEMU that ended meanwhile says nothing about the next one.
        if (this.process !== proc) return;
        this.guest = {
          hostname,
          os: os ? (os.prettyName ?? os.name ?? null) : null,
          interfaces: interfaces.map((i) => ({ name: i.name, mac: i.mac ?? null, addresses: i.addresses })),
          at: new Date().toISOString(),
        };
        st.next = Date.now() + AGENT_REFRESH_MS;
      } catch {
        st.next = Date.now() + AGENT_RETRY_MS;
      } finally {
        st.busy = false;
      }
    })();
  }

  /**
   * The QEMU with `pid` ended: hands back what hostd knew about it (the
   * process and QEMU's last SHUTDOWN event) and forgets it. Undefined when
   * `pid` is not this runtime's QEMU (its end was recorded already).
   */
  end(pid: number): { process: QemuProcess; shutdown?: { guest: boolean; reason: string } } | undefined {
    const proc = this.process;
    if (!proc || proc.pid !== pid) return undefined;
    const shutdown = this.monitor?.lastShutdown;
    this.monitor?.close();
    this.monitor = undefined;
    this.process = undefined;
    this.guest = undefined;
    this.phase = "stopped";
    return { process: proc, shutdown };
  }

  /** hostd stops: closes the monitor; QEMU keeps running and the next hostd adopts it. */
  detach(): void {
    this.monitor?.close();
    this.monitor = undefined;
  }

  /**
   * Records an automatic restart now; its number (1, 2, ...) within the
   * window, or undefined when the VM restarted too often and hostd gives up.
   */
  restartAttempt(now: number): number | undefined {
    this.restarts = this.restarts.filter((t) => now - t < AUTO_RESTART_WINDOW_MS);
    if (this.restarts.length >= AUTO_RESTART_MAX) {
      this.log.error("VM keeps crashing; not restarting it again (restartPolicy on-crash)", {
        vm: this.name,
        restarts: this.restarts.length,
        windowMinutes: AUTO_RESTART_WINDOW_MS / 60_000,
      });
      return undefined;
    }
    this.restarts.push(now);
    return this.restarts.length;
  }
}

/**
 * The one registry of runtime objects, by VM id, and the per-name lock that
 * serializes operations on one VM (a create holds it before the VM has an id).
 */
export class VmRegistry {
  private readonly runtimes = new Map<string, VmRuntime>();
  private readonly ops = new KeyedMutex();

  constructor(private readonly make: (vm: { id: string; name: string }) => VmRuntime) {}

  /** The runtime of a VM, made on first use. */
  of(vm: { id: string; name: string }): VmRuntime {
    let rt = this.runtimes.get(vm.id);
    if (!rt) {
      rt = this.make(vm);
      this.runtimes.set(vm.id, rt);
    }
    return rt;
  }

  /** The VM is gone from this host. */
  forget(id: string): void {
    this.runtimes.get(id)?.detach();
    this.runtimes.delete(id);
  }

  all(): VmRuntime[] {
    return [...this.runtimes.values()];
  }

  /** Runs `fn` alone among the operations on the VM called `name`; other VMs proceed in parallel. */
  serialize<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.ops.run(name, fn);
  }
}
