/**
 * The VM service: the rules of VM lifecycle. It keeps the desired spec in the
 * store, turns it into QEMU processes through the drivers, and reports what
 * is really there (from /proc and QMP), not what the database remembers.
 *
 * What hostd holds in memory about each VM lives in that VM's runtime object
 * (vm-runtime.ts); this service keeps one registry of them and orchestrates
 * them. The parts: the VM's files (vm-files.ts), its NICs and taps
 * (vm-nics.ts), its QEMU process (vm-process.ts) and QMP monitor
 * (vm-monitor.ts), where devices go (vm-devices.ts), why a QEMU ended
 * (vm-exit.ts) and the spec's update rules (vm-spec.ts).
 *
 * Operations on one VM are serialized by name; different VMs proceed in
 * parallel. Multi-step changes undo themselves on failure.
 */
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import type { Duplex } from "node:stream";
import * as net from "node:net";
import { errors, KvmError } from "../../sdk/errors";
import { diskHotplugPlan, isNetworkNic, VM_LIMITS, type DiskChange, type DiskInfo, type HostCapacity, type MigrationDescription, type MigrationMark, type MigrationSent, type MigrationStream, type MigrationIncoming, type VmCreate, type VmDisk, type VmInfo, type VmSpec, type VmState, type VmUpdate } from "../../sdk/protocol";
import { AcceleratorChoice } from "../drivers/accel";
import { qemuCgroupName, QemuCgroup, type VmCgroup } from "../drivers/cgroup";
import { isOurQemu, waitGone } from "../drivers/process";
import { classifyExit, CRASH_REASONS } from "./vm-exit";
import { QemuDriver, RunAs } from "../drivers/qemu";
import { whyNotWorldReadable } from "../files";
import { QemuNic, QemuVmConfig } from "../drivers/qemu-argv";
import { NetlinkDriver, TUN } from "../drivers/netlink";
import { Logger } from "../log";
import { Reverter, withRevert } from "../revert";
import { Store, VmDevices, VmHostFiles, VmRecord } from "../store";
import { Caller, HostPaths } from "../host-paths";
import { applyUpdate, stableJson, updateEffects } from "./vm-spec";
import { DiskService, missingFileProblem, moveSync } from "./disk";
import { checkDeletable, retryOfOwnCreate } from "./ownership";
import { NetworkPort, NetworkService } from "./network";
import { assignDiskSlots, assignNics, diskIds, nicHotplugPlan, qemuDisks, ResolvedDisk, bootIndexes, slotKey } from "./vm-devices";
import { cpuPluggables, dimmPluggable, diskPluggable, hotplug, hotunplug, nextDimmSlot, nicPluggable } from "./vm-hotplug";
import { checkCapacity } from "./vm-capacity";
import { cpuModelProblem, liveCpuProblem } from "./vm-cpu";
import type { QemuCaps } from "../drivers/qemu-caps";
import { VmFiles } from "./vm-files";
import { VmNics } from "./vm-nics";
import { observeSpec, type Drift, type Seen } from "./vm-observe";
import { QemuProcess } from "./vm-process";
import { VmRegistry, VmRuntime } from "./vm-runtime";
import { connectToQemu, fileSink, fileSource, finishIncoming, listenForQemu, MirrorDisk, prepareIncoming, resumeAfterMove, send } from "./vm-migration";

const MiB = 1024 * 1024;

type Rec = VmRecord<VmSpec>;

export interface VmServiceDeps {
  store: Store;
  qemu: QemuDriver;
  accel: AcceleratorChoice;
  /** What this host's QEMU can give guests as their CPU (probed once at start). */
  qemuCaps: QemuCaps;
  /** Per-VM runtime files live in `<stateDir>/vms/<id>/`. */
  stateDir: string;
  log: Logger;
  disks: DiskService;
  networks: NetworkService;
  ip: NetlinkDriver;
  /** How a caller's host paths (kernel, initrd, cdrom) are checked. */
  hostPaths: HostPaths;
  /** /dev/vhost-net is there and usable by QEMU: taps use the in-kernel virtio-net data path. */
  vhostNet: boolean;
  /**
   * Each VM's QEMU runs as uid = gid = `uidBase + n`, a user of its own (no passwd entry needed),
   * n < `uidCount` (the range hostd claimed: hostd/uid-range.ts), with `groups` (e.g. kvm for
   * /dev/kvm) as supplementary groups. Null: QEMU runs as hostd's own
   * user (hostd is not root, so it cannot switch users).
   */
  isolation: { uidBase: number; uidCount: number; groups: number[] } | null;
  /** OVMF firmware for `firmware: uefi` (Debian's ovmf package). */
  ovmf?: { code: string; vars: string };
  /** The cgroup every QEMU goes into (drivers/cgroup.ts); undefined when the host offers none. */
  cpuGroup?: VmCgroup;
  /** The host's CPUs and memory: one VM larger than that is refused unless it allows overcommit (vm-capacity.ts). */
  capacity: HostCapacity;
}

/** How often hostd re-checks VMs whose QMP connection is gone (a backstop to QMP close events). */
const POLL_MS = 1000;
/** How many times a fresh QEMU's QMP socket is tried (100 ms apart) before the start counts as failed. */
const ATTACH_ATTEMPTS = 50;

export class VmService {
  /** The one per-VM structure: each VM's runtime object (and the per-VM operation lock). */
  private readonly vms: VmRegistry;
  private readonly files: VmFiles;
  private readonly nics: VmNics;
  /** VMs whose QEMU a stop of hostd's is ending now: that stop records the exit (with its request and caller), not the watchers. */
  private readonly stopping = new Set<string>();
  private poller?: NodeJS.Timeout;
  private polling = false;
  private closing = false;

  constructor(private readonly d: VmServiceDeps) {
    this.files = new VmFiles(d.stateDir, d.ovmf);
    this.nics = new VmNics(d.ip, d.networks, d.vhostNet);
    this.vms = new VmRegistry((vm) => new VmRuntime(vm.id, vm.name, this.files.paths(vm.id), d.log));
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
    this.files.init();
    for (const rec of this.d.store.listVms()) {
      if (rec.pid === null) continue;
      if (isOurQemu(rec.pid, rec.id)) {
        const rt = this.vms.of(rec);
        // Taps outlive hostd; after a host reboot or a bridge rebuild they may need putting back on their bridge.
        await this.ensureTaps(rec).catch((e: Error) => this.d.log.error("could not restore the VM's taps", { vm: rec.name, err: e.message }));
        const proc = QemuProcess.adopt(rec.pid, rec, this.d.log);
        // Normally already there (QEMUs outlive hostd in their cgroups); one an older hostd started gets its own group now.
        proc.cgroup = this.intoCgroups(rec, rec.pid);
        rt.ran(proc, "running");
        try {
          await rt.attach(ATTACH_ATTEMPTS, (proc) => this.onQmpClosed(rec, proc));
          this.d.log.info("reattached to running VM", { vm: rec.name, pid: rec.pid });
        } catch (e) {
          this.d.log.warn("VM is running but its QMP socket did not answer; will retry", {
            vm: rec.name,
            pid: rec.pid,
            err: (e as Error).message,
          });
        }
      } else {
        this.recordExit(rec);
      }
    }
    await this.reconcileMoves();
    this.poller = setInterval(() => void this.poll(), POLL_MS);
    this.poller.unref();
  }

  /** Detaches from VMs (they keep running) and stops background work. */
  shutdown(): void {
    this.closing = true;
    if (this.poller) clearInterval(this.poller);
    for (const rt of this.vms.all()) rt.detach();
  }

  // ---- API operations -------------------------------------------------------

  /** `caller`: who asks (the connection's peer); host paths in the spec are checked as them. */
  async create(params: VmCreate, caller?: Caller): Promise<VmInfo> {
    const { owner, ...spec } = params;
    return this.vms.serialize(spec.name, async () => {
      const existing = this.d.store.getVmByName(spec.name);
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
      return withRevert(this.d.log, "vm.create", async (r) => {
        // Checked and recorded under the networks' lock, so a network cannot be deleted in between.
        await this.d.networks.guard(async () => {
          rec.devices = { ...rec.devices, hostFiles: this.checkResources(spec, caller) };
          checkCapacity(spec, this.d.capacity);
          // No await between choosing the uid and recording it: two creates never get the same one.
          rec.uid = this.allocateUid();
          this.d.store.insertVm(rec);
        });
        r.add("delete the VM's row", () => {
          this.d.store.deleteVm(rec.id);
          this.vms.forget(rec.id);
          this.nics.networksChanged(spec);
        });
        this.nics.networksChanged(spec);
        if (this.files.ensureDir(rec.id)) r.add("remove the VM's directory", () => this.files.remove(rec.id));
        if (spec.running) await this.startQemu(rec, r);
        this.d.log.event("vm.created", rec.name, { id: rec.id, running: spec.running });
        return this.info(rec);
      });
    });
  }

  async get(name: string): Promise<VmInfo> {
    return this.info(this.mustGet(name), true);
  }

  /** Every VM in one call; live state is read for all of them concurrently. */
  async list(): Promise<VmInfo[]> {
    return Promise.all(this.d.store.listVms().map((r) => this.info(r)));
  }

  async update(u: VmUpdate, caller?: Caller): Promise<{ vm: VmInfo; restarted: boolean; hotplugged: string[] }> {
    return this.vms.serialize(u.name, async () => {
      const rec = this.mustGet(u.name);
      const before = rec.spec;
      const beforeDevices = rec.devices;
      const after = applyUpdate(before, u);
      const effects = updateEffects(before, after);
      const needsRestart = effects.restartFor.length > 0;
      const diskPlan = diskHotplugPlan(before.disks, after.disks);
      const alive = this.isAlive(rec);
      const placed = assignNics(rec.id, before.networkInterfaces, after.networkInterfaces, rec.devices);
      const afterDevices = { ...rec.devices, nics: placed.nics, nextNicIndex: placed.nextNicIndex };
      const beforeNics = this.nics.qemuNics(rec);
      const afterNics = this.nics.qemuNics({ ...rec, spec: after, devices: afterDevices });
      const nicPlan = nicHotplugPlan(beforeNics, afterNics);
      const stopTimeout = { force: false, timeoutSeconds: u.stopTimeoutSeconds ?? 60 };
      // A running QEMU changed outside hostd (devices, cdrom, boot order, sizes) is put back the sure way: started
      // again from the spec. A seed changed outside hostd is rebuilt below, without a restart.
      const now = alive ? await this.inspect(rec) : undefined;
      const drifted = alive && this.observed(rec, now?.actual ?? null, now?.seen).drift.some((d) => d.field !== "cloudInit");
      let restarted = false;
      const hotplugged: string[] = [];
      await withRevert(this.d.log, "vm.update", async (r) => {
        // Undo steps that bring the old VM back put the old spec back first: they must start it as it was.
        const restoreSpec = () => {
          rec.spec = before;
          // CPU slots an undo left unused stay so: they describe the running QEMU, not the spec.
          rec.devices = { ...beforeDevices, spentCpuSlots: rec.devices.spentCpuSlots };
          this.d.store.saveVm(rec);
          this.nics.networksChanged(before, after);
        };
        const startAsBefore = () => {
          restoreSpec();
          return withRevert(this.d.log, "vm.undo", (r2) => this.startQemu(rec, r2));
        };
        await this.d.networks.guard(async () => {
          const hostFiles = this.checkResources(after, caller);
          // A new size must fit (or the VM could never start), and so must a VM this update starts.
          const starts = after.running && (!alive || needsRestart || diskPlan === null);
          if (starts || after.vcpus !== before.vcpus || after.memoryMiB !== before.memoryMiB) checkCapacity(after, this.d.capacity);
          rec.spec = after;
          rec.devices = { ...afterDevices, hostFiles };
          this.d.store.saveVm(rec);
        });
        r.add("put back the VM's previous spec", restoreSpec);
        this.nics.networksChanged(before, after);
        const restart = alive && (needsRestart || diskPlan === null || drifted);
        if (restart) {
          await this.stopQemu(rec, stopTimeout);
          r.add("start the VM again as it was", startAsBefore);
        }
        // A new seed takes effect at the next boot; a running guest keeps what it read.
        if (stableJson(after.cloudInit) !== stableJson(before.cloudInit) || this.seedDrift(rec)) await this.replaceSeed(rec, r);
        if (restart && after.running) {
          await this.startQemu(rec, r);
          restarted = true;
        } else if (alive && diskPlan) {
          const restartAsBefore = () => this.stopQemu(rec, { force: true, timeoutSeconds: 0 }).then(startAsBefore);
          hotplugged.push(...(await this.growLive(rec, before, after, effects.live, r, restartAsBefore)));
          await this.hotplug(rec, { spec: before, devices: beforeDevices }, diskPlan, nicPlan, r);
          hotplugged.push(
            ...diskPlan.detach.map((d) => `-${d.disk}`),
            ...diskPlan.attach.map((d) => `+${d.disk}`),
            ...nicPlan.detach.map((n) => `-nic:${n.mac}`),
            ...nicPlan.attach.map((n) => `+nic:${n.mac}`),
          );
        }
        // Taps of NICs that left, and disks that left (they go back to root).
        const kept = new Set(this.nics.taps(afterNics).map((t) => t.tap));
        for (const t of this.nics.taps(beforeNics)) {
          if (kept.has(t.tap)) continue;
          await this.nics.deleteTap(t.tap);
          r.add(`make tap ${t.tap} again`, () => this.ensureTap(t, rec));
        }
        this.releaseDisks(before.disks.filter((d) => !after.disks.some((x) => x.disk === d.disk)), r);
        if (after.running && !this.isAlive(rec)) {
          await this.startQemu(rec, r);
        } else if (!after.running && this.isAlive(rec)) {
          await this.stopQemu(rec, stopTimeout);
          r.add("start the VM again as it was", startAsBefore);
        }
      });
      this.d.log.event("vm.updated", rec.name, { restarted, hotplugged, changed: Object.keys(u).filter((k) => k !== "name" && k !== "stopTimeoutSeconds") });
      return { vm: await this.info(rec), restarted, hotplugged };
    });
  }

  async start(name: string, caller?: Caller): Promise<VmInfo> {
    return this.vms.serialize(name, async () => {
      const rec = this.mustGet(name);
      await withRevert(this.d.log, "vm.start", async (r) => {
        if (!this.isAlive(rec)) {
          rec.devices = { ...rec.devices, hostFiles: this.checkResources(rec.spec, caller) };
          this.d.store.saveVm(rec);
          checkCapacity(rec.spec, this.d.capacity);
        }
        if (!rec.spec.running) {
          rec.spec = { ...rec.spec, running: true };
          this.d.store.saveVm(rec);
          r.add("put back running: false", () => {
            rec.spec = { ...rec.spec, running: false };
            this.d.store.saveVm(rec);
          });
        }
        if (!this.isAlive(rec)) await this.startQemu(rec, r);
      });
      return this.info(rec);
    });
  }

  async stop(p: { name: string; force: boolean; timeoutSeconds: number }): Promise<VmInfo> {
    return this.vms.serialize(p.name, async () => {
      const rec = this.mustGet(p.name);
      await withRevert(this.d.log, "vm.stop", async (r) => {
        if (rec.spec.running) {
          rec.spec = { ...rec.spec, running: false };
          this.d.store.saveVm(rec);
          r.add("put back running: true", () => {
            rec.spec = { ...rec.spec, running: true };
            this.d.store.saveVm(rec);
          });
        }
        if (this.isAlive(rec)) await this.stopQemu(rec, p);
      });
      return this.info(rec);
    });
  }

  async delete(p: { name: string; id?: string; owner?: string }): Promise<{ existed: boolean }> {
    return this.vms.serialize(p.name, async () => {
      const rec = this.d.store.getVmByName(p.name);
      // A namesake with another id is not the VM the caller means: leave it alone.
      if (!rec || (p.id !== undefined && rec.id !== p.id)) return { existed: false };
      checkDeletable("VM", rec, p);
      if (this.isAlive(rec)) await this.stopQemu(rec, { force: true, timeoutSeconds: 0 });
      await this.deleteTaps(this.nics.qemuNics(rec));
      this.releaseDisks(rec.spec.disks);
      this.files.remove(rec.id);
      this.d.store.deleteVm(rec.id);
      this.vms.forget(rec.id);
      this.nics.networksChanged(rec.spec);
      this.d.log.event("vm.deleted", rec.name, { id: rec.id });
      return { existed: true };
    });
  }

  /** The last `bytes` of what the guest printed on its serial console. */
  serialLog(name: string, bytes: number): { text: string; truncated: boolean } {
    return this.files.serialLog(this.mustGet(name).id, bytes);
  }

  /** A connection to the VM's serial console (QEMU takes one client at a time). */
  async openConsole(name: string): Promise<net.Socket> {
    const rec = this.mustGet(name);
    if (!this.isAlive(rec)) throw errors.invalidState(`VM "${name}" is not running: its console has nothing to attach to (see vm.serialLog for what it printed).`);
    const sock = net.createConnection(this.files.paths(rec.id).serialSocket);
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", resolve);
      sock.once("error", (e) => reject(errors.conflict(`The console of VM "${name}" is busy or gone: ${e.message}`)));
    });
    return sock;
  }

  // ---- moves between hosts ----------------------------------------------------
  // sdk/migrate.ts drives a move step by step on both hosts; these are this host's
  // steps. The QMP sequences are vm-migration.ts's; docs/architecture.md has the model.

  /** What a move of the VM needs to know and carry (read-only). */
  async describeForMove(name: string): Promise<MigrationDescription> {
    const rec = this.mustGet(name);
    const disks = await Promise.all(rec.spec.disks.map((d) => this.d.disks.forMove(d.disk)));
    const running = this.isAlive(rec);
    const refusals = disks.flatMap((d) => (d.refusal ? [d.refusal] : []));
    const nvram = rec.spec.firmware === "uefi" && existsSync(this.files.nvramPath(rec.id)) ? readFileSync(this.files.nvramPath(rec.id)).toString("base64") : null;
    return {
      vm: {
        id: rec.id,
        name: rec.name,
        spec: rec.spec,
        owner: rec.owner,
        createdAt: rec.createdAt,
        placement: { nics: rec.devices.nics ?? [], nextNicIndex: rec.devices.nextNicIndex ?? 0, diskSlots: rec.devices.diskSlots ?? {}, machine: this.machineOf(rec) },
        running,
        memoryBytes: rec.spec.memoryMiB * MiB,
      },
      disks: disks.map((d) => d.disk),
      nvram,
      accelerator: running ? rec.accelerator : null,
      hostCpuFeatures: running && (rec.spec.cpuModel ?? "host") === "host" ? this.d.qemuCaps.features : null,
      moveRefusal: refusals.length > 0 ? refusals.join("; ") : null,
      liveRefusal: running ? await this.liveRefusal(rec) : null,
      migration: rec.devices.migration ?? null,
    };
  }

  /**
   * A live move needs the destination's QEMU to be started as this one was, device for device.
   * CPUs and memory hot-added since the start are not in the command line hostd would give it,
   * so such a VM must restart once (or stop, and move offline) first.
   */
  private async liveRefusal(rec: Rec): Promise<string | null> {
    const rt = this.vms.of(rec);
    if (!rt.attached) return `hostd has no QMP connection to VM "${rec.name}" yet; retry in a moment`;
    const mon = rt.qmp();
    const [dimms, cpus] = await Promise.all([
      mon.execute("query-memory-devices") as Promise<unknown[]>,
      mon.execute("query-hotpluggable-cpus") as Promise<{ "qom-path"?: string }[]>,
    ]);
    const plugged = cpus.filter((c) => c["qom-path"]?.startsWith("/machine/peripheral")).length;
    if (dimms.length > 0 || plugged > 0 || rec.devices.spentCpuSlots?.pid === rec.pid) {
      return `VM "${rec.name}" has CPUs or memory hot-added since it started (${plugged} CPUs, ${dimms.length} memory blocks); the other host's QEMU cannot be started the same way: restart it once (its spec keeps the sizes), or stop it to move it offline`;
    }
    return null;
  }

  /** The source marks the VM as moving: from now on its streams may be attached, and a restart of hostd knows. */
  async beginMove(p: { name: string; id: string; toHostId: string; mode: "live" | "offline" }): Promise<{ mark: MigrationMark }> {
    return this.vms.serialize(p.name, async () => {
      const rec = this.mustGet(p.name);
      if (rec.id !== p.id) throw errors.conflict(`VM "${p.name}" here has id ${rec.id}, not ${p.id}: it is another VM; nothing moves.`);
      const cur = rec.devices.migration;
      if (cur && !(cur.role === "source" && cur.peerHostId === p.toHostId && cur.phase === "sending")) {
        throw errors.invalidState(`VM "${p.name}" is already in a move (${cur.role}, ${cur.phase}, other host ${cur.peerHostId}); abort it first (migration.abort) or let it finish.`);
      }
      if ((p.mode === "live") !== this.isAlive(rec)) throw errors.invalidState(`VM "${p.name}" is ${this.isAlive(rec) ? "running" : "not running"}: it moves ${this.isAlive(rec) ? "live" : "offline"}, not ${p.mode}.`);
      const mark: MigrationMark = { role: "source", phase: "sending", mode: p.mode, peerHostId: p.toHostId, since: new Date().toISOString() };
      this.setMark(rec, mark);
      this.vms.of(rec).moving();
      return { mark };
    });
  }

  /**
   * The destination makes the VM's twin: its disks (empty, to be written by the source), its row
   * (same id, owner, MACs, device places), its NVRAM and — live — a paused QEMU waiting for the
   * streams. Host files (kernel, initrd, cdrom) are checked here as the caller, as for a create.
   */
  async receiveMove(p: MigrationIncoming, caller?: Caller): Promise<{ vm: VmInfo; disks: DiskInfo[] }> {
    const desc = p.description;
    const v = desc.vm;
    return this.vms.serialize(v.name, async () => {
      const twin = this.checkIncoming(p, caller).twin;
      if (twin) return { vm: await this.info(twin), disks: await Promise.all(desc.disks.map((d) => this.d.disks.get(d.name))) };
      return withRevert(this.d.log, "migration.incoming", async (r) => {
        for (const d of desc.disks) await this.d.disks.receive(d, r);
        const now = new Date().toISOString();
        const mark: MigrationMark = { role: "destination", phase: "incoming", mode: p.mode, peerHostId: p.fromHostId, since: now };
        const rec: Rec = {
          id: v.id,
          name: v.name,
          spec: v.spec,
          pid: null,
          accelerator: null,
          stopRequested: false,
          lastExit: null,
          devices: { nics: v.placement.nics, nextNicIndex: v.placement.nextNicIndex, diskSlots: v.placement.diskSlots, machine: v.placement.machine, migration: mark },
          uid: null,
          owner: v.owner,
          createdAt: v.createdAt,
          updatedAt: now,
        };
        await this.d.networks.guard(async () => {
          rec.devices = { ...rec.devices, hostFiles: this.checkResources(v.spec, caller) };
          checkCapacity(v.spec, this.d.capacity);
          rec.uid = this.allocateUid();
          this.d.store.insertVm(rec);
        });
        r.add("delete the received VM's row", () => {
          this.d.store.deleteVm(rec.id);
          this.vms.forget(rec.id);
          this.nics.networksChanged(v.spec);
        });
        this.nics.networksChanged(v.spec);
        if (this.files.ensureDir(rec.id)) r.add("remove the received VM's directory", () => this.files.remove(rec.id));
        if (desc.nvram !== null) writeFileSync(this.files.nvramPath(rec.id), Buffer.from(desc.nvram, "base64"), { mode: 0o600 });
        const rt = this.vms.of(rec);
        rt.moving();
        if (p.mode === "live") {
          await this.startQemu(rec, r, { incoming: true });
          await prepareIncoming(rt.qmp(), {
            nbdSocket: this.files.migrationSocket(rec.id, "nbd"),
            ramSocket: this.files.migrationSocket(rec.id, "ram"),
            disks: this.mirrorDisks(rec),
          });
        }
        this.d.log.event("vm.migrating", rec.name, { id: rec.id, role: "destination", mode: p.mode, phase: "incoming", peerHostId: p.fromHostId });
        return { vm: await this.info(rec), disks: await Promise.all(desc.disks.map((d) => this.d.disks.get(d.name))) };
      });
    });
  }

  /** The disks of a live move, as QEMU names them (the same on both hosts: same disk ids). */
  private mirrorDisks(rec: Rec): MirrorDisk[] {
    const cfg = qemuDisks(rec.spec, this.resolveDisks(rec.spec), assignDiskSlots(rec.spec.disks, rec.devices));
    return rec.spec.disks.map((d, i) => {
      const disk = this.d.disks.record(d.disk)!;
      return {
        name: d.disk,
        node: cfg[i]!.node,
        exportName: disk.id,
        socket: this.files.migrationSocket(rec.id, { disk: i }),
        sync: moveSync(disk.spec),
      };
    });
  }

  /**
   * Whether this host takes the moving VM, changing nothing (migration.check, and the first thing
   * migration.incoming does): its name and its disks' names free here, its host files readable, its
   * networks present, the host big enough, room for its disks. `twin`: received here already (a retry).
   */
  checkIncoming(p: MigrationIncoming, caller?: Caller): { twin?: Rec; neededBytes: number; freeBytes: number } {
    const desc = p.description;
    const v = desc.vm;
    const existing = this.d.store.getVmByName(v.name);
    if (existing) {
      if (existing.id === v.id && existing.devices.migration?.role === "destination") return { twin: existing, neededBytes: 0, freeBytes: 0 };
      throw errors.conflict(`This host already has a VM named "${v.name}" (id ${existing.id}): the moving VM ${v.id} cannot take its name.`, { vm: v.name });
    }
    if (desc.moveRefusal) throw errors.invalidState(`VM "${v.name}" cannot move: ${desc.moveRefusal}.`);
    const room = this.d.disks.checkReceivable(desc.disks, p.mode);
    // Its disks are not here yet (receiving them is the move's first change): the rest of the spec is checked as a create would.
    this.checkResources({ ...v.spec, disks: [] }, caller);
    checkCapacity(v.spec, this.d.capacity);
    const machine = v.placement.machine;
    if (!this.d.qemuCaps.error && !this.d.qemuCaps.machines.includes(machine)) {
      throw new KvmError("unsupported", `VM "${v.name}" is a ${machine} machine, which this host's QEMU does not have (it has ${this.d.qemuCaps.q35} and older): move it to a host with that QEMU or newer; nothing was moved.`, { vm: v.name, machine });
    }
    const cpu = p.mode === "live" ? liveCpuProblem(v.name, v.spec.cpuModel, desc.hostCpuFeatures, this.d.qemuCaps) : undefined;
    if (cpu) throw new KvmError("unsupported", `${cpu}.`, { vm: v.name, cpuModel: v.spec.cpuModel });
    return room;
  }

  /** One stream of a move, on this host's side (the server pipes the connection to it). */
  async openMoveStream(name: string, stream: MigrationStream): Promise<Duplex> {
    const rec = this.mustGet(name);
    const mark = rec.devices.migration;
    if (!mark) throw errors.invalidState(`VM "${name}" is not moving: begin the move first (migration.begin on the source, migration.incoming on the destination).`);
    const rt = this.vms.of(rec);
    const move = rt.moving();
    const diskIndex = stream.kind === "ram" ? -1 : rec.spec.disks.findIndex((d) => d.disk === stream.disk);
    if (stream.kind !== "ram" && diskIndex < 0) throw errors.notFound("Disk of the moving VM", stream.disk);
    if ((stream.kind === "file") !== (mark.mode === "offline")) throw errors.invalidState(`VM "${name}" moves ${mark.mode}: a ${stream.kind} stream is not part of it.`);
    if (mark.role === "source") {
      if (stream.kind === "file") {
        if (this.isAlive(rec)) throw errors.invalidState(`VM "${name}" runs: its disk files cannot be copied as they are.`);
        return fileSource(this.d.disks.fileOf(stream.disk));
      }
      const socket = this.files.migrationSocket(rec.id, stream.kind === "ram" ? "ram" : { disk: diskIndex });
      const as = this.runAs(rec);
      const l = listenForQemu(socket, as && { uid: as.uid, gid: as.gid });
      await l.ready;
      return l.stream;
    }
    if (stream.kind === "file") {
      // The received disk's own file, written as it arrives; finish waits for the end of it.
      const sink = fileSink(this.d.disks.fileOf(stream.disk));
      move.files.set(stream.disk, sink.written);
      return sink.stream;
    }
    return connectToQemu(this.files.migrationSocket(rec.id, stream.kind === "ram" ? "ram" : "nbd"), `The ${stream.kind} stream of VM "${name}"`);
  }

  /** The source copies the running VM's disks and RAM to the destination through the attached streams, and switches over. */
  async sendMove(p: { name: string; toHostId: string; bandwidthMiBps: number; downtimeLimitMs: number; timeoutSeconds: number }): Promise<MigrationSent> {
    const rec = this.mustGet(p.name);
    const mark = rec.devices.migration;
    if (mark?.role !== "source" || mark.peerHostId !== p.toHostId || mark.mode !== "live") throw errors.invalidState(`VM "${p.name}" is not moving live to host ${p.toHostId}: begin the move first (migration.begin).`);
    if (mark.phase === "switched-over") throw errors.invalidState(`VM "${p.name}" has switched over to host ${p.toHostId} already: finish it there (migration.finish), then release it here.`);
    const rt = this.vms.of(rec);
    const move = rt.moving();
    if (move.abort.signal.aborted) move.abort = new AbortController();
    return send(rt.qmp(), {
      disks: this.mirrorDisks(rec),
      ramSocket: this.files.migrationSocket(rec.id, "ram"),
      bandwidthMiBps: p.bandwidthMiBps,
      downtimeLimitMs: p.downtimeLimitMs,
      deadline: Date.now() + p.timeoutSeconds * 1000,
      signal: move.abort.signal,
      onPhase: (phase) => {
        // Only the switchover changes what a restarted hostd must do with its copy; every phase is an event.
        if (phase === "switched-over") this.setMark(rec, { ...mark, phase });
        this.d.log.event("vm.migrating", rec.name, { id: rec.id, role: "source", mode: "live", phase, peerHostId: p.toHostId });
      },
    });
  }

  /** The destination runs the received VM (live: after the source switched over) or keeps it stopped (offline). */
  async finishMove(p: { name: string; running: boolean }): Promise<{ vm: VmInfo; pauseMs: number | null }> {
    return this.vms.serialize(p.name, async () => {
      const rec = this.mustGet(p.name);
      const mark = rec.devices.migration;
      if (mark?.role !== "destination") {
        if (!mark) return { vm: await this.info(rec), pauseMs: null };
        throw errors.invalidState(`VM "${p.name}" is the source of a move here, not its destination.`);
      }
      const rt = this.vms.of(rec);
      let pauseMs: number | null = null;
      if (mark.mode === "live") {
        pauseMs = await finishIncoming(rt.qmp(), { hadDisks: rec.spec.disks.length > 0, run: p.running, timeoutMs: 60_000 });
      } else {
        for (const d of rec.spec.disks) {
          const written = rt.move?.files.get(d.disk);
          if (!written) throw errors.invalidState(`Disk "${d.disk}" of VM "${p.name}" was never copied here: attach its file stream first.`);
          await written;
          await this.d.disks.finishReceive(d.disk);
        }
      }
      rt.move = undefined;
      this.setMark(rec, undefined);
      this.d.log.event("vm.migrated", rec.name, { id: rec.id, role: "destination", mode: mark.mode, peerHostId: mark.peerHostId });
      return { vm: await this.info(rec), pauseMs };
    });
  }

  /** The source after the destination took over: nothing of the VM stays here (QEMU, taps, disks, files, row). */
  async releaseMove(p: { name: string; id: string; toHostId: string }): Promise<{ released: boolean }> {
    return this.vms.serialize(p.name, async () => {
      const rec = this.d.store.getVmByName(p.name);
      if (!rec || rec.id !== p.id) return { released: false };
      const mark = rec.devices.migration;
      if (mark?.role !== "source" || mark.peerHostId !== p.toHostId) throw errors.invalidState(`VM "${p.name}" is not moving to host ${p.toHostId} from here; nothing was released.`);
      if (mark.mode === "live" && mark.phase !== "switched-over") throw errors.invalidState(`VM "${p.name}" has not switched over to host ${p.toHostId}; it still runs here, and nothing was released.`);
      await this.dropMovedCopy(rec);
      this.d.log.event("vm.migrated", rec.name, { id: rec.id, role: "source", mode: mark.mode, peerHostId: p.toHostId });
      return { released: true };
    });
  }

  /** One host's copy of a moving VM goes entirely: its QEMU, taps, disk files and rows, directory and row. */
  private async dropMovedCopy(rec: Rec): Promise<void> {
    if (this.isAlive(rec)) await this.stopQemu(rec, { force: true, timeoutSeconds: 0 });
    await this.deleteTaps(this.nics.qemuNics(rec));
    for (const d of rec.spec.disks) {
      const disk = this.d.disks.record(d.disk);
      if (disk) this.d.disks.releaseMoved(d.disk, disk.id);
    }
    this.files.remove(rec.id);
    this.d.store.deleteVm(rec.id);
    this.vms.forget(rec.id);
    this.nics.networksChanged(rec.spec);
  }

  /**
   * Undoes this host's part of a move. The source's VM runs on here (a paused one is resumed: the
   * caller aborts the destination first, so no other copy runs); the destination's twin is removed.
   */
  async abortMove(p: { name: string; id: string; why: string }): Promise<{ aborted: boolean }> {
    const rec0 = this.d.store.getVmByName(p.name);
    if (!rec0 || rec0.id !== p.id || !rec0.devices.migration) return { aborted: false };
    // A send under way stops at its next step (it undoes its own QMP changes).
    this.vms.of(rec0).move?.abort.abort(p.why);
    return this.vms.serialize(p.name, async () => {
      const rec = this.d.store.getVmByName(p.name);
      const mark = rec?.devices.migration;
      if (!rec || rec.id !== p.id || !mark) return { aborted: false };
      const rt = this.vms.of(rec);
      if (mark.role === "destination") {
        await this.dropMovedCopy(rec);
      } else {
        if (this.isAlive(rec) && rt.attached) await resumeAfterMove(rt.qmp());
        rt.move = undefined;
        this.setMark(rec, undefined);
      }
      this.d.log.event("vm.migration-aborted", rec.name, { id: rec.id, role: mark.role, peerHostId: mark.peerHostId, why: p.why }, "warn");
      return { aborted: true };
    });
  }

  /**
   * After a restart of hostd, a move this host was part of: a destination's twin whose guest never
   * ran here goes (the source is authoritative until the switchover); a source whose move died
   * with the old hostd (its relayed streams were hostd's) runs on. A source past the switchover
   * stays paused: only the destination knows whether it runs there (the client's next move asks).
   */
  private async reconcileMoves(): Promise<void> {
    for (const rec of this.d.store.listVms()) {
      const mark = rec.devices.migration;
      if (!mark) continue;
      const why = "hostd restarted during the move";
      if (mark.role === "destination") {
        this.d.log.warn("removing the twin of a VM whose move did not finish before hostd restarted", { vm: rec.name, from: mark.peerHostId });
        await this.abortMove({ name: rec.name, id: rec.id, why }).catch((e: Error) => this.d.log.error("could not remove an unfinished incoming VM", { vm: rec.name, err: e.message }));
      } else if (mark.phase === "sending") {
        this.d.log.warn("a move of this VM was under way when hostd stopped; it runs on here", { vm: rec.name, to: mark.peerHostId });
        await this.abortMove({ name: rec.name, id: rec.id, why }).catch((e: Error) => this.d.log.error("could not resume a VM after an unfinished move", { vm: rec.name, err: e.message }));
      } else {
        this.d.log.warn("VM switched over to another host before hostd restarted: kept paused here until the move is finished or aborted", { vm: rec.name, to: mark.peerHostId });
      }
    }
  }

  private setMark(rec: Rec, mark: MigrationMark | undefined): void {
    rec.devices = { ...rec.devices, migration: mark };
    if (!mark) delete rec.devices.migration;
    this.d.store.saveVm(rec);
  }

  // ---- QEMU lifecycle -------------------------------------------------------

  /**
   * Starts the VM's QEMU: its files, its user's grants and its taps, then
   * the launch and the QMP attach. Each step registers its undo on `r`, so a
   * start that fails part-way leaves no QEMU, tap, file or grant behind.
   */
  private async startQemu(rec: Rec, r: Reverter, o: { incoming?: boolean } = {}): Promise<void> {
    // A Disk whose file was deleted outside hostd stops the start before anything is made, saying so.
    for (const d of rec.spec.disks) {
      const disk = this.d.disks.record(d.disk);
      const missing = disk && missingFileProblem(disk);
      if (missing) throw errors.conflict(`VM "${rec.name}" cannot start: ${missing}.`, { vm: rec.name, disk: d.disk });
    }
    const rt = this.vms.of(rec);
    if (this.files.ensureDir(rec.id)) r.add("remove the VM's directory", () => this.files.remove(rec.id));
    const seed = this.files.seedPath(rec.id);
    if (rec.spec.cloudInit && !existsSync(seed)) {
      await this.files.writeSeed(rec);
      this.recordSeed(rec);
      r.add("remove the cloud-init seed", () => rmSync(seed, { force: true }));
    } else if (this.seedDrift(rec)) {
      // Changed outside hostd: the guest boots with the seed its spec says.
      await this.replaceSeed(rec, r);
    }
    const cfg = { ...this.qemuConfig(rec), ...(o.incoming && { incoming: true }) };
    if (cfg.firmware.type === "uefi" && this.files.ensureNvram(rec.id)) r.add("remove the VM's NVRAM", () => rmSync(this.files.nvramPath(rec.id), { force: true }));
    const as = this.runAs(rec, r);
    if (as) {
      const owners = this.files.grant(rec.id, cfg.disks.map((d) => d.file), as);
      r.add("give the VM's files back to their owners", () => this.files.restore(owners));
    }
    await this.ensureTaps(rec, r);
    const prev = { accelerator: rec.accelerator, lastExit: rec.lastExit };
    const qemuFiles = this.files.qemuFiles(rec.id);
    let cgroup: QemuProcess["cgroup"] | undefined;
    const proc = await QemuProcess.launch(this.d.qemu, cfg, { vm: rec, as, log: this.d.log, onSpawn: (p) => (cgroup = this.intoCgroups(rec, p)) });
    proc.cgroup = cgroup ?? { none: "QEMU had no pid at its spawn" };
    rt.ran(proc, "starting");
    rec.pid = proc.pid;
    rec.accelerator = cfg.accel;
    rec.stopRequested = false;
    this.d.store.saveVm(rec);
    r.add("kill the QEMU just started", async () => {
      // Recorded as hostd's own stop first, so its QMP close is never taken for a crash (nor restarted).
      rec.stopRequested = true;
      this.d.store.saveVm(rec);
      rt.phase = "stopping";
      await proc.kill();
      rt.end(proc.pid);
      // Once reaped (its exit status arrived) the kernel no longer lists it in its cgroup, which can go.
      await proc.settle();
      if (proc.cgroup instanceof QemuCgroup) proc.cgroup.remove();
      Object.assign(rec, { pid: null, stopRequested: false, ...prev });
      this.d.store.saveVm(rec);
      // A killed QEMU leaves its sockets and pidfile behind.
      this.files.putBackQemuFiles(qemuFiles);
    });
    try {
      await rt.attach(ATTACH_ATTEMPTS, (p) => this.onQmpClosed(rec, p));
    } catch (e) {
      throw new KvmError("qemu_failed", `QEMU started VM "${rec.name}" but its QMP socket did not answer: ${(e as Error).message}`, { vm: rec.name });
    }
    this.d.log.event("vm.started", rec.name, { pid: proc.pid, accel: cfg.accel });
  }

  /** Stops QEMU (see QemuProcess.stop) and records its exit as hostd's. */
  private async stopQemu(rec: Rec, o: { force: boolean; timeoutSeconds: number }): Promise<void> {
    const rt = this.vms.of(rec);
    const proc = rt.process;
    if (rec.pid === null || !proc) return;
    rec.stopRequested = true;
    this.d.store.saveVm(rec);
    rt.phase = "stopping";
    this.stopping.add(rec.id);
    try {
      await proc.stop(o, { monitor: rt.monitor, agentShutdown: () => rt.agentShutdown() });
      // Its exit status, and the kernel's reaping (which lets its cgroup go), follow a moment later.
      await proc.settle();
    } finally {
      this.stopping.delete(rec.id);
    }
    this.recordExit(rec);
  }

  /**
   * QEMU closes its sockets just before exiting: give /proc (and the exit status) a moment, then record the exit.
   * An exit hostd's own stop is waiting for is left to that stop, so its event carries the request (and caller) that stopped it.
   */
  private onQmpClosed(rec: Rec, proc: QemuProcess): void {
    void waitGone(() => proc.alive(), 2000)
      .then(() => proc.settle())
      .then(() => {
        if (!this.stopping.has(rec.id)) this.reapInBackground(rec.name, rec.id, proc.pid);
      });
  }

  /**
   * A background writer (QMP closed, the poller) records an exit under the VM's lock, as API calls
   * write, so it never saves a record an API call is changing. No API call waits for it (both callers
   * are callbacks nobody awaits), so it cannot wait on a lock held by its own caller. Where a call sees
   * the exit first (stopQemu, or info reading the VM) it records it itself, and reap here then finds
   * the exit recorded and does nothing.
   */
  private reapInBackground(name: string, id: string, pid: number): void {
    void this.vms
      .serialize(name, async () => {
        if (!this.closing) this.reap(name, id, pid);
      })
      .catch((e: Error) => this.d.log.error("could not record a VM's exit", { vm: name, pid, err: e.message }));
  }

  /** Backstop: VMs whose QEMU disappeared without a QMP close we noticed, or whose QMP we lost. */
  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const recs = this.d.store.listVms();
      // Own cgroups of QEMUs whose exit is recorded and that are reaped by now; those still recorded stay.
      this.d.cpuGroup?.sweep(new Set(recs.flatMap((r) => (r.pid === null ? [] : [qemuCgroupName(r.id, r.pid)]))));
      for (const rec of recs) {
        if (rec.pid === null) continue;
        const rt = this.vms.of(rec);
        if (!isOurQemu(rec.pid, rec.id)) {
          // A stop under way records this exit itself, in its request.
          if (this.stopping.has(rec.id)) continue;
          const pid = rec.pid;
          void (rt.process?.settle() ?? Promise.resolve()).then(() => this.reapInBackground(rec.name, rec.id, pid));
        } else if (!rt.attached) {
          if (!rt.process) {
            const proc = QemuProcess.adopt(rec.pid, rec, this.d.log);
            proc.cgroup = this.intoCgroups(rec, rec.pid);
            rt.ran(proc, "running");
          }
          await rt.attach(1, (p) => this.onQmpClosed(rec, p)).catch(() => undefined);
        } else if (rec.spec.guestAgent) {
          rt.pollAgent();
        }
      }
    } finally {
      this.polling = false;
    }
  }

  /** Records the exit of QEMU `pid` of VM `id`, once, if it is really gone. */
  private reap(name: string, id: string, pid: number): void {
    const rec = this.d.store.getVmByName(name);
    if (!rec || rec.id !== id || rec.pid !== pid || isOurQemu(pid, id)) return;
    this.recordExit(rec);
  }

  /** Records why the VM's QEMU ended (once per QEMU; a second caller only picks up the recorded state). */
  private recordExit(rec: Rec): void {
    if (rec.pid === null) return;
    const stored = this.d.store.getVmByName(rec.name);
    if (stored?.id === rec.id && stored.pid !== rec.pid) {
      // Recorded already (a QMP close and a stop can race): take what was saved.
      Object.assign(rec, stored);
      return;
    }
    const rt = this.vms.of(rec);
    const ended = rt.end(rec.pid);
    // A QEMU that ended while hostd was down is known only by its cgroup, found by its VM id and pid.
    const cgroup = ended?.process.cgroup ?? this.d.cpuGroup?.find(rec.id, rec.pid);
    const { reason, detail } = classifyExit({
      stopRequested: rec.stopRequested,
      shutdown: ended?.shutdown,
      status: ended?.process.status,
      oomKilled: cgroup instanceof QemuCgroup ? cgroup.oomKilled() : undefined,
    });
    // Read; now it may go (an unreaped zombie keeps it a moment longer: the poller's sweep removes it then).
    if (cgroup instanceof QemuCgroup) cgroup.remove();
    rec.lastExit = { reason, at: new Date().toISOString(), detail };
    const level = CRASH_REASONS.has(reason) ? "warn" : "info";
    const restartsInSeconds = CRASH_REASONS.has(reason) && rec.spec.running && rec.spec.restartPolicy === "on-crash" && !rec.devices.migration ? this.scheduleRestart(rt) : undefined;
    this.d.log.event("vm.exited", rec.name, { pid: rec.pid, reason, detail, ...(restartsInSeconds !== undefined && { restartsInSeconds }) }, level);
    rec.pid = null;
    rec.stopRequested = false;
    this.d.store.saveVm(rec);
  }

  /**
   * `restartPolicy: on-crash`: start the VM again after 1, 2, 4, 8, 16 s; after 5 restarts
   * within 10 minutes hostd gives up (a VM that keeps crashing needs a person) and says so.
   * Returns the seconds until the restart (recorded in the exit event), or nothing when it gave up.
   */
  private scheduleRestart(rt: VmRuntime): number | undefined {
    const attempt = rt.restartAttempt(Date.now());
    if (attempt === undefined) return undefined;
    const { id, name } = rt;
    setTimeout(() => {
      if (this.closing) return;
      void this.vms
        .serialize(name, async () => {
          const rec = this.d.store.getVmByName(name);
          // Only the same VM, still meant to run, still crashed (nobody started or stopped it meanwhile).
          if (!rec || rec.id !== id || !rec.spec.running || rec.spec.restartPolicy !== "on-crash" || this.isAlive(rec)) return;
          this.d.log.warn("restarting crashed VM (restartPolicy on-crash)", { vm: name, attempt });
          await withRevert(this.d.log, "vm.restart", (r) => this.startQemu(rec, r));
        })
        .catch((e: Error) => this.d.log.error("could not restart crashed VM", { vm: name, err: e.message }));
    }, 1000 * 2 ** (attempt - 1)).unref();
    return 2 ** (attempt - 1);
  }

  /**
   * Puts a QEMU into the VMs' CPU group and a cgroup of its own (drivers/cgroup.ts). A VM left
   * outside still runs, so a failure is only logged; its exits by SIGKILL then cannot be attributed.
   */
  private intoCgroups(rec: Rec, pid: number): QemuProcess["cgroup"] {
    if (!this.d.cpuGroup) return { none: "this host offers hostd no cgroup for VMs" };
    try {
      const own = this.d.cpuGroup.place(rec.id, pid);
      return typeof own === "string" ? { none: own } : own;
    } catch (e) {
      this.d.log.warn("could not put QEMU into the VMs' cgroups", { vm: rec.name, pid, err: (e as Error).message });
      return { none: (e as Error).message };
    }
  }

  // ---- reading the real state ------------------------------------------------

  private isAlive(rec: Rec): boolean {
    return rec.pid !== null && isOurQemu(rec.pid, rec.id);
  }

  /** The VM as it is; `fresh`: what its QEMU has is read afresh over QMP (vm.get) instead of from what hostd heard. */
  private async info(rec: Rec, fresh = false): Promise<VmInfo> {
    if (rec.pid !== null && !isOurQemu(rec.pid, rec.id)) {
      // Gone without hostd having heard yet: record it (once, whoever gets there first), then report that.
      await this.vms.of(rec).process?.settle();
      this.reap(rec.name, rec.id, rec.pid);
      const now = this.d.store.getVmByName(rec.name);
      if (now && now.id === rec.id) Object.assign(rec, now);
    }
    const rt = rec.pid !== null ? this.vms.of(rec) : undefined;
    let state: VmState;
    let qemuStatus: string | null = null;
    let actual: VmInfo["actual"] = null;
    const now = fresh && rt ? await this.inspect(rec) : undefined;
    if (rt) {
      const mon = rt.attached ? rt.monitor : undefined;
      if (mon) {
        // Normally answered from memory; only a monitor still attaching asks QEMU.
        const live = mon.live ?? (await mon.readLive().catch(() => undefined));
        qemuStatus = live?.status ?? null;
        actual = now?.actual ?? live?.actual ?? null;
      }
      state = qemuStatus === null || qemuStatus === "running" ? "running" : "paused";
    } else {
      state = rec.lastExit && CRASH_REASONS.has(rec.lastExit.reason) ? "crashed" : "stopped";
    }
    const running = rt && { startedMs: rt.process?.startedMs(), guest: rt.guest };
    const real = this.observed(rec, actual, now?.seen);
    return {
      id: rec.id,
      name: rec.name,
      spec: real.spec,
      drift: real.drift,
      owner: rec.owner,
      state,
      qemuStatus,
      pid: rec.pid,
      accelerator: rec.accelerator,
      migration: rec.devices.migration ?? null,
      actual,
      lastExit: rec.lastExit,
      ...this.nics.info(rec, running),
      guest: rt?.guest ?? null,
      createdAt: rec.createdAt,
      updatedAt: rec.updatedAt,
    };
  }

  /**
   * The spec as the running QEMU really has it (vm-observe.ts): from `seen`, read afresh over QMP
   * (vm.get, which refresh reads), or else from what the monitor's events kept (vm.list: which
   * devices QEMU still has); and the vCPUs and memory it reports, the seed by its hash. What
   * differs from the kept spec is listed as drift; refresh shows it, and the next update repairs it.
   */
  private observed(rec: Rec, actual: VmInfo["actual"], seen?: Omit<Seen, "tapBridge">): { spec: VmSpec; drift: Drift[] } {
    const rt = rec.pid !== null ? this.vms.of(rec) : undefined;
    const kept = rt?.attached ? rt.monitor?.devices : undefined;
    let spec = rec.spec;
    const drift: Drift[] = [];
    if (seen ?? kept) {
      const nics = this.nics.qemuNics(rec);
      const r = observeSpec(
        spec,
        {
          disks: spec.disks.map((d) => {
            const disk = this.d.disks.record(d.disk);
            return disk && { id: diskIds(disk.id).id, file: disk.path, gone: missingFileProblem(disk) };
          }),
          nics,
          cdromFile: rec.devices.hostFiles?.cdrom?.path,
          networkOnBridge: (b) => this.nics.networkOnBridge(b),
        },
        // Kept devices carry no types: only whether each is there is compared.
        { ...(seen ?? { devices: new Map([...kept!].map((id) => [id, ""])) }), tapBridge: this.nics.tapBridges(nics) },
      );
      spec = r.spec;
      drift.push(...r.drift);
    }
    const seed = this.seedDrift(rec);
    if (seed) {
      // Read as no cloud-init at all: the data the guest would get is not the declared one, so refresh shows a change, and up rebuilds it.
      drift.push({ field: "cloudInit", detail: seed });
      spec = { ...spec, cloudInit: undefined };
    }
    if (actual && (actual.vcpus !== spec.vcpus || actual.memoryMiB !== spec.memoryMiB)) {
      drift.push({ field: "vcpus/memoryMiB", detail: `QEMU has ${actual.vcpus} vCPUs and ${actual.memoryMiB} MiB, the spec ${spec.vcpus} and ${spec.memoryMiB}` });
      spec = { ...spec, vcpus: actual.vcpus, memoryMiB: actual.memoryMiB };
    }
    return { spec, drift };
  }

  /** What the running QEMU has now, read afresh (undefined when hostd has no monitor of it). */
  private async inspect(rec: Rec): Promise<{ actual: VmInfo["actual"]; seen: Omit<Seen, "tapBridge"> } | undefined> {
    const mon = rec.pid !== null && this.vms.of(rec).attached ? this.vms.of(rec).monitor : undefined;
    if (!mon) return undefined;
    try {
      const [live, seen] = await Promise.all([mon.readLive(), mon.inspect()]);
      return { actual: live.actual, seen };
    } catch (e) {
      // QEMU exiting as we ask: the state read next says so.
      this.d.log.debug("could not inspect QEMU", { vm: rec.name, err: (e as Error).message });
      return undefined;
    }
  }

  // ---- the VM's own user ------------------------------------------------------------

  /** The lowest free VM uid. Callers record it before any await, so it is never handed out twice. */
  private allocateUid(): number | null {
    if (!this.d.isolation) return null;
    const used = new Set(this.d.store.vmUids());
    const { uidBase, uidCount } = this.d.isolation;
    let uid = uidBase;
    while (used.has(uid)) uid++;
    if (uid >= uidBase + uidCount) {
      throw errors.conflict(`Every uid of this hostd's VM uid range ${uidBase}-${uidBase + uidCount - 1} is taken: delete VMs first.`, { uidBase, uidCount });
    }
    return uid;
  }

  /** Who the VM's QEMU runs as (a VM from before isolation gets its uid now). */
  private runAs(rec: Rec, r?: Reverter): RunAs | undefined {
    if (!this.d.isolation) return undefined;
    if (rec.uid === null) {
      rec.uid = this.allocateUid();
      this.d.store.saveVm(rec);
      r?.add("forget the VM's uid", () => {
        rec.uid = null;
        this.d.store.saveVm(rec);
      });
    }
    return { uid: rec.uid!, gid: rec.uid!, groups: this.d.isolation.groups };
  }

  /** Disks that left a VM go back to root (a Disk outlives the VM that used it). */
  private releaseDisks(disks: VmDisk[], r?: Reverter): void {
    if (!this.d.isolation || disks.length === 0) return;
    const owners = this.files.release(disks.flatMap((d) => this.d.disks.record(d.disk)?.path ?? []));
    r?.add("give the disks back to the VM's user", () => this.files.restore(owners));
  }

  // ---- NICs and taps -------------------------------------------------------------

  /** Makes the tap of every network NIC exist and sit on its network's bridge (idempotent); a tap made now is deleted on undo. */
  private async ensureTaps(rec: Rec, r?: Reverter): Promise<void> {
    for (const t of this.nics.taps(this.nics.qemuNics(rec))) {
      if ((await this.ensureTap(t, rec)) && r) r.add(`delete tap ${t.tap}`, () => this.nics.deleteTap(t.tap));
    }
  }

  private async ensureTap(t: { tap: string; network: string }, rec: Rec): Promise<boolean> {
    return this.nics.ensureTap(t, rec.name, this.runAs(rec)?.uid, this.isAlive(rec));
  }

  /** Deletes the taps of these NICs (a tap already gone is fine). */
  private async deleteTaps(nics: QemuNic[]): Promise<void> {
    for (const t of this.nics.taps(nics)) await this.nics.deleteTap(t.tap);
  }

  /** Puts running VMs' taps back on `network`'s bridge after it was recreated. */
  private async reattachTaps(network: string): Promise<void> {
    for (const rec of this.d.store.listVms()) {
      if (!this.isAlive(rec)) continue;
      for (const t of this.nics.taps(this.nics.qemuNics(rec))) {
        if (t.network !== network) continue;
        // One tap that cannot go back must not keep the others off the bridge.
        await this.ensureTap(t, rec).catch((e: Error) => this.d.log.error("could not put a tap back on its bridge", { vm: rec.name, tap: t.tap, err: e.message }));
      }
    }
  }

  /** NICs on `network`, for dnsmasq's static hosts and the network's "still in use" check. */
  private portsOn(network: string): NetworkPort[] {
    return this.nics.portsOn(network, this.d.store.listVms());
  }

  // ---- disks -------------------------------------------------------------------

  /**
   * Hot-plugs and unplugs disks and NICs of a running VM, through the one
   * plug and one unplug sequence (vm-hotplug.ts); other devices stay where
   * they are. Disks keep their slots, NICs their ports and MACs.
   */
  /**
   * vCPUs and memory raised within their room, on the running QEMU: CPUs into
   * the next free slots, then memory as one DIMM of the difference (undone in
   * the reverse order: QEMU 7.2 under TCG was seen to crash unplugging a DIMM
   * right after a CPU). The guest
   * onlines them (a udev rule or the kernel's auto-online; see the README).
   */
  private async growLive(rec: Rec, before: VmSpec, after: VmSpec, live: (keyof VmSpec)[], r: Reverter, restartAsBefore: () => Promise<unknown>): Promise<string[]> {
    const mon = this.vms.of(rec).qmp();
    const done: string[] = [];
    if (live.length === 0) return done;
    // Registered first, so it runs last when the grow is undone: the sizes answered from memory stay true.
    r.add("read QEMU's vCPUs and memory again", () => this.vms.of(rec).monitor?.readLive());
    if (live.includes("vcpus")) {
      const pid = rec.pid!;
      const spent = rec.devices.spentCpuSlots?.pid === pid ? rec.devices.spentCpuSlots.ids : [];
      for (const cpu of await cpuPluggables(mon, after.vcpus - before.vcpus, rec.name, spent)) {
        // QEMU 7.2 (seen under TCG) crashes when a CPU is plugged into a slot it unplugged: a slot
        // whose CPU an undo took out is not used again by this QEMU.
        let plugged = false;
        r.add(`keep ${cpu.what}'s slot unused until QEMU restarts`, () => {
          if (!plugged) return;
          const ids = rec.devices.spentCpuSlots?.pid === pid ? rec.devices.spentCpuSlots.ids : [];
          rec.devices = { ...rec.devices, spentCpuSlots: { pid, ids: [...ids, cpu.device.id] } };
          this.d.store.saveVm(rec);
        });
        // Under TCG, QEMU 7.2 corrupts its own heap unplugging a CPU (the next CPU plug crashes it):
        // there the undo starts the VM again as it was instead, a reboot rather than a dead VM.
        const undo = this.d.accel.kind === "tcg" ? restartAsBefore : undefined;
        await hotplug(mon, cpu, rec.name, r, { onPlugged: () => (plugged = true), undo });
      }
      done.push(`vcpus:${before.vcpus}->${after.vcpus}`);
    }
    if (live.includes("memoryMiB")) {
      const slot = await nextDimmSlot(mon);
      if (slot >= VM_LIMITS.memorySlots) {
        throw new KvmError("conflict", `VM "${rec.name}" has used its ${VM_LIMITS.memorySlots} memory slots since it started: restart it (stop and start) to fold them into its base memory, then grow it again.`, { vm: rec.name });
      }
      await hotplug(mon, dimmPluggable(slot, after.memoryMiB - before.memoryMiB), rec.name, r);
      done.push(`memoryMiB:${before.memoryMiB}->${after.memoryMiB}`);
    }
    await this.vms.of(rec).monitor?.readLive();
    return done;
  }

  private async hotplug(rec: Rec, before: { spec: VmSpec; devices: VmDevices }, disks: DiskChange, nics: { attach: QemuNic[]; detach: QemuNic[] }, r: Reverter): Promise<void> {
    const mon = this.vms.of(rec).qmp();
    const gone = qemuDisks(before.spec, this.resolveDisks(before.spec), assignDiskSlots(before.spec.disks, before.devices));
    // qemuDisks keeps the spec's order.
    for (const d of disks.detach) await hotunplug(mon, diskPluggable(d.disk, gone[before.spec.disks.indexOf(d)]!), rec.name, r);
    for (const n of nics.detach) await hotunplug(mon, nicPluggable(n), rec.name, r);
    const slots = assignDiskSlots(rec.spec.disks, rec.devices);
    rec.devices = { ...rec.devices, diskSlots: slots };
    this.d.store.saveVm(rec);
    const all = qemuDisks(rec.spec, this.resolveDisks(rec.spec), slots);
    for (const d of disks.attach) {
      const qd = all.find((x) => x.slot === slots[slotKey(d)] && x.bus === d.bus)!;
      // QEMU opens the file itself, as the VM's user.
      const as = this.runAs(rec, r);
      if (as) {
        const owners = this.files.grant(rec.id, [qd.file], as);
        r.add(`give disk "${d.disk}" back to its owner`, () => this.files.restore(owners));
      }
      await hotplug(mon, diskPluggable(d.disk, qd), rec.name, r);
    }
    for (const n of nics.attach) {
      for (const t of this.nics.taps([n])) {
        if (await this.ensureTap(t, rec)) r.add(`delete tap ${t.tap}`, () => this.nics.deleteTap(t.tap));
      }
      await hotplug(mon, nicPluggable(n), rec.name, r);
    }
  }

  /** QMP block_resize for a disk attached to a running VM. */
  private async resizeOnline(disk: string, bytes: number): Promise<boolean> {
    const rec = this.vmUsingDisk(disk);
    const r = this.d.disks.record(disk);
    if (!rec || !r || !this.isAlive(rec)) return false;
    const rt = this.vms.of(rec);
    if (!rt.attached) return false;
    await rt.qmp().execute("block_resize", { "node-name": diskIds(r.id).node, size: bytes });
    return true;
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

  /** Rebuilds the VM's cloud-init seed from its spec; undo puts the previous seed (or none) back. */
  private async replaceSeed(rec: Rec, r: Reverter): Promise<void> {
    const previous = this.files.snapshot(this.files.seedPath(rec.id));
    const previousSha256 = rec.devices.seedSha256;
    await this.files.writeSeed(rec);
    this.recordSeed(rec);
    r.add("put back the previous cloud-init seed", () => {
      this.files.putBack(previous);
      rec.devices = { ...rec.devices, seedSha256: previousSha256 };
      this.d.store.saveVm(rec);
    });
  }

  /** Records the hash of the seed just built, so a change made to it outside hostd shows as drift. */
  private recordSeed(rec: Rec): void {
    const sha256 = this.files.seedSha256(rec.id) ?? undefined;
    rec.devices = { ...rec.devices, seedSha256: sha256 };
    this.d.store.saveVm(rec);
  }

  /** What is wrong with the VM's seed, when it is not the one hostd built for its spec (changed or deleted outside hostd). */
  private seedDrift(rec: Rec): string | undefined {
    const built = rec.devices.seedSha256;
    if (!rec.spec.cloudInit || built === undefined) return undefined;
    const now = this.files.seedSha256(rec.id);
    if (now === built) return undefined;
    return now === null
      ? "the cloud-init seed hostd built is gone (deleted outside hostd)"
      : `the cloud-init seed is not the one hostd built for the spec (sha256 ${now.slice(0, 12)}…, built ${built.slice(0, 12)}…): changed outside hostd`;
  }

  // ---- helpers ----------------------------------------------------------------

  /** The VM whose spec lists `disk` (a disk belongs to one VM at a time), among `vms` (default: all). */
  private vmUsingDisk(disk: string, vms: Rec[] = this.d.store.listVms()): Rec | undefined {
    return vms.find((v) => v.spec.disks.some((x) => x.disk === disk));
  }

  private mustGet(name: string): Rec {
    const rec = this.d.store.getVmByName(name);
    if (!rec) throw errors.notFound("VM", name);
    return rec;
  }

  /**
   * Host files and Disks the spec names must exist (and the disks be free) before anything changes.
   * Host files are checked as the caller (hostd/host-paths.ts); the result says where they really are.
   */
  private checkResources(spec: VmSpec, caller: Caller | undefined): VmHostFiles {
    const files = this.hostFilesOf(spec, caller);
    for (const [what, f] of Object.entries(files)) {
      // QEMU opens it as the VM's own unprivileged user.
      const why = this.d.isolation ? whyNotWorldReadable(f.path) : undefined;
      if (why) {
        throw errors.conflict(`The ${what} file ${f.asked} of VM "${spec.name}" cannot be read by QEMU, which runs as an unprivileged user: ${why}.`, { file: f.asked });
      }
    }
    const others = spec.disks.length > 0 ? this.d.store.listVms().filter((v) => v.name !== spec.name) : [];
    for (const d of spec.disks) {
      if (!this.d.disks.record(d.disk)) {
        throw errors.conflict(`VM "${spec.name}" uses disk "${d.disk}", which does not exist on this host: create the Disk first.`, { disk: d.disk });
      }
      const moving = this.d.disks.movingProblem(d.disk);
      if (moving) throw errors.conflict(`VM "${spec.name}" cannot use disk "${d.disk}" now: ${moving}.`, { disk: d.disk });
      const owner = this.vmUsingDisk(d.disk, others);
      if (owner) {
        throw errors.conflict(`Disk "${d.disk}" is already attached to VM "${owner.name}"; a disk belongs to one VM at a time.`, { disk: d.disk, vm: owner.name });
      }
    }
    const cpu = cpuModelProblem(spec.name, spec.cpuModel, this.d.qemuCaps);
    if (cpu) throw new KvmError("unsupported", `${cpu}.`, { vm: spec.name, cpuModel: spec.cpuModel });
    if (spec.firmware === "uefi") this.files.ovmf();
    if (this.d.isolation && spec.networkInterfaces.some(isNetworkNic) && (statSync(TUN).mode & 0o006) !== 0o006) {
      throw errors.conflict(`VM "${spec.name}" has NICs on networks, but its unprivileged QEMU cannot open /dev/net/tun: make it world read-writable (chmod 0666 /dev/net/tun, Debian's default; \`hostd doctor\` checks it).`);
    }
    for (const n of spec.networkInterfaces) {
      if (!isNetworkNic(n)) continue;
      const net = this.d.networks.resolve(n.network, spec.name);
      if (n.ip !== undefined) this.d.networks.checkStaticIp(net, spec.name, n.mac ?? "", n.ip);
    }
    return files;
  }

  /**
   * The spec's kernel, initrd and cdrom: checked as `caller`, or — when hostd
   * starts QEMU of its own accord — the ones last checked, if the names still
   * hold those very files (a VM from before these checks: as an unknown caller).
   */
  private hostFilesOf(spec: VmSpec, caller: Caller | undefined, recorded?: VmHostFiles): VmHostFiles {
    const out: VmHostFiles = {};
    for (const [role, asked] of [["kernel", spec.kernel?.path], ["initrd", spec.kernel?.initrd], ["cdrom", spec.cdrom?.path]] as const) {
      if (asked === undefined) continue;
      const use = { what: `the ${role} file of VM "${spec.name}"` };
      const kept = recorded?.[role];
      if (kept?.asked === asked) {
        this.d.hostPaths.verify(kept, use);
        out[role] = kept;
      } else {
        out[role] = this.d.hostPaths.check(asked, caller, use);
      }
    }
    return out;
  }

  /** The VM's machine type: the one it first started with; one never started (or from before hostd kept it) gets this QEMU's q35. */
  private machineOf(rec: Rec): string {
    return rec.devices.machine ?? this.d.qemuCaps.q35;
  }

  private qemuConfig(rec: Rec): QemuVmConfig {
    const spec = rec.spec;
    // QEMU gets the resolved paths that were checked, never the names as given.
    const files = this.hostFilesOf(spec, undefined, rec.devices.hostFiles);
    rec.devices = { ...rec.devices, hostFiles: files };
    const slots = assignDiskSlots(spec.disks, rec.devices);
    // The machine type is fixed at the first start (recorded with the devices the start saves), so a
    // newer QEMU here or on another host gives the VM the same machine, as live migration requires.
    rec.devices = { ...rec.devices, diskSlots: slots, machine: this.machineOf(rec) };
    const boot = bootIndexes(spec);
    return {
      uuid: rec.id,
      name: rec.name,
      vcpus: spec.vcpus,
      memoryMiB: spec.memoryMiB,
      maxVcpus: spec.maxVcpus,
      maxMemoryMiB: spec.maxMemoryMiB,
      accel: this.d.accel.kind,
      machine: this.machineOf(rec),
      cpuModel: spec.cpuModel,
      kernel: spec.kernel && { ...spec.kernel, path: files.kernel!.path, ...(files.initrd && { initrd: files.initrd.path }) },
      firmware: spec.firmware === "uefi" ? { type: "uefi", code: this.files.ovmf().code, vars: this.files.nvramPath(rec.id) } : { type: "bios" },
      disks: qemuDisks(spec, this.resolveDisks(spec), slots),
      cdrom: spec.cdrom ? { file: files.cdrom!.path, ...(spec.kernel === undefined && { bootIndex: boot.cdrom }) } : undefined,
      seed: spec.cloudInit ? this.files.seedPath(rec.id) : undefined,
      nics: this.nics.qemuNics(rec),
      guestAgent: spec.guestAgent,
      paths: this.files.paths(rec.id),
    };
  }
}

/** The longest path hostd puts under stateDir, for the unix socket length check. */
export const LONGEST_VM_PATH_SUFFIX = "/vms/00000000-0000-0000-0000-000000000000/qmp-ops.sock".length;
