/**
 * The VM service: the rules of VM lifecycle. It keeps the desired spec in the
 * store, turns it into QEMU processes through the drivers, and reports what
 * is really there (from /proc and QMP), not what the database remembers.
 *
 * Operations on one VM are serialized by name; different VMs proceed in
 * parallel. Multi-step changes undo themselves on failure.
 */
import { randomUUID } from "node:crypto";
import { chmodSync, chownSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readSync, rmSync, statSync } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { errors, KvmError } from "../../sdk/errors";
import { isNetworkNic, isUsableAddress, type VmCreate, type VmDisk, type VmInfo, type VmSpec, type VmState, type VmUpdate } from "../../sdk/protocol";
import { AcceleratorChoice } from "../drivers/accel";
import type { VmCgroup } from "../drivers/cgroup";
import { cgroupDir, isOurQemu, oomKills, processStartMs, waitGone } from "../drivers/process";
import { classifyExit, CRASH_REASONS } from "./vm-exit";
import { QemuDriver, RunAs } from "../drivers/qemu";
import { whyNotWorldReadable } from "../files";
import { blockdevOf, diskDeviceOf, netdevQmpOf, nicDeviceOf, QemuNic, QemuPaths, QemuVmConfig } from "../drivers/qemu-argv";
import { NetlinkDriver } from "../drivers/netlink";
import { buildSeed, renderMetaData } from "../drivers/cloud-init";
import { GuestAgent } from "../drivers/guest-agent";
import { QmpClient, QmpEvent } from "../drivers/qmp";
import { Logger } from "../log";
import { withRevert } from "../revert";
import { Store, VmRecord } from "../store";
import { KeyedMutex } from "../mutex";
import { applyUpdate, RESTART_FIELDS, stableJson } from "./vm-spec";
import { DiskService } from "./disk";
import { checkDeletable, retryOfOwnCreate } from "./ownership";
import { NetworkPort, NetworkService } from "./network";
import {
  assignDiskSlots,
  diskHotplugPlan,
  assignNics,
  diskIds,
  keptNics,
  nicHotplugPlan,
  qemuDisks,
  qemuNics,
  tapName,
  ResolvedDisk,
  bootIndexes,
  slotKey,
} from "./vm-devices";

type Rec = VmRecord<VmSpec>;

export interface VmServiceDeps {
  store: Store;
  qemu: QemuDriver;
  accel: AcceleratorChoice;
  /** Per-VM runtime files live in `<stateDir>/vms/<id>/`. */
  stateDir: string;
  log: Logger;
  disks: DiskService;
  networks: NetworkService;
  ip: NetlinkDriver;
  /** /dev/vhost-net is there and usable by QEMU: taps use the in-kernel virtio-net data path. */
  vhostNet: boolean;
  /**
   * Each VM's QEMU runs as uid = gid = `uidBase + n`, a user of its own (no passwd entry needed),
   * with `groups` (e.g. kvm for /dev/kvm) as supplementary groups. Null: QEMU runs as hostd's own
   * user (hostd is not root, so it cannot switch users).
   */
  isolation: { uidBase: number; groups: number[] } | null;
  /** OVMF firmware for `firmware: uefi` (Debian's ovmf package). */
  ovmf?: { code: string; vars: string };
  /** The cgroup every QEMU goes into (drivers/cgroup.ts); undefined when the host offers none. */
  cpuGroup?: VmCgroup;
}

/** What qemu-guest-agent last told hostd about a VM. */
type GuestSnapshot = NonNullable<VmInfo["guest"]>;

/** hostd's live QMP connection to one running VM, and what it heard. */
interface Monitor {
  qmp: QmpClient;
  pid: number;
  lastShutdown?: { guest: boolean; reason: string };
  /**
   * QEMU's run state and sizes, read when hostd attaches and re-read on every
   * QMP event that can change them, so `vm.get`/`vm.list` answer from memory
   * instead of three QMP round trips per running VM (the N+1 that made a list
   * of 50 busy VMs take 2 s). Memory and vCPUs cannot change while QEMU runs
   * (hostd hot-plugs neither), so one read per QEMU is exact.
   */
  live?: { status: string; actual: NonNullable<VmInfo["actual"]> };
}

/** QMP events after which QEMU's run state may differ (the ones `query-status` reflects). */
const RUNSTATE_EVENTS = new Set(["STOP", "RESUME", "SUSPEND", "SUSPEND_DISK", "WAKEUP", "GUEST_PANICKED", "SHUTDOWN", "RESET", "WATCHDOG", "BLOCK_IO_ERROR"]);

/** What hostd knows about how one QEMU process may end: its exit status (if hostd is its parent) and its cgroup's OOM count at start. */
interface Exit {
  status?: { code: number | null; signal: string | null };
  /** Resolves when the exit status arrives (only for QEMUs this hostd started). */
  statusKnown?: Promise<void>;
  cgroup?: string;
  oomAtStart?: number;
}

/** How often hostd re-checks VMs whose QMP connection is gone (a backstop to QMP close events). */
const POLL_MS = 1000;
/** How often a graceful stop presses the ACPI power button again. */
const POWERDOWN_REPEAT_MS = 3000;
/** Guest agent polling: often until it first answers, then now and then. */
const AGENT_RETRY_MS = 2000;
const AGENT_REFRESH_MS = 10_000;

export class VmService {
  private readonly monitors = new Map<string, Monitor>();
  private readonly locks = new KeyedMutex();
  private poller?: NodeJS.Timeout;
  private polling = false;
  private readonly guests = new Map<string, GuestSnapshot>();
  private readonly agentPolls = new Map<string, { next: number; busy: boolean }>();
  /** When each running QEMU started (ms), to tell this boot's DHCP leases from older ones. */
  private readonly startedAt = new Map<string, number>();
  /** Exit facts by QEMU pid. */
  private readonly exits = new Map<number, Exit>();
  /** When hostd restarted each `restartPolicy: on-crash` VM lately (ms), to back off and give up. */
  private readonly autoRestarts = new Map<string, number[]>();
  private closing = false;

  constructor(private readonly d: VmServiceDeps) {
    d.disks.setUsers({
      attachedTo: (disk) => this.vmUsingDisk(disk)?.name ?? null,
      resizeOnline: (disk, bytes) => this.resizeOnline(disk, bytes),
    });
    d.networks.setUsers({
      portsOn: (network) => this.portsOn(network),
      reattach: (network) => this.reattachTaps(network),
    });
  }

  /**
   * Reattaches to QEMU processes that survived a hostd restart and records
   * the ones that vanished meanwhile. Called once at startup.
   */
  async init(): Promise<void> {
    // Traversable (not listable): each VM's QEMU reaches its own directory inside.
    mkdirSync(path.join(this.d.stateDir, "vms"), { recursive: true, mode: 0o711 });
    chmodSync(path.join(this.d.stateDir, "vms"), 0o711);
    for (const rec of this.d.store.listVms<VmSpec>()) {
      if (rec.pid === null) continue;
      if (isOurQemu(rec.pid, rec.id)) {
        // Taps outlive hostd; after a host reboot or a bridge rebuild they may need putting back on their bridge.
        await this.ensureTaps(rec).catch((e: Error) => this.d.log.error("could not restore the VM's taps", { vm: rec.name, err: e.message }));
        this.intoCpuGroup(rec, rec.pid);
        this.watchExit(rec.pid, {});
        try {
          await this.attach(rec, rec.pid);
          this.d.log.info("reattached to running VM", { vm: rec.name, pid: rec.pid });
        } catch (e) {
          this.d.log.warn("VM is running but its QMP socket did not answer; will retry", {
            vm: rec.name,
            pid: rec.pid,
            err: (e as Error).message,
          });
        }
      } else {
        this.recordExit(rec, undefined);
      }
    }
    this.poller = setInterval(() => void this.poll(), POLL_MS);
    this.poller.unref();
  }

  /** Detaches from VMs (they keep running) and stops background work. */
  shutdown(): void {
    this.closing = true;
    if (this.poller) clearInterval(this.poller);
    for (const m of this.monitors.values()) {
      m.qmp.removeAllListeners();
      m.qmp.close();
    }
    this.monitors.clear();
  }

  // ---- API operations -------------------------------------------------------

  async create(params: VmCreate): Promise<VmInfo> {
    const { owner, ...spec } = params;
    return this.locks.run(spec.name, async () => {
      const existing = this.d.store.getVmByName<VmSpec>(spec.name);
      if (existing) {
        // The caller's own retry of the same create (e.g. after a dropped connection) is not an error.
        retryOfOwnCreate("VM", existing, owner, stableJson(existing.spec) === stableJson(spec));
        return this.info(existing);
      }
      const now = new Date().toISOString();
      const rec: Rec = {
        id: randomUUID(),
        name: spec.name,
        spec,
        pid: null,
        accelerator: null,
        stopRequested: false,
        lastExit: null,
        devices: {},
        uid: null,
        owner: owner ?? null,
        createdAt: now,
        updatedAt: now,
      };
      const placed = assignNics(rec.id, [], spec.networkInterfaces, {});
      rec.devices = { nics: placed.nics, nextNicIndex: placed.nextNicIndex };
      return withRevert(this.d.log, async (r) => {
        // Checked and recorded under the networks' lock, so a network cannot be deleted in between.
        await this.d.networks.guard(async () => {
          this.checkResources(spec);
          // No await between choosing the uid and recording it: two creates never get the same one.
          rec.uid = this.allocateUid();
          this.d.store.insertVm(rec);
        });
        r.add("delete VM row", () => this.d.store.deleteVm(rec.id));
        this.networksChanged(spec);
        r.add("update network hosts", () => this.networksChanged(spec));
        r.add("delete taps", () => this.deleteTaps(this.qemuNicsOf(rec)));
        const dir = this.vmDir(rec.id);
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        r.add("remove VM directory", () => rmSync(dir, { recursive: true, force: true }));
        if (spec.running) {
          await this.startQemu(rec);
          r.add("stop QEMU", () => this.stopQemu(rec, { force: true, timeoutSeconds: 0 }));
        }
        this.d.log.info("VM created", { vm: rec.name, id: rec.id, running: spec.running });
        return this.info(rec);
      });
    });
  }

  async get(name: string): Promise<VmInfo> {
    return this.info(this.mustGet(name));
  }

  /** Every VM in one call; live state is read for all of them concurrently. */
  async list(): Promise<VmInfo[]> {
    return Promise.all(this.d.store.listVms<VmSpec>().map((r) => this.info(r)));
  }

  async update(u: VmUpdate): Promise<{ vm: VmInfo; restarted: boolean; hotplugged: string[] }> {
    return this.locks.run(u.name, async () => {
      const rec = this.mustGet(u.name);
      const before = rec.spec;
      const after = applyUpdate(before, u);
      const needsRestart = RESTART_FIELDS.some((k) => stableJson(after[k]) !== stableJson(before[k]));
      const diskPlan = diskHotplugPlan(before.disks, after.disks);
      const alive = this.isAlive(rec);
      const beforeDevices = rec.devices;
      const beforeNics = this.qemuNicsOf(rec);
      let restarted = false;
      const hotplugged: string[] = [];
      const placed = assignNics(rec.id, before.networkInterfaces, after.networkInterfaces, rec.devices);
      rec.spec = after;
      rec.devices = { ...rec.devices, nics: placed.nics, nextNicIndex: placed.nextNicIndex };
      const nicPlan = nicHotplugPlan(beforeNics, this.qemuNicsOf(rec));
      try {
        await this.d.networks.guard(async () => {
          this.checkResources(after);
          this.d.store.saveVm(rec);
        });
      } catch (e) {
        rec.spec = before;
        rec.devices = beforeDevices;
        throw e;
      }
      this.networksChanged(before, after);
      try {
        if (stableJson(after.cloudInit) !== stableJson(before.cloudInit)) {
          // A new seed takes effect at the next boot; a running guest keeps what it read.
          await this.writeSeed(rec);
        }
        if (alive && (needsRestart || diskPlan === null)) {
          await this.stopQemu(rec, { force: false, timeoutSeconds: u.stopTimeoutSeconds ?? 60 });
          if (after.running) {
            await this.startQemu(rec);
            restarted = true;
          }
        } else if (alive) {
          if (diskPlan && (diskPlan.attach.length > 0 || diskPlan.detach.length > 0)) {
            await this.hotplugDisks(rec, diskPlan.attach, diskPlan.detach);
            hotplugged.push(...diskPlan.detach.map((d) => `-${d.disk}`), ...diskPlan.attach.map((d) => `+${d.disk}`));
          }
          if (nicPlan.attach.length > 0 || nicPlan.detach.length > 0) {
            await this.hotplugNics(rec, nicPlan.attach, nicPlan.detach);
            hotplugged.push(...nicPlan.detach.map((n) => `-nic:${n.mac}`), ...nicPlan.attach.map((n) => `+nic:${n.mac}`));
          }
        }
        const nowTaps = new Set(this.qemuNicsOf(rec).map((n) => n.id + n.mac));
        await this.deleteTaps(beforeNics.filter((n) => !nowTaps.has(n.id + n.mac)));
        this.releaseDisks(before.disks.filter((d) => !after.disks.some((x) => x.disk === d.disk)));
        if (after.running && !this.isAlive(rec)) {
          await this.startQemu(rec);
        } else if (!after.running && this.isAlive(rec)) {
          await this.stopQemu(rec, { force: false, timeoutSeconds: u.stopTimeoutSeconds ?? 60 });
        }
      } catch (e) {
        // Put the old spec back and, if the VM was running, bring the old one back up.
        rec.spec = before;
        rec.devices = beforeDevices;
        this.d.store.saveVm(rec);
        this.networksChanged(before, after);
        if (alive && !this.isAlive(rec)) {
          await this.startQemu(rec).catch((e2: Error) =>
            this.d.log.error("could not restart VM with its previous spec", { vm: rec.name, err: e2.message }),
          );
        }
        throw e;
      }
      this.d.log.info("VM updated", { vm: rec.name, restarted, hotplugged });
      return { vm: await this.info(rec), restarted, hotplugged };
    });
  }

  async start(name: string): Promise<VmInfo> {
    return this.locks.run(name, async () => {
      const rec = this.mustGet(name);
      if (!rec.spec.running) {
        rec.spec = { ...rec.spec, running: true };
        this.d.store.saveVm(rec);
      }
      if (!this.isAlive(rec)) {
        this.checkResources(rec.spec);
        await this.startQemu(rec);
      }
      return this.info(rec);
    });
  }

  async stop(p: { name: string; force: boolean; timeoutSeconds: number }): Promise<VmInfo> {
    return this.locks.run(p.name, async () => {
      const rec = this.mustGet(p.name);
      if (rec.spec.running) {
        rec.spec = { ...rec.spec, running: false };
        this.d.store.saveVm(rec);
      }
      if (this.isAlive(rec)) await this.stopQemu(rec, p);
      return this.info(rec);
    });
  }

  async delete(p: { name: string; id?: string; owner?: string }): Promise<{ existed: boolean }> {
    return this.locks.run(p.name, async () => {
      const rec = this.d.store.getVmByName<VmSpec>(p.name);
      // A namesake with another id is not the VM the caller means: leave it alone.
      if (!rec || (p.id !== undefined && rec.id !== p.id)) return { existed: false };
      checkDeletable("VM", rec, p);
      if (this.isAlive(rec)) await this.stopQemu(rec, { force: true, timeoutSeconds: 0 });
      await this.deleteTaps(this.qemuNicsOf(rec));
      this.releaseDisks(rec.spec.disks);
      rmSync(this.vmDir(rec.id), { recursive: true, force: true });
      this.d.store.deleteVm(rec.id);
      this.networksChanged(rec.spec);
      this.d.log.info("VM deleted", { vm: rec.name, id: rec.id });
      return { existed: true };
    });
  }

  /** The last `bytes` of what the guest printed on its serial console. */
  serialLog(name: string, bytes: number): { text: string; truncated: boolean } {
    const rec = this.mustGet(name);
    const file = this.paths(rec.id).serialLog;
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return { text: "", truncated: false };
    }
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    const fd = openSync(file, "r");
    try {
      readSync(fd, buf, 0, buf.length, start);
    } finally {
      closeSync(fd);
    }
    return { text: buf.toString("utf8"), truncated: start > 0 };
  }

  /** A connection to the VM's serial console (QEMU takes one client at a time). */
  async openConsole(name: string): Promise<net.Socket> {
    const rec = this.mustGet(name);
    if (!this.isAlive(rec)) throw errors.invalidState(`VM "${name}" is not running: its console has nothing to attach to (see vm.serialLog for what it printed).`);
    const sock = net.createConnection(this.paths(rec.id).serialSocket);
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", resolve);
      sock.once("error", (e) => reject(errors.conflict(`The console of VM "${name}" is busy or gone: ${e.message}`)));
    });
    return sock;
  }

  // ---- QEMU lifecycle -------------------------------------------------------

  private async startQemu(rec: Rec): Promise<void> {
    mkdirSync(this.vmDir(rec.id), { recursive: true, mode: 0o700 });
    if (rec.spec.cloudInit && !existsSync(this.seedPath(rec.id))) await this.writeSeed(rec);
    const cfg = this.qemuConfig(rec);
    if (cfg.firmware.type === "uefi" && !existsSync(cfg.firmware.vars)) {
      // The VM's own NVRAM: created once, kept across restarts, removed with the VM.
      copyFileSync(this.ovmf().vars, cfg.firmware.vars);
    }
    const as = this.runAs(rec);
    this.grantFiles(rec, cfg.disks.map((d) => d.file), as);
    await this.ensureTaps(rec);
    let pid: number;
    const exit: Exit = {};
    let arrived!: () => void;
    exit.statusKnown = new Promise<void>((r) => (arrived = r));
    const onExit = (status: { code: number | null; signal: string | null }) => {
      exit.status = status;
      arrived();
    };
    try {
      pid = await this.d.qemu.launch(cfg, { as, onExit, onSpawn: (p) => this.intoCpuGroup(rec, p) });
    } catch (e) {
      throw new KvmError("qemu_failed", `QEMU could not start VM "${rec.name}": ${(e as Error).message}`, { vm: rec.name });
    }
    this.watchExit(pid, exit);
    rec.pid = pid;
    rec.accelerator = cfg.accel;
    rec.stopRequested = false;
    this.d.store.saveVm(rec);
    this.startedAt.delete(rec.id);
    this.guests.delete(rec.id);
    this.agentPolls.delete(rec.id);
    try {
      await this.attach(rec, pid);
    } catch (e) {
      process.kill(pid, "SIGKILL");
      await waitGone(() => isOurQemu(pid, rec.id), 5000);
      this.exits.delete(pid);
      rec.pid = null;
      this.d.store.saveVm(rec);
      throw new KvmError("qemu_failed", `QEMU started VM "${rec.name}" but its QMP socket did not answer: ${(e as Error).message}`);
    }
    this.d.log.info("VM started", { vm: rec.name, pid, accel: cfg.accel });
  }

  /**
   * Stops QEMU: ACPI power button first (unless forced), then QMP `quit`,
   * then SIGKILL, each bounded, so a stop always ends.
   */
  private async stopQemu(rec: Rec, o: { force: boolean; timeoutSeconds: number }): Promise<void> {
    const pid = rec.pid;
    if (pid === null) return;
    const alive = () => isOurQemu(pid, rec.id);
    rec.stopRequested = true;
    this.d.store.saveVm(rec);
    const mon = this.monitors.get(rec.id);
    if (!o.force && o.timeoutSeconds > 0 && mon) {
      // The guest agent shuts down cleanly even where ACPI is ignored; ACPI covers guests without one.
      if (this.guests.has(rec.id)) {
        await new GuestAgent(this.paths(rec.id).guestAgent).shutdown("powerdown").catch(() => undefined);
      }
      // A press of the ACPI button before the guest listens for it (early boot) is lost, so press again now and then.
      const deadline = Date.now() + o.timeoutSeconds * 1000;
      while (alive() && Date.now() < deadline) {
        await mon.qmp.execute("system_powerdown").catch(() => undefined);
        await waitGone(alive, Math.min(POWERDOWN_REPEAT_MS, Math.max(0, deadline - Date.now())));
      }
      if (alive()) {
        this.d.log.warn("guest did not power off in time; powering it off", { vm: rec.name, timeoutSeconds: o.timeoutSeconds });
      }
    }
    if (alive()) {
      // QMP quit, or SIGTERM when hostd has no monitor: both make QEMU exit cleanly.
      if (mon && !mon.qmp.isClosed) await mon.qmp.execute("quit").catch(() => undefined);
      else process.kill(pid, "SIGTERM");
      await waitGone(alive, 5000);
    }
    if (alive()) {
      process.kill(pid, "SIGKILL");
      if (!(await waitGone(alive, 10_000))) {
        throw new KvmError("timeout", `QEMU (pid ${pid}) of VM "${rec.name}" did not exit even after SIGKILL.`);
      }
    }
    this.recordExit(rec, this.monitors.get(rec.id));
  }

  /**
   * Connects hostd's QMP monitor to a running QEMU and listens for its end.
   * Right after a launch the socket may need a moment; the poller makes one
   * attempt per round instead.
   */
  private async attach(rec: Rec, pid: number, attempts = 50): Promise<void> {
    const qmpPath = this.paths(rec.id).qmp;
    let qmp: QmpClient | undefined;
    let lastErr: Error | undefined;
    for (let i = 0; i < attempts && !qmp; i++) {
      try {
        qmp = await QmpClient.connect(qmpPath, 5000);
      } catch (e) {
        lastErr = e as Error;
        if (!isOurQemu(pid, rec.id)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!qmp) throw lastErr ?? new Error("QMP connect failed");
    const mon: Monitor = { qmp, pid };
    this.monitors.get(rec.id)?.qmp.close();
    this.monitors.set(rec.id, mon);
    qmp.on("event", (ev: QmpEvent) => {
      if (ev.event === "SHUTDOWN") {
        mon.lastShutdown = { guest: ev.data?.guest === true, reason: String(ev.data?.reason ?? "") };
      }
      if (RUNSTATE_EVENTS.has(ev.event) && mon.live) {
        void (qmp.execute("query-status") as Promise<{ status: string }>).then(
          (st) => mon.live && (mon.live.status = st.status),
          () => undefined,
        );
      }
    });
    qmp.on("close", () => {
      // QEMU closes its sockets just before exiting: give /proc a moment (and the exit status,
      // when hostd is its parent, a moment to arrive), then record the exit.
      void waitGone(() => isOurQemu(pid, rec.id), 2000)
        .then(() => this.exitStatusOf(pid))
        .then(() => this.reap(rec.name, rec.id, pid));
    });
    await this.readLive(mon).catch(() => undefined);
  }

  /** Backstop: VMs whose QEMU disappeared without a QMP close we noticed, or whose QMP we lost. */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const rec of this.d.store.listVms<VmSpec>()) {
        if (rec.pid === null) continue;
        if (!isOurQemu(rec.pid, rec.id)) {
          const pid = rec.pid;
          void this.exitStatusOf(pid).then(() => this.reap(rec.name, rec.id, pid));
        }
        else if (!this.monitors.has(rec.id) || this.monitors.get(rec.id)!.qmp.isClosed) {
          await this.attach(rec, rec.pid, 1).catch(() => undefined);
        } else if (rec.spec.guestAgent) {
          this.pollAgent(rec);
        }
      }
    } finally {
      this.polling = false;
    }
  }

  /**
   * Gives the exit status of a QEMU this hostd started a moment to arrive (Node reaps its
   * children asynchronously), so a kill is not recorded as "vanished". Never waits long.
   */
  private exitStatusOf(pid: number): Promise<unknown> {
    const known = this.exits.get(pid)?.statusKnown;
    return known ? Promise.race([known, new Promise((r) => setTimeout(r, 500))]) : Promise.resolve();
  }

  /** Records the exit of QEMU `pid` of VM `id`, once, if it is really gone. */
  private reap(name: string, id: string, pid: number): void {
    const rec = this.d.store.getVmByName<VmSpec>(name);
    if (!rec || rec.id !== id || rec.pid !== pid || isOurQemu(pid, id)) return;
    this.recordExit(rec, this.monitors.get(id));
  }

  private recordExit(rec: Rec, mon: Monitor | undefined): void {
    if (rec.pid === null) return;
    const exit = this.exits.get(rec.pid);
    this.exits.delete(rec.pid);
    const oomNow = oomKills(exit?.cgroup);
    const { reason, detail } = classifyExit({
      stopRequested: rec.stopRequested,
      shutdown: mon?.lastShutdown,
      status: exit?.status,
      oomKilled: oomNow !== undefined && exit?.oomAtStart !== undefined && oomNow > exit.oomAtStart,
    });
    rec.lastExit = { reason, at: new Date().toISOString(), detail };
    const level = CRASH_REASONS.has(reason) ? "warn" : "info";
    this.d.log.log(level, "VM exited", { vm: rec.name, pid: rec.pid, reason, detail });
    if (CRASH_REASONS.has(reason) && rec.spec.running && rec.spec.restartPolicy === "on-crash") this.scheduleRestart(rec.name, rec.id);
    rec.pid = null;
    rec.stopRequested = false;
    this.d.store.saveVm(rec);
    mon?.qmp.removeAllListeners();
    mon?.qmp.close();
    this.monitors.delete(rec.id);
    this.guests.delete(rec.id);
    this.agentPolls.delete(rec.id);
    this.startedAt.delete(rec.id);
  }

  /**
   * `restartPolicy: on-crash`: start the VM again after 1, 2, 4, 8, 16 s; after 5 restarts
   * within 10 minutes hostd gives up (a VM that keeps crashing needs a person) and says so.
   */
  private scheduleRestart(name: string, id: string): void {
    const now = Date.now();
    const recent = (this.autoRestarts.get(id) ?? []).filter((t) => now - t < AUTO_RESTART_WINDOW_MS);
    if (recent.length >= AUTO_RESTART_MAX) {
      this.d.log.error("VM keeps crashing; not restarting it again (restartPolicy on-crash)", { vm: name, restarts: recent.length, windowMinutes: AUTO_RESTART_WINDOW_MS / 60_000 });
      return;
    }
    recent.push(now);
    this.autoRestarts.set(id, recent);
    const delay = 1000 * 2 ** (recent.length - 1);
    setTimeout(() => {
      if (this.closing) return;
      void this.locks
        .run(name, async () => {
          const rec = this.d.store.getVmByName<VmSpec>(name);
          // Only the same VM, still meant to run, still crashed (nobody started or stopped it meanwhile).
          if (!rec || rec.id !== id || !rec.spec.running || rec.spec.restartPolicy !== "on-crash" || this.isAlive(rec)) return;
          this.d.log.warn("restarting crashed VM (restartPolicy on-crash)", { vm: name, attempt: recent.length });
          await this.startQemu(rec);
        })
        .catch((e: Error) => this.d.log.error("could not restart crashed VM", { vm: name, err: e.message }));
    }, delay).unref();
  }

  /** Puts a QEMU into the VMs' CPU group; a VM left outside still runs, so a failure is only logged. */
  private intoCpuGroup(rec: Rec, pid: number): void {
    try {
      this.d.cpuGroup?.add(pid);
    } catch (e) {
      this.d.log.warn("could not put QEMU into the VMs' CPU group", { vm: rec.name, pid, err: (e as Error).message });
    }
  }

  /** Notes QEMU's cgroup and its OOM-kill count now, to tell an OOM kill from another SIGKILL later. */
  private watchExit(pid: number, exit: Exit): void {
    exit.cgroup = cgroupDir(pid);
    exit.oomAtStart = oomKills(exit.cgroup);
    this.exits.set(pid, exit);
  }

  // ---- reading the real state ------------------------------------------------

  private isAlive(rec: Rec): boolean {
    return rec.pid !== null && isOurQemu(rec.pid, rec.id);
  }

  private async info(rec: Rec): Promise<VmInfo> {
    if (rec.pid !== null && !isOurQemu(rec.pid, rec.id)) {
      // Gone without hostd having heard yet: record it (once, whoever gets there first), then report that.
      await this.exitStatusOf(rec.pid);
      this.reap(rec.name, rec.id, rec.pid);
      const now = this.d.store.getVmByName<VmSpec>(rec.name);
      if (now && now.id === rec.id) Object.assign(rec, now);
    }
    let state: VmState;
    let qemuStatus: string | null = null;
    let actual: VmInfo["actual"] = null;
    if (rec.pid !== null) {
      const mon = this.monitors.get(rec.id);
      if (mon && !mon.qmp.isClosed) {
        // Normally answered from memory; only a monitor still attaching asks QEMU.
        const live = mon.live ?? (await this.readLive(mon).catch(() => undefined));
        qemuStatus = live?.status ?? null;
        actual = live?.actual ?? null;
      }
      state = qemuStatus === null || qemuStatus === "running" ? "running" : "paused";
    } else {
      state = rec.lastExit && CRASH_REASONS.has(rec.lastExit.reason) ? "crashed" : "stopped";
    }
    return {
      id: rec.id,
      name: rec.name,
      spec: rec.spec,
      owner: rec.owner,
      state,
      qemuStatus,
      pid: rec.pid,
      accelerator: rec.accelerator,
      actual,
      lastExit: rec.lastExit,
      ...this.nicInfo(rec),
      guest: rec.pid !== null ? (this.guests.get(rec.id) ?? null) : null,
      createdAt: rec.createdAt,
      updatedAt: rec.updatedAt,
    };
  }

  /** Reads QEMU's run state, memory and vCPUs into `mon.live` (three QMP queries, in parallel). */
  private async readLive(mon: Monitor): Promise<NonNullable<Monitor["live"]>> {
    const [st, mem, cpus] = await Promise.all([
      mon.qmp.execute("query-status") as Promise<{ status: string }>,
      mon.qmp.execute("query-memory-size-summary") as Promise<{ "base-memory": number; "plugged-memory"?: number }>,
      mon.qmp.execute("query-cpus-fast") as Promise<unknown[]>,
    ]);
    mon.live = {
      status: st.status,
      actual: { memoryMiB: Math.round((mem["base-memory"] + (mem["plugged-memory"] ?? 0)) / (1024 * 1024)), vcpus: cpus.length },
    };
    return mon.live;
  }

  // ---- helpers ----------------------------------------------------------------

  /** The VM whose spec lists `disk` (a disk belongs to one VM at a time), among `vms` (default: all). */
  private vmUsingDisk(disk: string, vms: Rec[] = this.d.store.listVms<VmSpec>()): Rec | undefined {
    return vms.find((v) => v.spec.disks.some((x) => x.disk === disk));
  }

  private mustGet(name: string): Rec {
    const rec = this.d.store.getVmByName<VmSpec>(name);
    if (!rec) throw errors.notFound("VM", name);
    return rec;
  }

  /** Host files and Disks the spec names must exist (and the disks be free) before anything changes. */
  private checkResources(spec: VmSpec): void {
    for (const [what, f] of [
      ["kernel", spec.kernel?.path],
      ["initrd", spec.kernel?.initrd],
      ["cdrom", spec.cdrom?.path],
    ] as const) {
      if (f !== undefined && !existsSync(f)) {
        throw errors.conflict(`The ${what} file ${f} of VM "${spec.name}" does not exist on this host.`, { file: f });
      }
      // QEMU opens it as the VM's own unprivileged user.
      const why = f !== undefined && this.d.isolation ? whyNotWorldReadable(f) : undefined;
      if (why) {
        throw errors.conflict(`The ${what} file ${f} of VM "${spec.name}" cannot be read by QEMU, which runs as an unprivileged user: ${why}.`, { file: f });
      }
    }
    const others = spec.disks.length > 0 ? this.d.store.listVms<VmSpec>().filter((v) => v.name !== spec.name) : [];
    for (const d of spec.disks) {
      if (!this.d.disks.record(d.disk)) {
        throw errors.conflict(`VM "${spec.name}" uses disk "${d.disk}", which does not exist on this host: create the Disk first.`, { disk: d.disk });
      }
      const owner = this.vmUsingDisk(d.disk, others);
      if (owner) {
        throw errors.conflict(`Disk "${d.disk}" is already attached to VM "${owner.name}"; a disk belongs to one VM at a time.`, { disk: d.disk, vm: owner.name });
      }
    }
    if (spec.firmware === "uefi") this.ovmf();
    if (this.d.isolation && spec.networkInterfaces.some(isNetworkNic) && (statSync("/dev/net/tun").mode & 0o006) !== 0o006) {
      throw errors.conflict(`VM "${spec.name}" has NICs on networks, but its unprivileged QEMU cannot open /dev/net/tun: make it world read-writable (chmod 0666 /dev/net/tun, Debian's default; \`hostd doctor\` checks it).`);
    }
    for (const n of spec.networkInterfaces) {
      if (!isNetworkNic(n)) continue;
      const net = this.d.networks.resolve(n.network, spec.name);
      if (n.ip !== undefined) this.d.networks.checkStaticIp(net, spec.name, n.mac ?? "", n.ip);
    }
  }

  private ovmf(): { code: string; vars: string } {
    const o = this.d.ovmf ?? { code: "/usr/share/OVMF/OVMF_CODE_4M.fd", vars: "/usr/share/OVMF/OVMF_VARS_4M.fd" };
    if (!existsSync(o.code) || !existsSync(o.vars)) {
      throw new KvmError("unsupported", `UEFI firmware is not installed on this host (${o.code}): install the ovmf package.`);
    }
    return o;
  }

  private seedPath(id: string): string {
    return path.join(this.vmDir(id), "seed.iso");
  }

  /** (Re)builds the VM's cloud-init seed, or removes it when the spec has no cloud-init. */
  private async writeSeed(rec: Rec): Promise<void> {
    const ci = rec.spec.cloudInit;
    if (!ci) {
      rmSync(this.seedPath(rec.id), { force: true });
      return;
    }
    // instance-id and local-hostname come from hostd unless the user's meta-data sets them.
    const user = ci.metaData ?? "";
    const ours = renderMetaData({ instanceId: ci.instanceId ?? rec.id, hostname: rec.name })
      .split("\n")
      .filter((line) => line !== "" && !new RegExp(`^${line.split(":")[0]}\\s*:`, "m").test(user));
    const metaData = [...ours, user].filter((x) => x !== "").join("\n") + "\n";
    mkdirSync(this.vmDir(rec.id), { recursive: true, mode: 0o700 });
    try {
      await buildSeed(this.seedPath(rec.id), { userData: ci.userData, metaData, networkConfig: ci.networkConfig });
    } catch (e) {
      throw new KvmError("qemu_failed", `Could not build the cloud-init seed of VM "${rec.name}": ${(e as Error).message}`, { vm: rec.name });
    }
  }

  /** Attaches and detaches disks of a running VM over QMP; the VM and its other devices stay as they are. */
  private async hotplugDisks(rec: Rec, attach: VmDisk[], detach: VmDisk[]): Promise<void> {
    const mon = this.monitors.get(rec.id);
    if (!mon) throw errors.invalidState(`VM "${rec.name}" is running but hostd has no QMP connection to it yet; retry in a moment.`);
    for (const d of detach) {
      const r = this.d.disks.record(d.disk);
      const ids = r ? diskIds(r.id) : undefined;
      if (!ids) continue;
      const deleted = mon.qmp.waitEvent("DEVICE_DELETED", (ev) => ev.data?.device === ids.id, 30_000);
      await mon.qmp.execute("device_del", { id: ids.id });
      try {
        await deleted;
      } catch {
        throw new KvmError("timeout", `The guest of VM "${rec.name}" did not release disk "${d.disk}" within 30 s (PCIe hot-unplug needs the guest's cooperation).`);
      }
      await mon.qmp.execute("blockdev-del", { "node-name": ids.node });
      this.releaseDisks([d]);
    }
    const slots = assignDiskSlots(rec.spec.disks, rec.devices);
    rec.devices = { ...rec.devices, diskSlots: slots };
    this.d.store.saveVm(rec);
    const all = qemuDisks(rec.spec, this.resolveDisks(rec.spec), slots);
    for (const d of attach) {
      const qd = all.find((x) => x.slot === slots[slotKey(d)] && x.bus === d.bus)!;
      // QEMU opens the file itself, as the VM's user.
      this.grantFiles(rec, [qd.file], this.runAs(rec));
      await mon.qmp.execute("blockdev-add", blockdevOf(qd));
      try {
        await mon.qmp.execute("device_add", diskDeviceOf(qd));
      } catch (e) {
        await mon.qmp.execute("blockdev-del", { "node-name": qd.node }).catch(() => undefined);
        throw new KvmError("qemu_failed", `QEMU could not hot-plug disk "${d.disk}" into VM "${rec.name}": ${(e as Error).message}`);
      }
    }
  }

  /** QMP block_resize for a disk attached to a running VM. */
  private async resizeOnline(disk: string, bytes: number): Promise<boolean> {
    const rec = this.vmUsingDisk(disk);
    const r = this.d.disks.record(disk);
    if (!rec || !r || !this.isAlive(rec)) return false;
    const mon = this.monitors.get(rec.id);
    if (!mon) return false;
    await mon.qmp.execute("block_resize", { "node-name": diskIds(r.id).node, size: bytes });
    return true;
  }

  /** Asks the guest agent for addresses, hostname and OS, without ever blocking a request. */
  private pollAgent(rec: Rec): void {
    const st = this.agentPolls.get(rec.id) ?? { next: 0, busy: false };
    this.agentPolls.set(rec.id, st);
    if (st.busy || Date.now() < st.next) return;
    st.busy = true;
    const agent = new GuestAgent(this.paths(rec.id).guestAgent);
    void (async () => {
      try {
        const [interfaces, hostname, os] = await Promise.all([
          agent.interfaces(),
          agent.hostname().catch(() => null),
          agent.osInfo().catch(() => null),
        ]);
        this.guests.set(rec.id, {
          hostname,
          os: os ? (os.prettyName ?? os.name ?? null) : null,
          interfaces: interfaces.map((i) => ({ name: i.name, mac: i.mac ?? null, addresses: i.addresses })),
          at: new Date().toISOString(),
        });
        st.next = Date.now() + AGENT_REFRESH_MS;
      } catch {
        st.next = Date.now() + AGENT_RETRY_MS;
      } finally {
        st.busy = false;
      }
    })();
  }

  // ---- the VM's own user ------------------------------------------------------------

  /** The lowest free VM uid. Callers record it before any await, so it is never handed out twice. */
  private allocateUid(): number | null {
    if (!this.d.isolation) return null;
    const used = new Set(this.d.store.vmUids());
    let uid = this.d.isolation.uidBase;
    while (used.has(uid)) uid++;
    return uid;
  }

  /** Who the VM's QEMU runs as (a VM from before isolation gets its uid now). */
  private runAs(rec: Rec): RunAs | undefined {
    if (!this.d.isolation) return undefined;
    if (rec.uid === null) {
      rec.uid = this.allocateUid();
      this.d.store.saveVm(rec);
    }
    return { uid: rec.uid!, gid: rec.uid!, groups: this.d.isolation.groups };
  }

  /**
   * Gives the VM's user its directory and the files QEMU opens read-write
   * (disks, NVRAM, seed): owner only, so no other VM can read them.
   */
  private grantFiles(rec: Rec, disks: string[], as: RunAs | undefined): void {
    if (!as) return;
    const dir = this.vmDir(rec.id);
    chownSync(dir, as.uid, as.gid);
    chmodSync(dir, 0o700);
    for (const f of [...disks, path.join(dir, "OVMF_VARS.fd"), this.seedPath(rec.id)]) {
      if (!existsSync(f)) continue;
      chownSync(f, as.uid, as.gid);
      chmodSync(f, 0o600);
    }
  }

  /** Disks that left a VM go back to root (a Disk outlives the VM that used it). */
  private releaseDisks(disks: VmDisk[]): void {
    if (!this.d.isolation) return;
    for (const d of disks) {
      const r = this.d.disks.record(d.disk);
      if (r && existsSync(r.path)) chownSync(r.path, 0, 0);
    }
  }

  // ---- NICs and taps -------------------------------------------------------------

  /** QEMU's view of the VM's NICs, from the kept placements. */
  private qemuNicsOf(rec: Rec): QemuNic[] {
    const placements = keptNics(rec.id, rec.spec.networkInterfaces, rec.devices).nics;
    return qemuNics(rec.id, rec.spec, placements, this.d.vhostNet);
  }

  /** Makes the tap of every network NIC exist and sit on its network's bridge (idempotent). */
  private async ensureTaps(rec: Rec): Promise<void> {
    for (const n of this.qemuNicsOf(rec)) {
      if (n.netdev.type === "tap") await this.ensureTap(n.netdev.ifname, n.netdev.network, rec);
    }
  }

  /**
   * The tap exists, belongs to the VM's user (so unprivileged QEMU may open it) and sits on its
   * network's bridge. A tap of the wrong owner that no QEMU holds is made again.
   */
  private async ensureTap(tap: string, network: string, rec: Rec): Promise<void> {
    const net = this.d.networks.resolve(network, rec.name);
    const owner = this.runAs(rec)?.uid;
    if (this.d.ip.exists(tap) && owner !== undefined && this.d.ip.tapOwner(tap) !== owner && !this.isAlive(rec)) {
      await this.d.ip.deleteLink(tap);
    }
    if (!this.d.ip.exists(tap)) await this.d.ip.createTap(tap, owner);
    await this.d.ip.attach(tap, net.bridge, net.mtu);
  }

  /** Deletes the taps of these NICs (those of network NICs; a tap already gone is fine). */
  private async deleteTaps(nics: QemuNic[]): Promise<void> {
    for (const n of nics) if (n.netdev.type === "tap") await this.d.ip.deleteLink(n.netdev.ifname);
  }

  /** Puts running VMs' taps back on `network`'s bridge after it was recreated. */
  private async reattachTaps(network: string): Promise<void> {
    for (const rec of this.d.store.listVms<VmSpec>()) {
      if (!this.isAlive(rec)) continue;
      for (const n of this.qemuNicsOf(rec)) {
        if (n.netdev.type !== "tap" || n.netdev.network !== network) continue;
        const tap = n.netdev.ifname;
        // One tap that cannot go back must not keep the others off the bridge.
        await this.ensureTap(tap, network, rec).catch((e: Error) =>
          this.d.log.error("could not put a tap back on its bridge", { vm: rec.name, tap, err: e.message }),
        );
      }
    }
  }

  /** NICs on `network`, for dnsmasq's static hosts and the network's "still in use" check. */
  private portsOn(network: string): NetworkPort[] {
    const out: NetworkPort[] = [];
    for (const rec of this.d.store.listVms<VmSpec>()) {
      const placements = keptNics(rec.id, rec.spec.networkInterfaces, rec.devices).nics;
      rec.spec.networkInterfaces.forEach((n, i) => {
        if (isNetworkNic(n) && n.network === network) out.push({ vm: rec.name, mac: placements[i]!.mac, ...(n.ip && { ip: n.ip }) });
      });
    }
    return out;
  }

  /** Tells the networks of these specs that their NICs changed (static leases, names). */
  private networksChanged(...specs: VmSpec[]): void {
    const names = new Set(specs.flatMap((s) => s.networkInterfaces.flatMap((n) => (isNetworkNic(n) ? [n.network] : []))));
    for (const n of names) this.d.networks.hostsChanged(n);
  }

  /** Hot-plugs and unplugs NICs of a running VM; other devices stay where they are. */
  private async hotplugNics(rec: Rec, attach: QemuNic[], detach: QemuNic[]): Promise<void> {
    const mon = this.monitors.get(rec.id);
    if (!mon) throw errors.invalidState(`VM "${rec.name}" is running but hostd has no QMP connection to it yet; retry in a moment.`);
    for (const n of detach) {
      const deleted = mon.qmp.waitEvent("DEVICE_DELETED", (ev) => ev.data?.device === n.id, 30_000);
      await mon.qmp.execute("device_del", { id: n.id });
      try {
        await deleted;
      } catch {
        throw new KvmError("timeout", `The guest of VM "${rec.name}" did not release NIC ${n.mac} within 30 s (PCIe hot-unplug needs the guest's cooperation).`);
      }
      await mon.qmp.execute("netdev_del", { id: `${n.id}-net` });
    }
    for (const n of attach) {
      if (n.netdev.type === "tap") await this.ensureTap(n.netdev.ifname, n.netdev.network, rec);
      await mon.qmp.execute("netdev_add", netdevQmpOf(n));
      try {
        await mon.qmp.execute("device_add", nicDeviceOf(n));
      } catch (e) {
        await mon.qmp.execute("netdev_del", { id: `${n.id}-net` }).catch(() => undefined);
        throw new KvmError("qemu_failed", `QEMU could not hot-plug NIC ${n.mac} into VM "${rec.name}": ${(e as Error).message}`);
      }
    }
  }

  /**
   * Each NIC's addresses: the DHCP lease dnsmasq granted since this QEMU
   * started (an older lease says nothing about the guest now), and what the
   * guest agent reports for the NIC's MAC. Nothing is waited for.
   */
  private nicInfo(rec: Rec): { nics: VmInfo["nics"]; primaryIp: string | null } {
    const alive = rec.pid !== null;
    const placements = keptNics(rec.id, rec.spec.networkInterfaces, rec.devices).nics;
    const guest = alive ? this.guests.get(rec.id) : undefined;
    let started: number | undefined;
    if (alive) {
      started = this.startedAt.get(rec.id) ?? processStartMs(rec.pid!);
      if (started !== undefined) this.startedAt.set(rec.id, started);
    }
    const nics = rec.spec.networkInterfaces.map((n, i) => {
      const mac = placements[i]!.mac;
      const ips: string[] = [];
      if (alive && isNetworkNic(n) && started !== undefined) ips.push(...this.d.networks.addressesSince(n.network, mac, started));
      for (const gi of guest?.interfaces ?? []) {
        if (gi.mac?.toLowerCase() !== mac) continue;
        for (const a of gi.addresses) if (isUsableAddress(a.address) && !ips.includes(a.address)) ips.push(a.address);
      }
      return {
        type: isNetworkNic(n) ? ("network" as const) : ("user" as const),
        network: isNetworkNic(n) ? n.network : null,
        mac,
        model: n.model,
        tap: isNetworkNic(n) ? tapName(rec.id, mac) : null,
        ipAddresses: ips,
      };
    });
    const primaryIp = nics.flatMap((n) => n.ipAddresses).find((a) => !a.includes(":")) ?? null;
    return { nics, primaryIp };
  }

  private resolveDisks(spec: VmSpec): Map<string, ResolvedDisk> {
    const m = new Map<string, ResolvedDisk>();
    for (const d of spec.disks) {
      const r = this.d.disks.record(d.disk);
      if (!r) throw errors.conflict(`Disk "${d.disk}" of VM "${spec.name}" does not exist on this host.`, { disk: d.disk });
      m.set(d.disk, { name: r.name, id: r.id, file: r.path, format: r.format });
    }
    return m;
  }

  private vmDir(id: string): string {
    return path.join(this.d.stateDir, "vms", id);
  }

  private paths(id: string): QemuPaths {
    const dir = this.vmDir(id);
    return {
      qmp: path.join(dir, "qmp.sock"),
      opsQmp: path.join(dir, "qmp-ops.sock"),
      pidfile: path.join(dir, "qemu.pid"),
      serialSocket: path.join(dir, "serial.sock"),
      serialLog: path.join(dir, "serial.log"),
      guestAgent: path.join(dir, "qga.sock"),
      log: path.join(dir, "qemu.log"),
    };
  }

  private qemuConfig(rec: Rec): QemuVmConfig {
    const spec = rec.spec;
    const slots = assignDiskSlots(spec.disks, rec.devices);
    rec.devices = { ...rec.devices, diskSlots: slots };
    const boot = bootIndexes(spec);
    return {
      uuid: rec.id,
      name: rec.name,
      vcpus: spec.vcpus,
      memoryMiB: spec.memoryMiB,
      accel: this.d.accel.kind,
      kernel: spec.kernel,
      firmware:
        spec.firmware === "uefi"
          ? { type: "uefi", code: this.ovmf().code, vars: path.join(this.vmDir(rec.id), "OVMF_VARS.fd") }
          : { type: "bios" },
      disks: qemuDisks(spec, this.resolveDisks(spec), slots),
      cdrom: spec.cdrom ? { file: spec.cdrom.path, ...(spec.kernel === undefined && { bootIndex: boot.cdrom }) } : undefined,
      seed: spec.cloudInit ? this.seedPath(rec.id) : undefined,
      nics: this.qemuNicsOf(rec),
      guestAgent: spec.guestAgent,
      paths: this.paths(rec.id),
    };
  }
}

const AUTO_RESTART_MAX = 5;
const AUTO_RESTART_WINDOW_MS = 10 * 60_000;

/** The longest path hostd puts under stateDir, for the unix socket length check. */
export const LONGEST_VM_PATH_SUFFIX = "/vms/00000000-0000-0000-0000-000000000000/qmp-ops.sock".length;
