/**
 * Many hosts in one program, at the provider's edge: the cross-host refusal
 * (check), and what a `host` change plans (diff) for a Vm, a Disk and a
 * Network. The hosts are fake hostds on unix sockets that answer `host.hello`
 * only (no `migration` capability); the SDK's migration planner is replaced
 * where a test says so, and one test shows the real one refusing such a host.
 */
import { createServer, Server } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { PROTOCOL_VERSION } from "../sdk/protocol";
import * as migrate from "../sdk/migrate";
import { check as vmCheck, diff as vmDiff, VmInputs, VmOutputs } from "./vm-provider";
import { diff as diskDiff, DiskInputs, DiskOutputs } from "./disk-provider";
import { diff as networkDiff, NetworkInputs, NetworkOutputs } from "./network-provider";
import { check as hostCheck, create as hostCreate, diff as hostDiff } from "./host-provider";
import { moveVmOnce } from "./moves";
import type { HostRef } from "./connection";
import { HostClient } from "../sdk/client";
import { LocalTransport } from "../sdk/transport/local";

jest.mock("../sdk/migrate", () => {
  const actual = jest.requireActual<typeof import("../sdk/migrate")>("../sdk/migrate");
  return { ...actual, planMigration: jest.fn(actual.planMigration), planDiskMove: jest.fn(actual.planDiskMove), migrateVm: jest.fn(actual.migrateVm) };
});
const mocked = migrate as jest.Mocked<typeof migrate>;
const actual = jest.requireActual<typeof import("../sdk/migrate")>("../sdk/migrate");

const ID_A = "aaaaaaaa-1111-4111-8111-111111111111";
const ID_B = "bbbbbbbb-2222-4222-8222-222222222222";
let dir: string;
const servers: Server[] = [];
let hellos = 0;
/** Which VM uses each disk, as the fake hosts' `disk.get` answers it (what the host knows, not the state). */
const attached: Record<string, string | null> = {};

function diskInfo(name: string) {
  const at = "2026-12-01T00:00:00.000Z";
  return {
    id: "33333333-2222-4333-8444-555555555555", name, spec: { name, format: "qcow2", source: { kind: "blank" }, sizeGiB: 1 }, owner: null, format: "qcow2",
    path: `/x/${name}.qcow2`, virtualSizeBytes: 1 << 30, actualSizeBytes: 1 << 20, backingFile: null, attachedTo: attached[name] ?? null, problem: null, migration: null, createdAt: at, updatedAt: at,
  };
}

/** A hostd that answers `host.hello` with its id (and `disk.get` from `attached`; it has no VMs), on a socket of its own. */
function fakeHost(hostId: string, file: string): Promise<HostRef> {
  const socketPath = path.join(dir, file);
  const server = createServer((sock) => {
    createInterface({ input: sock }).on("line", (line) => {
      const req = JSON.parse(line) as { id: string; method: string };
      hellos++;
      const result = {
        hostId,
        protocolVersion: PROTOCOL_VERSION,
        hostdVersion: "test",
        hostname: file,
        capabilities: [],
        accelerator: { kind: "tcg", reason: "test" },
        qemuVersion: "7.2",
      };
      const params = (JSON.parse(line) as { params?: { name?: string } }).params;
      const reply =
        req.method === "host.hello" ? { id: req.id, result }
        : req.method === "disk.get" && params?.name && params.name in attached ? { id: req.id, result: diskInfo(params.name) }
        : req.method === "disk.get" ? { id: req.id, error: { code: "not_found", message: `Disk "${params?.name}" does not exist on this host.` } }
        : req.method === "vm.get" ? { id: req.id, error: { code: "not_found", message: `VM "${params?.name}" does not exist on this host.` } }
        : { id: req.id, error: { code: "unknown_method", message: req.method } };
      sock.end(JSON.stringify(reply) + "\n");
    });
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(socketPath, () => resolve({ name: file, connection: { transport: "local", socketPath } })));
}

let a: HostRef;
let b: HostRef;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "pkvm-hosts-"));
  a = await fakeHost(ID_A, "a");
  b = await fakeHost(ID_B, "b");
});
afterAll(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => jest.clearAllMocks());
afterEach(() => {
  mocked.planMigration.mockImplementation(actual.planMigration);
  mocked.planDiskMove.mockImplementation(actual.planDiskMove);
  mocked.migrateVm.mockImplementation(actual.migrateVm);
});

const kernel = { path: "/k/vmlinuz" };
const placed = (ref: HostRef, hostId: string) => ({ hostId, host: `unix:${ref.connection.socketPath}`, route: ref.connection, hostRef: ref, hostName: ref.name });

/** What the provider prints (the CLI shows it with the preview), kept after `restore`. */
function logged(): { text: () => string; restore: () => void } {
  const lines: string[] = [];
  const spy = jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.join(" ")));
  return { text: () => lines.join("\n"), restore: () => spy.mockRestore() };
}

describe("a VM uses only its own host's disks and networks (check, at preview)", () => {
  test("a Disk on another host is refused naming both hosts by name and id", async () => {
    const r = await vmCheck({}, { name: "web", kernel, host: a, disks: [{ disk: "data" }], uses: [{ kind: "Disk", name: "data", host: b }] });
    expect(r.failures).toHaveLength(1);
    expect(r.failures![0]).toMatchObject({ property: "disks" });
    expect(r.failures![0]!.reason).toBe(
      `[wrong_host] Vm "web" is on host "a" (id ${ID_A}), but the Disk "data" it uses is on host "b" (id ${ID_B}): a VM can only use disks of its own host. Give both the same \`host\` (to move a VM, move its disks with it).`,
    );
  });

  test("a Network on another host is refused too; the Host's id, unknown on a first preview, is not needed", async () => {
    const unknownId = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    const r = await vmCheck({}, { name: "web", kernel, host: { ...a, hostId: unknownId }, uses: [{ kind: "Network", name: "lan", host: { ...b, hostId: unknownId } }] });
    expect(r.failures!.map((f) => f.property)).toEqual(["networkInterfaces"]);
    expect(r.failures![0]!.reason).toContain(`Network "lan" it uses is on host "b" (id ${ID_B})`);
  });

  test("two routes to one host are one host: no failure", async () => {
    const alias: HostRef = { name: "a-again", connection: { ...a.connection } };
    const r = await vmCheck({}, { name: "web", kernel, host: a, uses: [{ kind: "Disk", name: "data", host: { ...alias, connection: { transport: "local", socketPath: a.connection.socketPath!.replace(/\/a$/, "/./a") } } }] });
    expect(r.failures).toEqual([]);
  });

  test("the same route is not even asked; a use whose host is not known yet is left to apply time", async () => {
    const before = hellos;
    const r = await vmCheck({}, { name: "web", kernel, host: a, uses: [{ kind: "Disk", name: "data", host: a }, { kind: "Disk", name: "new", host: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" }, { kind: "Disk", name: "other", host: b, connection: { port: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" } }] });
    expect(r.failures).toEqual([]);
    expect(hellos).toBe(before);
  });
});

describe("a Host", () => {
  test("check refuses a bad connection and an unknown input by name", async () => {
    const r = await hostCheck({}, { name: "a", connection: { host: "a b" }, region: "x" });
    expect(r.failures!.map((f) => f.property).sort()).toEqual(["connection.host", "region"]);
  });

  test("create reads the host's id and facts; another route to it is an in-place change keeping the id; a route to another host is not", async () => {
    const made = await hostCreate(a);
    expect(made.id).toBe(ID_A);
    expect(made.outs).toMatchObject({ name: "a", hostId: ID_A, accelerator: "tcg", hostname: "a", qemuVersion: "7.2", cpus: null, target: `unix:${a.connection.socketPath}` });
    const log = logged();
    const alias = { transport: "local" as const, socketPath: a.connection.socketPath!.replace(/\/a$/, "/./a") };
    const sameHost = await hostDiff(ID_A, made.outs!, { name: "a", connection: alias });
    const otherHost = await hostDiff(ID_A, made.outs!, { name: "a", connection: b.connection });
    log.restore();
    expect(sameHost).toMatchObject({ changes: true, replaces: [], stables: ["hostId"] });
    expect(otherHost).toMatchObject({ changes: true, replaces: [], stables: [] });
    expect(log.text()).toContain(`reaches ANOTHER host (id ${ID_B}, was ${ID_A})`);
  });
});

describe("changing a VM's host (diff, at preview)", () => {
  const olds = (): VmOutputs => ({
    name: "web",
    namePrefix: "web",
    cpuModel: "host",
    vcpus: 1,
    memoryMiB: 128,
    running: true,
    kernel,
    firmware: "bios",
    disks: [{ disk: "d1", bus: "virtio" }, { disk: "d2", bus: "virtio" }] as VmOutputs["disks"],
    networkInterfaces: [],
    guestAgent: true,
    restartPolicy: "never",
    waitFor: "running",
    timeoutSeconds: 300,
    stopTimeoutSeconds: 60,
    vmId: "11111111-2222-4333-8444-555555555555",
    ...placed(a, ID_A),
    state: "running",
    accelerator: "tcg",
    pid: 1,
    qemuStatus: "running",
    lastExit: null,
    macAddresses: [],
    nics: [],
    ipAddress: null,
    ipAddresses: [],
    guestHostname: null,
    guestOs: null,
  });
  const news = (host: HostRef): VmInputs => {
    const { vmId: _v, hostId: _h, host: _d, route: _r, hostRef: _hr, hostName: _hn, state: _s, accelerator: _a, pid: _p, qemuStatus: _q, lastExit: _l, macAddresses: _m, nics: _n, ipAddress: _i, ipAddresses: _is, guestHostname: _g, guestOs: _o, ...i } = olds();
    return { ...i, host };
  };
  const plan = (mode: "live" | "offline"): migrate.MigrationPlan => ({
    vmId: "11111111-2222-4333-8444-555555555555",
    fromHostId: ID_A,
    toHostId: ID_B,
    mode,
    disks: [
      { name: "d1", bytes: 1_048_576, backing: "none" },
      { name: "d2", bytes: 65_536, backing: "base-on-destination" },
    ],
    memoryBytes: 134_217_728,
    totalBytes: 1_048_576 + 65_536 + (mode === "live" ? 134_217_728 : 0),
  });

  test("the same host: no change, and nothing is asked of the planner", async () => {
    expect(await vmDiff("id", olds(), news(a))).toMatchObject({ changes: false, replaces: [] });
    expect(mocked.planMigration).not.toHaveBeenCalled();
  });

  test("a running VM: an update in place (not a replace) that says it live-migrates, which disks it copies and how many bytes", async () => {
    mocked.planMigration.mockResolvedValue(plan("live"));
    const log = logged();
    const d = await vmDiff("id", olds(), news(b));
    log.restore();
    expect(d).toMatchObject({ changes: true, replaces: [], stables: ["vmId"] });
    expect(log.text()).toContain(`kvm: Vm "web": live-migrates to host "b" (id ${ID_B}) (copies disks d1, d2: 1114112 bytes, 1.1 MiB; and 134217728 bytes, 128.0 MiB of memory at least): an update in place`);
    // The planner was asked about this VM, from its host to the new one.
    const [src, dst, vm] = mocked.planMigration.mock.calls[0]!;
    expect(vm).toBe("web");
    expect([(await src.helloOnce()).hostId, (await dst.helloOnce()).hostId]).toEqual([ID_A, ID_B]);
  });

  test("a stopped VM moves offline", async () => {
    mocked.planMigration.mockResolvedValue(plan("offline"));
    const log = logged();
    const d = await vmDiff("id", { ...olds(), running: false, state: "stopped" }, { ...news(b), running: false });
    log.restore();
    expect(d).toMatchObject({ changes: true, replaces: [] });
    expect(log.text()).toContain(`kvm: Vm "web": moves offline to host "b" (id ${ID_B}) (copies disks d1, d2: 1114112 bytes, 1.1 MiB)`);
  });

  test("a move the planner refuses fails the preview naming both hosts (here: a hostd without the migration methods)", async () => {
    await expect(vmDiff("id", olds(), news(b))).rejects.toThrow(
      new RegExp(`^VM "web" cannot move from host ${ID_A} to host "b" \\(id ${ID_B}\\): Moving VM "web": hostd on the source host ${ID_A} \\(version test\\) does not serve moves between hosts; upgrade it\\.$`),
    );
  });

  test("another Host that reaches the same machine only records the new host: no move", async () => {
    const alias: HostRef = { name: "a2", connection: { transport: "local", socketPath: a.connection.socketPath!.replace(/\/a$/, "/./a") } };
    const log = logged();
    const d = await vmDiff("id", olds(), news(alias));
    log.restore();
    expect(d).toMatchObject({ changes: true, replaces: [] });
    expect(mocked.planMigration).not.toHaveBeenCalled();
    expect(log.text()).toContain(`reaches the same host (id ${ID_A})`);
  });
});

describe("changing a Disk's or a Network's host (diff)", () => {
  const disk = (attachedTo: string | null): DiskOutputs => ({
    name: "d1",
    format: "qcow2",
    sizeGiB: 1,
    source: { kind: "blank" },
    timeoutSeconds: 600,
    diskId: "33333333-2222-4333-8444-555555555555",
    path: "/x/d1.qcow2",
    virtualSizeBytes: 1 << 30,
    actualSizeBytes: 1 << 20,
    backingFile: null,
    attachedTo,
    ...placed(a, ID_A),
  } as DiskOutputs);
  const diskNews = (host: HostRef): DiskInputs => ({ name: "d1", format: "qcow2", sizeGiB: 1, source: { kind: "blank" }, timeoutSeconds: 600, host } as DiskInputs);

  test("a disk in use moves with its VM: in place, no copy of its own (who uses it is asked of the host, not the state)", async () => {
    attached.d1 = "web";
    const log = logged();
    // The state's attachedTo is null: the Disk's create ran before its VM's.
    const d = await diskDiff("id", disk(null), diskNews(b));
    log.restore();
    expect(d).toMatchObject({ changes: true, replaces: [], stables: ["diskId"] });
    expect(log.text()).toContain(`kvm: Disk "d1": moves to host "b" (id ${ID_B}) with VM "web", which uses it`);
    expect(mocked.planDiskMove).not.toHaveBeenCalled();
  });

  test("a disk an earlier up already moved (gone from the old host) is only recorded: no copy planned, no failure", async () => {
    delete attached.d1;
    const log = logged();
    const d = await diskDiff("id", disk("web"), diskNews(b));
    log.restore();
    expect(d).toMatchObject({ changes: true, replaces: [] });
    expect(log.text()).toContain(`kvm: Disk "d1": is no longer on host ${ID_A} (moved by an earlier up?)`);
    expect(mocked.planDiskMove).not.toHaveBeenCalled();
  });

  test("a detached disk is copied, then removed from the old host: the preview says how many bytes", async () => {
    mocked.planDiskMove.mockResolvedValue({ diskId: "33333333-2222-4333-8444-555555555555", fromHostId: ID_A, toHostId: ID_B, bytes: 1_048_576 });
    attached.d1 = null;
    const log = logged();
    const d = await diskDiff("id", disk(null), diskNews(b));
    log.restore();
    expect(d).toMatchObject({ changes: true, replaces: [] });
    expect(log.text()).toContain(`kvm: Disk "d1": is copied to host "b" (id ${ID_B}) (1048576 bytes, 1.0 MiB), then removed from host ${ID_A}`);
  });

  test("a network on another host is another network: replaced, made there first", async () => {
    const olds = { name: "lan", mode: "nat", ipv4: { cidr: "10.9.0.0/24" }, networkId: "n", bridgeName: "kvbr-x", gateway: null, dhcpStart: null, dhcpEnd: null, state: "active", problems: [], vms: [], ...placed(a, ID_A) } as unknown as NetworkOutputs;
    const log = logged();
    const d = await networkDiff("id", olds, { name: "lan", mode: "nat", ipv4: { cidr: "10.9.0.0/24" }, host: b } as NetworkInputs);
    log.restore();
    expect(d).toMatchObject({ changes: true, replaces: ["host"], deleteBeforeReplace: false });
    expect(log.text()).toContain(`on host "b" (id ${ID_B}) it is another network: this REPLACES it`);
  });
});

describe("moving a VM that several resources ask to move", () => {
  test("concurrent asks (its disks, updated in parallel, and the VM) make one move", async () => {
    let release!: () => void;
    mocked.migrateVm.mockImplementation(() => new Promise((r) => (release = () => r({ vmId: "v" } as migrate.MigrationResult))));
    const client = new HostClient(new LocalTransport(a.connection.socketPath!));
    const first = moveVmOnce(client, client, ID_A, { vm: "web", owner: "o" });
    const second = moveVmOnce(client, client, ID_A, { vm: "web", owner: "o" });
    expect(mocked.migrateVm).toHaveBeenCalledTimes(1);
    release();
    expect(await first).toBe(await second);
    // Once done, a later ask (a retry) moves afresh.
    mocked.migrateVm.mockResolvedValue({ vmId: "again" } as migrate.MigrationResult);
    expect((await moveVmOnce(client, client, ID_A, { vm: "web", owner: "o" })).vmId).toBe("again");
  });
});
