/**
 * Wires hostd together: probes the host, opens the store, starts the
 * services and registers one handler per protocol method.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { hostname } from "node:os";
import * as path from "node:path";
import { KvmError } from "../sdk/errors";
import * as P from "../sdk/protocol";
import { chooseAccelerator, probeHost } from "./drivers/accel";
import { QemuDriver } from "./drivers/qemu";
import { VmCgroup, vmCgroupPlan } from "./drivers/cgroup";
import { ImageCache } from "./drivers/image-cache";
import { QemuImg } from "./drivers/qemu-img";
import { DiskService } from "./services/disk";
import { DnsmasqDriver } from "./drivers/dnsmasq";
import { NetlinkDriver } from "./drivers/netlink";
import { NftDriver, nftTableName } from "./drivers/nft";
import { NetworkService } from "./services/network";
import { Logger } from "./log";
import { ConnectionLimits, Server, socketLive } from "./server";
import { MemoryReleaser } from "./memory";
import { checkPeer, peerCredReader, peerOf, PeerPolicy } from "./peer";
import { LONGEST_VM_PATH_SUFFIX, VmService } from "./services/vm";
import { hostCapacity } from "./services/vm-capacity";
import { Store, StoredEvent } from "./store";
import { HostPaths, nativeOpenAs } from "./host-paths";
import { PACKAGE_VERSION } from "../sdk/version";
import { loadHostId } from "./host-id";
import { lockStateDir } from "./state-lock";
import { UidClaims } from "./uid-claims";
import { planUidRange, readRecordedRange, recordRange, UidRange } from "./uid-range";
import { injectStepFaults, parseStepFaults } from "./revert";
import { QemuCaps, probeQemuCaps } from "./drivers/qemu-caps";
import { usableModels } from "./services/vm-cpu";
import { capabilitiesOf, probeCapabilityFacts } from "./capabilities";

export const HOSTD_VERSION = PACKAGE_VERSION;

export interface HostdOptions {
  socketPath: string;
  stateDir: string;
  accel: "auto" | "kvm" | "tcg";
  /** Group that may use the socket (mode 0660). */
  socketGroup?: number;
  /**
   * First uid (= gid) of this hostd's VM uid range (uid-range.ts); each VM gets its own uid in it.
   * Default: the range recorded in the state directory, else one derived from the host id.
   */
  vmUidBase?: number;
  /** The machine-wide registry of uid ranges (uid-claims.ts); a directory every hostd on the machine sees. */
  uidClaimsDir?: string;
  /** Directories host paths (disk sources, kernels, cdroms) must lie in; none: anywhere the caller may read. */
  hostPathRoots?: string[];
  /** Allow one VM more vCPUs than the host has CPUs, or more memory than it has (`--allow-overcommit`). */
  allowOvercommit?: boolean;
  /** Frame and idle timeouts, connections per peer; defaults {@link DEFAULT_CONNECTION_LIMITS}. */
  limits?: Partial<Pick<ConnectionLimits, "frameTimeoutMs" | "idleTimeoutMs" | "maxConnectionsPerPeer">>;
  log?: Logger;
}

export interface Hostd {
  close(): Promise<void>;
}

/** Unix socket paths are limited to 107 bytes. */
const MAX_UNIX_PATH = 107;

export async function startHostd(o: HostdOptions): Promise<Hostd> {
  const log = o.log ?? new Logger({ svc: "hostd" });
  const stateDir = path.resolve(o.stateDir);
  if (stateDir.length + LONGEST_VM_PATH_SUFFIX > MAX_UNIX_PATH) {
    throw new KvmError("invalid_params", `State directory ${stateDir} is too long for QEMU's unix sockets: keep it under ${MAX_UNIX_PATH - LONGEST_VM_PATH_SUFFIX} characters.`);
  }
  if (o.socketPath.length > MAX_UNIX_PATH) {
    throw new KvmError("invalid_params", `Socket path ${o.socketPath} is longer than ${MAX_UNIX_PATH} characters.`);
  }
  // Traversable (not listable) by others: dnsmasq re-reads its network's files after dropping root.
  mkdirSync(stateDir, { recursive: true, mode: 0o711 });
  chmodSync(stateDir, 0o711);
  mkdirSync(path.dirname(o.socketPath), { recursive: true, mode: 0o755 });

  injectStepFaults(faultFailSteps(process.env.HOSTD_FAULT_FAIL_STEP, log));
  const hostId = loadHostId(stateDir);
  // First, before anything is touched: the state directory is this hostd's alone.
  const held = new Held();
  const stateLock = lockStateDir(stateDir, { socket: o.socketPath, hostId });
  held.add(() => stateLock.release());
  try {
    return await startLocked(o, log, stateDir, hostId, held);
  } catch (e) {
    held.letGo();
    throw e;
  }
}

/** What a running hostd holds for its life (locks, its uid claim, the store): let go of newest first, at close or when its start fails. */
class Held {
  private steps: (() => void)[] = [];

  add(step: () => void): void {
    this.steps.push(step);
  }

  letGo(): void {
    for (const step of this.steps.reverse()) {
      try {
        step();
      } catch {
        /* the rest still go; the kernel drops locks at exit anyway */
      }
    }
    this.steps = [];
  }
}

/** The rest of the start, under the state directory's lock. */
async function startLocked(o: HostdOptions, log: Logger, stateDir: string, hostId: string, held: Held): Promise<Hostd> {
  // Checked before anything starts: a bad --host-path-root stops hostd at once.
  const hostPaths = new HostPaths({ roots: o.hostPathRoots });
  if (hostPaths.roots.length > 0) log.info("host paths are confined", { roots: hostPaths.roots });
  if (process.getuid?.() === 0 && !nativeOpenAs()) {
    log.warn("host paths cannot be checked as their callers (dist/native/openas.node missing): only files every user may read are taken from callers other than root");
  }
  const accel = chooseAccelerator(probeHost(), o.accel);
  if (accel.warning) log.warn("accelerator", { kind: accel.kind, reason: accel.reason, warning: accel.warning });
  else log.info("accelerator", { kind: accel.kind, reason: accel.reason });

  const qemu = new QemuDriver();
  let qemuVersion: string;
  try {
    qemuVersion = await qemu.version();
  } catch (e) {
    throw new KvmError("unsupported", `${qemu.binary} is not usable: ${(e as Error).message}. Install qemu-system-x86.`);
  }

  await refuseIfServing(o.socketPath);
  const qemuCaps = await probeQemuCaps(qemu.binary, accel.kind).catch((e: Error): QemuCaps => ({ native: accel.kind === "kvm" ? "host" : "max", features: [], models: new Map(), machines: [], q35: "q35", error: e.message }));
  if (qemuCaps.error) log.warn("could not ask QEMU which CPU models this host has: VMs with a named cpuModel are refused here", { err: qemuCaps.error });
  else log.info("guest CPU", { native: qemuCaps.native, features: qemuCaps.features.length, models: usableModels(qemuCaps).length });

  const capabilities = capabilitiesOf(await probeCapabilityFacts({ qemu: qemu.binary }));
  const lacking = P.Capability.options.filter((c) => !capabilities.includes(c));
  if (lacking.length > 0) log.warn("this host lacks what some features need: they are not announced (run `hostd doctor`)", { lacking });

  const store = new Store(path.join(stateDir, "hostd.db"));
  held.add(() => store.close());
  // Logged under the object's kind too, so the event history (`hostd events`) shows it on that VM, Disk or Network.
  const objectKey = { vms: "vm", disks: "disk", networks: "network", events: undefined } as const;
  store.onCorrupt = (row) => {
    const key = objectKey[row.table];
    log.error("a row of hostd's database cannot be read; it is left out and the rest served", { ...row, ...(key && { [key]: row.name }) });
  };
  // The event history (`hostd events`): the declared events (sdk/protocol/events.ts) and whatever else hostd
  // logged about a VM, network or disk, with the request and caller they happened in.
  log.tap((e) => {
    if (e.level === "debug") return;
    const kind = e.vm !== undefined ? "vm" : e.network !== undefined ? "network" : e.disk !== undefined ? "disk" : undefined;
    if (!kind) return;
    const { ts, level, msg, svc: _svc, method: _method, [kind]: object, ...details } = e;
    try {
      store.insertEvent({ at: ts, level, kind, object: String(object), message: msg, details });
    } catch {
      /* the history is best effort; the log line itself was written */
    }
  });
  const disks = new DiskService({
    store,
    qemuImg: new QemuImg(),
    images: new ImageCache(path.join(stateDir, "images"), log),
    hostPaths,
    stateDir,
    log,
  });
  // QEMU runs as a user of its own per VM when hostd can switch users (it is root), from a uid range no other hostd holds.
  let uidRange: UidRange | undefined;
  if (process.getuid?.() === 0) {
    const plan = planUidRange({ hostId, explicitBase: o.vmUidBase, recorded: readRecordedRange(stateDir), vmUids: store.vmUids() });
    const claim = await new UidClaims(o.uidClaimsDir).claim({ hostId, stateDir, socket: o.socketPath }, plan);
    held.add(() => claim.release());
    uidRange = claim.range;
    recordRange(stateDir, uidRange);
    log.info("VM uid range", { base: uidRange.base, count: uidRange.count, source: plan.source, ...(uidRange.base !== plan.range.base && { movedFrom: plan.range.base }) });
  }
  const isolation = uidRange ? { uidBase: uidRange.base, uidCount: uidRange.count, groups: kvmGroup() } : null;
  if (!isolation) log.warn("hostd is not root: QEMU runs as hostd's own user, without a user per VM");
  const ip = new NetlinkDriver(hostId);
  const networks = new NetworkService({ store, ip, dnsmasq: new DnsmasqDriver(), nft: new NftDriver(nftTableName(hostId)), stateDir, log });
  // QEMU aborts on vhost=on without the device (see docs/architecture.md), so probe it; unprivileged
  // QEMU opens it through the kvm group, as Debian's udev rule sets it up.
  const vhostNet = existsSync("/dev/vhost-net") && (isolation === null || groupCanUse("/dev/vhost-net", isolation.groups));
  const cpuGroup = makeCpuGroup(stateDir, log);
  const capacity = hostCapacity(o.allowOvercommit ?? false);
  log.info("host capacity", { ...capacity, rule: capacity.overcommit ? "VMs may be larger than the host (--allow-overcommit)" : "one VM may not be larger than the host" });
  const vms = new VmService({ store, qemu, accel, qemuCaps, stateDir, log, disks, networks, ip, hostPaths, vhostNet, isolation, cpuGroup, capacity });
  // Networks first (bridges, dnsmasq, rules), then VMs (their taps go back on those bridges).
  await networks.init();
  await vms.init();
  networks.startHealthCheck();

  const readPeer = peerCredReader();
  if (!readPeer) log.warn("peer credential check unavailable (dist/native/peercred.node missing): only the socket's file mode guards hostd, and there is no per-peer connection limit");
  const policy: PeerPolicy = { uids: [...new Set([0, process.getuid?.() ?? 0])], gid: o.socketGroup };
  // Idempotency keys are kept a day: long enough for any retry, short enough to stay small.
  const pruneKeys = () => store.pruneRequests(new Date(Date.now() - 86_400_000).toISOString());
  pruneKeys();
  const pruner = setInterval(pruneKeys, 3_600_000);
  pruner.unref();
  const memory = new MemoryReleaser(log);
  const server = new Server(log, {
    peerOf: readPeer ? (sock) => peerOf(sock, readPeer) : undefined,
    authorize: (peer) => checkPeer(peer, policy),
    replies: { get: (k) => store.getRequest(k), put: (k, m, h, r) => store.putRequest(k, m, h, r) },
    // Those who own hostd anyway are not limited (see DEFAULT_CONNECTION_LIMITS).
    limits: { ...o.limits, unlimitedUids: policy.uids },
    onConnectionClosed: (bytes) => memory.connectionClosed(bytes),
    replyDelayMs: faultReplyDelays(process.env.HOSTD_FAULT_REPLY_DELAY, log),
  });
  server.handle(P.hostHello, async (p, ctx) => {
    ctx.log.debug("hello", { client: p.client });
    return {
      hostId,
      protocolVersion: P.PROTOCOL_VERSION,
      hostdVersion: HOSTD_VERSION,
      hostname: hostname(),
      capabilities,
      accelerator: { kind: accel.kind, reason: accel.reason, ...(accel.warning && { warning: accel.warning }) },
      qemuVersion,
      capacity,
      cpu: { native: qemuCaps.native, features: qemuCaps.features, models: usableModels(qemuCaps) },
    };
  });
  server.handle(P.hostEvents, async (p) => ({ events: store.listEvents(p.limit, p.object, p.after).flatMap((row) => eventOf(row, log)) }));
  server.handle(P.vmSerialLog, async (p) => vms.serialLog(p.name, p.bytes));
  server.handleStream(P.vmConsole, (p) => vms.openConsole(p.name));
  // Host paths in a request are checked as its caller (ctx.peer; undefined: unknown, see host-paths.ts).
  server.handle(P.vmCreate, (spec, ctx) => vms.create(spec, ctx.peer));
  server.handle(P.vmGet, (p) => vms.get(p.name));
  server.handle(P.vmList, async () => ({ vms: await vms.list() }));
  server.handle(P.vmUpdate, (u, ctx) => vms.update(u, ctx.peer));
  server.handle(P.vmStart, (p, ctx) => vms.start(p.name, ctx.peer));
  server.handle(P.vmStop, (p) => vms.stop(p));
  /** A delete that names the host it means is refused anywhere else: an object's host is its host id, never its route. */
  const onThisHost = <T extends { hostId?: string; name: string }>(kind: string, p: T): T => {
    if (p.hostId !== undefined && p.hostId !== hostId) {
      throw new KvmError(
        "wrong_host",
        `${kind} "${p.name}" was made on host ${p.hostId}, but this is host ${hostId}: nothing was deleted. The connection now reaches another hostd; point it back at the object's host.`,
        { expectedHostId: p.hostId, hostId },
      );
    }
    return p;
  };
  server.handle(P.vmDelete, (p) => vms.delete(onThisHost("VM", p)));
  server.handle(P.diskCreate, (spec, ctx) => disks.create(spec, ctx.peer));
  server.handle(P.diskGet, (p) => disks.get(p.name));
  server.handle(P.diskList, async () => ({ disks: await disks.list() }));
  server.handle(P.diskUpdate, (u) => disks.update(u));
  server.handle(P.diskDelete, (p) => disks.delete(onThisHost("Disk", p)));
  server.handle(P.imageList, () => disks.listImages());
  server.handle(P.imagePrune, (p) => disks.pruneImages(p.sha256));
  server.handle(P.networkCreate, (spec) => networks.create(spec));
  server.handle(P.networkGet, (p) => networks.get(p.name));
  server.handle(P.networkList, async () => ({ networks: await networks.list() }));
  server.handle(P.networkUpdate, (u) => networks.update(u));
  server.handle(P.networkDelete, (p) => networks.delete(onThisHost("Network", p)));

  // Moves between hosts (sdk/migrate.ts drives the steps on both hosts; docs/architecture.md).
  server.handle(P.migrationDescribe, (p) => vms.describeForMove(p.name));
  server.handle(P.migrationBegin, (p) => vms.beginMove(p));
  server.handle(P.migrationCheck, async (p, ctx) => {
    const { neededBytes, freeBytes } = vms.checkIncoming(p, ctx.peer);
    return { neededBytes, freeBytes };
  });
  server.handle(P.migrationIncoming, (p, ctx) => vms.receiveMove(p, ctx.peer));
  server.handleStream(P.migrationAttach, (p) => vms.openMoveStream(p.name, p.stream));
  server.handle(P.migrationSend, (p) => vms.sendMove(p));
  server.handle(P.migrationFinish, (p) => vms.finishMove(p));
  server.handle(P.migrationRelease, (p) => vms.releaseMove(p));
  server.handle(P.migrationAbort, (p) => vms.abortMove(p));
  server.handle(P.diskMoveDescribe, (p) => disks.describeForMoveAlone(p.name));
  server.handle(P.diskMoveCheck, async (p) => disks.checkReceivable([p.disk], "offline"));
  server.handle(P.diskMoveBegin, (p) => disks.beginLeaving(p));
  server.handle(P.diskMoveIncoming, (p) => disks.receiveAlone(p));
  server.handleStream(P.diskMoveAttach, async (p) => disks.openMoveStreamAlone(p));
  server.handle(P.diskMoveFinish, (p) => disks.finishArrival(p));
  server.handle(P.diskMoveRelease, (p) => disks.releaseLeaving(p));
  server.handle(P.diskMoveAbort, (p) => disks.abortMoveAlone(p));

  await server.listen(o.socketPath);
  chmodSync(o.socketPath, 0o660);
  if (o.socketGroup !== undefined) chownSync(o.socketPath, process.getuid?.() ?? 0, o.socketGroup);
  log.info("serving", { socket: o.socketPath, stateDir, hostId, version: HOSTD_VERSION, qemu: qemuVersion, ...(uidRange && { vmUids: uidRange }) });

  return {
    async close() {
      await server.close();
      memory.close();
      clearInterval(pruner);
      vms.shutdown();
      networks.shutdown();
      // A group still holding VMs stays: they outlive hostd, and the next hostd finds them there.
      cpuGroup?.removeIfEmpty();
      // The uid claim, the store and last the state directory's lock.
      held.letGo();
      log.info("stopped; VMs keep running");
    },
  };
}

/** A stored event as the protocol has it (request id, uid and declared kind lifted out of its details); a row that is not one is logged and left out. */
function eventOf(row: StoredEvent, log: Logger): P.HostEvent[] {
  const { req, uid, event, ...details } = row.details;
  const e = P.HostEvent.safeParse({
    ...row,
    ...(event !== undefined && { event }),
    ...(req !== undefined && { requestId: req }),
    ...(uid !== undefined && { uid }),
    details,
  });
  if (e.success) return [e.data];
  log.debug("left out an event row that is not an event", { seq: row.seq, err: e.error.message });
  return [];
}

/** The VMs' CPU group (see drivers/cgroup.ts), or undefined with a warning saying why there is none. */
function makeCpuGroup(stateDir: string, log: Logger): VmCgroup | undefined {
  const plan = vmCgroupPlan(stateDir);
  const without = "VMs share hostd's cgroup, so busy guests can slow hostd's replies";
  if (plan.kind === "none") {
    log.warn(`no CPU group for VMs: ${without}`, { reason: plan.reason });
    return undefined;
  }
  try {
    const group = VmCgroup.create(plan);
    log.info("VMs run in a CPU group of their own", { cgroup: group.dir, version: group.kind });
    return group;
  } catch (e) {
    log.warn(`no CPU group for VMs: ${without}`, { cgroup: plan.dir, reason: (e as Error).message });
    return undefined;
  }
}

/** Parses HOSTD_FAULT_REPLY_DELAY ("method=ms,..."), a fault injection for tests; loudly logged when set. */
function faultReplyDelays(spec: string | undefined, log: Logger): Record<string, number> | undefined {
  if (!spec) return undefined;
  const out: Record<string, number> = {};
  for (const part of spec.split(",")) {
    const [m, ms] = part.split("=");
    if (m && ms && /^\d+$/.test(ms)) out[m] = Number(ms);
  }
  log.warn("FAULT INJECTION: replies are held back (HOSTD_FAULT_REPLY_DELAY); never set this in production", { delays: out });
  return out;
}

/** Parses HOSTD_FAULT_FAIL_STEP ("op=step,..."), a fault injection for tests (revert.ts); loudly logged when set. */
function faultFailSteps(spec: string | undefined, log: Logger): Map<string, number> {
  if (!spec) return new Map();
  const plan = parseStepFaults(spec);
  log.warn("FAULT INJECTION: steps of operations fail on purpose (HOSTD_FAULT_FAIL_STEP); never set this in production", { failSteps: Object.fromEntries(plan) });
  return plan;
}

/** The `kvm` group's gid (for /dev/kvm and /dev/vhost-net), if the host has one. */
function kvmGroup(): number[] {
  try {
    const line = readFileSync("/etc/group", "utf8").split("\n").find((l) => l.startsWith("kvm:"));
    const gid = line ? Number(line.split(":")[2]) : NaN;
    return Number.isInteger(gid) ? [gid] : [];
  } catch {
    return [];
  }
}

function groupCanUse(dev: string, groups: number[]): boolean {
  const st = statSync(dev);
  return (st.mode & 0o006) === 0o006 || (groups.includes(st.gid) && (st.mode & 0o060) === 0o060);
}

/** A stale socket file is removed; a live hostd on it is an error, not something to steal. */
async function refuseIfServing(socketPath: string): Promise<void> {
  if (await socketLive(socketPath)) throw new KvmError("conflict", `Another hostd is already serving on ${socketPath}.`);
  rmSync(socketPath, { force: true });
}
