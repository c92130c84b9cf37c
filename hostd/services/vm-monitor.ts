/**
 * hostd's QMP monitor of one running QEMU: the one connection to the VM's
 * `qmp.sock`, and what hostd heard on it (QEMU's last SHUTDOWN event, its
 * run state and sizes).
 */
import type { VmInfo } from "../../sdk/protocol";
import { appendFileSync } from "node:fs";
import * as path from "node:path";
import { QmpClient, QmpEvent, type QmpTrace } from "../drivers/qmp";
import type { Seen } from "./vm-observe";

/** QMP events after which QEMU's run state may differ (the ones `query-status` reflects). */
const RUNSTATE_EVENTS = new Set(["STOP", "RESUME", "SUSPEND", "SUSPEND_DISK", "WAKEUP", "GUEST_PANICKED", "SHUTDOWN", "RESET", "WATCHDOG", "BLOCK_IO_ERROR"]);
/**
 * Events after which QEMU's vCPUs or memory may differ: the guest acknowledged a CPU or DIMM
 * plugged or unplugged (by hostd, or by an operator on the operators' socket), or a device left.
 */
const SIZE_EVENTS = new Set(["ACPI_DEVICE_OST", "DEVICE_DELETED"]);
/** QOM types whose devices have a boot index, and NIC types (whose MAC is read back). */
const BOOTABLE_TYPES = new Set(["virtio-blk-pci", "scsi-hd", "ide-hd", "ide-cd"]);
const NIC_TYPES = new Set(["virtio-net-pci", "e1000e"]);

/** QEMU's run state and the memory and vCPUs it really has. */
export interface LiveState {
  status: string;
  actual: NonNullable<VmInfo["actual"]>;
}

/** Where QOM keeps the devices made with an id (-device, device_add). */
const PERIPHERALS = "/machine/peripheral";

export class Monitor {
  /** QEMU's SHUTDOWN event, when one came: who asked (the guest or the host) and why. */
  lastShutdown?: { guest: boolean; reason: string };
  /**
   * QEMU's run state and sizes, read when hostd attaches and re-read on every
   * QMP event that can change them, so `vm.get`/`vm.list` answer from memory
   * instead of three QMP round trips per running VM (the N+1 that made a list
   * of 50 busy VMs take 2 s). Memory and vCPUs change while QEMU runs when
   * hostd grows them (vm.ts growLive, which reads them again) or when a guest
   * acknowledges a CPU or DIMM someone else plugged (SIZE_EVENTS); vm.get reads them afresh.
   */
  live?: LiveState;
  /**
   * The ids of the devices QEMU has now (QOM's /machine/peripheral), read when hostd attaches and
   * kept by the events: DEVICE_DELETED takes one out (whoever unplugged it, hostd or an operator
   * on the operators' QMP socket), hostd's own device_add puts one in. Undefined until read.
   */
  devices?: Set<string>;

  private constructor(readonly qmp: QmpClient) {
    qmp.on("event", (ev: QmpEvent) => {
      if (ev.event === "SHUTDOWN") this.lastShutdown = { guest: ev.data?.guest === true, reason: String(ev.data?.reason ?? "") };
      if (ev.event === "DEVICE_DELETED" && typeof ev.data?.device === "string") this.devices?.delete(ev.data.device);
      if (SIZE_EVENTS.has(ev.event) && this.live) void this.readLive().catch(() => undefined);
      if (RUNSTATE_EVENTS.has(ev.event) && this.live) {
        void (qmp.execute("query-status") as Promise<{ status: string }>).then(
          (st) => this.live && (this.live.status = st.status),
          () => undefined,
        );
      }
    });
  }

  /**
   * Connects to QEMU's QMP socket, retrying while `stillThere()` (right after a
   * launch the socket may need a moment), and reads the live state once.
   * `onClose` runs when QEMU closes the connection (it does so just before exiting).
   */
  static async connect(qmpPath: string, o: { attempts: number; stillThere: () => boolean; onClose: () => void }): Promise<Monitor> {
    let qmp: QmpClient | undefined;
    let lastErr: Error | undefined;
    for (let i = 0; i < o.attempts && !qmp; i++) {
      try {
        qmp = await QmpClient.connect(qmpPath, 5000, qmpTrace(qmpPath));
      } catch (e) {
        lastErr = e as Error;
        if (!o.stillThere()) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!qmp) throw lastErr ?? new Error("QMP connect failed");
    const mon = new Monitor(qmp);
    qmp.on("close", o.onClose);
    // A monitor that cannot read the state yet still works; reads ask again.
    await mon.readLive().catch(() => undefined);
    await mon.readDevices().catch(() => undefined);
    return mon;
  }

  get closed(): boolean {
    return this.qmp.isClosed;
  }

  /** Runs one QMP command (a device hostd adds is one QEMU has from then on). */
  async execute(cmd: string, args?: Record<string, unknown>): Promise<unknown> {
    const r = await this.qmp.execute(cmd, args);
    if (cmd === "device_add" && typeof args?.id === "string") this.devices?.add(args.id);
    return r;
  }

  /** Reads which devices (by id) QEMU has. */
  async readDevices(): Promise<Set<string>> {
    const children = (await this.qmp.execute("qom-list", { path: PERIPHERALS })) as { name: string; type: string }[];
    this.devices = new Set(children.filter((c) => c.type.startsWith("child<")).map((c) => c.name));
    return this.devices;
  }

  /**
   * Reads afresh what can change under QEMU without hostd (vm-observe.ts): every device and its
   * type, the file in each block device, boot indexes and NIC MACs. vm.get (what refresh reads)
   * asks this; vm.list answers from what the events kept.
   */
  async inspect(): Promise<Omit<Seen, "tapBridge">> {
    const [children, blocks] = await Promise.all([
      this.qmp.execute("qom-list", { path: PERIPHERALS }) as Promise<{ name: string; type: string }[]>,
      this.qmp.execute("query-block") as Promise<{ qdev?: string; inserted?: { file: string } }[]>,
    ]);
    const devices = new Map(children.filter((c) => c.type.startsWith("child<")).map((c) => [c.name, c.type.slice("child<".length, -1)]));
    this.devices = new Set(devices.keys());
    const media = new Map<string, string | null>();
    for (const b of blocks) {
      // `qdev` is the device's id, or its QOM path (/machine/peripheral/<id>/virtio-backend).
      const id = b.qdev?.startsWith(`${PERIPHERALS}/`) ? b.qdev.split("/")[3] : b.qdev;
      if (id) media.set(id, b.inserted?.file ?? null);
    }
    const prop = (id: string, property: string) => this.qmp.execute("qom-get", { path: `${PERIPHERALS}/${id}`, property });
    const bootIndex = new Map<string, number>();
    const macs = new Map<string, string>();
    await Promise.all(
      [...devices].map(async ([id, type]) => {
        if (BOOTABLE_TYPES.has(type)) bootIndex.set(id, (await prop(id, "bootindex")) as number);
        if (NIC_TYPES.has(type)) macs.set(id, (await prop(id, "mac")) as string);
      }),
    );
    return { devices, media, bootIndex, macs };
  }

  /** Reads QEMU's run state, memory and vCPUs (three QMP queries, in parallel). */
  async readLive(): Promise<LiveState> {
    const [st, mem, cpus] = await Promise.all([
      this.qmp.execute("query-status") as Promise<{ status: string }>,
      this.qmp.execute("query-memory-size-summary") as Promise<{ "base-memory": number; "plugged-memory"?: number }>,
      this.qmp.execute("query-cpus-fast") as Promise<unknown[]>,
    ]);
    this.live = {
      status: st.status,
      actual: { memoryMiB: Math.round((mem["base-memory"] + (mem["plugged-memory"] ?? 0)) / (1024 * 1024)), vcpus: cpus.length },
    };
    return this.live;
  }

  /** Stops listening and closes the connection (QEMU keeps running). */
  close(): void {
    this.qmp.removeAllListeners();
    this.qmp.close();
  }
}

/**
 * HOSTD_TRACE_DIR=DIR (the test fixtures set it; see vm-files.ts): every QMP line of a VM goes to `DIR/<vm id>.qmp.log`,
 * kept after the VM is deleted, so a failing test leaves the exchange to read. Off in production: it is
 * written synchronously.
 */
function qmpTrace(qmpPath: string): QmpTrace | undefined {
  const dir = process.env.HOSTD_TRACE_DIR;
  if (!dir) return undefined;
  const file = path.join(dir, `${path.basename(path.dirname(qmpPath))}.qmp.log`);
  return (direction, line) => {
    try {
      appendFileSync(file, `${new Date().toISOString()} ${direction} ${line}\n`);
    } catch {
      /* the trace directory is gone (the test cleaned up): nothing to trace into */
    }
  };
}
