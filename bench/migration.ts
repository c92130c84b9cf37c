/**
 * Live migration: the tiny guest (256 MiB, 1 vCPU) with a 1 GiB local disk,
 * moved back and forth between two hostds on this machine, idle and busy (a
 * loop in the guest rewriting 4 MiB of its RAM and 1 MiB of its disk, over
 * and over), two ways in each round, alternating which goes first:
 *
 *   hostd  migrateVm (sdk/migrate.ts) between two hostds with their own
 *          state and host ids: check, describe, the destination's QEMU,
 *          every stream relayed through this process, finish, release
 *   floor  the same QMP sequence (hostd/services/vm-migration.ts's
 *          prepareIncoming, send and finishIncoming) driven directly between
 *          two bare QEMUs started with the argv hostd used (read back from
 *          /proc/<pid>/cmdline; only its paths point at scratch folders),
 *          their unix sockets joined directly: no hostd, no relay
 *
 * Both sides use the same bandwidth and downtime limits (hostd's defaults).
 * Measured per move:
 *   total     wall time: migrateVm's; the floor's from starting the
 *             destination QEMU to the guest running there
 *   downtime  QEMU's own (query-migrate after the switchover)
 *   pause     what the guest shows: the longest gap between lines of a
 *             heartbeat it prints on its serial console every 5 ms, as they
 *             reach the two hosts' serial logs (polled every 2 ms)
 *   bytes     QEMU's count of the RAM stream; for hostd also every byte
 *             relayed through the client (RAM and the mirrors' writes)
 *
 * Targets (issue 14): downtime ≤ 300 ms; total ≤ 1.2× the floor.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { migrateVm } from "../sdk/migrate";
import { MIGRATION_LIMITS } from "../sdk/protocol";
import { SerialConsole } from "../test/fixtures/console";
import { HostdFixture } from "../test/fixtures/hostd";
import { MirrorDisk, finishIncoming, prepareIncoming, send } from "../hostd/services/vm-migration";
import { Monitor } from "../hostd/services/vm-monitor";
import { alternate, BenchContext, Benchmark, whenFileMatches } from "./lib/context";
import { READY, serialLogPath, startHostd, tinyKernel, whenReady } from "./lib/hosts";
import { fmt, medRange, ratio, summarize } from "./lib/stats";

const MEMORY_MIB = 256;
const DISK_GIB = 1;
const HEARTBEAT = "(while :; do echo hb; usleep 5000; done) >/dev/ttyS0 2>&1 & true";
const WRITER =
  "(i=0; while :; do dd if=/dev/urandom of=/tmp/m bs=1M count=4 2>/dev/null; " +
  "dd if=/dev/urandom of=/dev/vda bs=64k count=16 seek=$((i % 1024 * 16)) conv=fsync 2>/dev/null; i=$((i+1)); done) >/dev/null 2>&1 & true";

interface Move {
  totalMs: number;
  /** Where the time went: before the first mirror; the disks' mirrors to READY; the RAM copy; from the switchover to the end. */
  phases: { setupMs: number; mirrorMs: number; ramMs: number; finishMs: number };
  downtimeMs: number;
  pauseMs: number;
  /** QEMU's count of the RAM stream. */
  ramBytes: number;
  /** Every byte through the client's relay (hostd only: the floor has none). */
  relayedBytes: number;
}

type Phase = "mirroring" | "ram" | "switched-over";

/** The phases' wall-clock times (ms since the epoch), from `start` to `end`, as durations. */
function phasesOf(start: number, at: Partial<Record<Phase, number>>, end: number): Move["phases"] {
  const m = at.mirroring ?? NaN;
  const r = at.ram ?? NaN;
  const x = at["switched-over"] ?? NaN;
  return { setupMs: m - start, mirrorMs: r - m, ramMs: x - r, finishMs: end - x };
}

/**
 * The guest's heartbeat as the hosts see it: every 2 ms, the sizes of the
 * serial logs `files()` names; the longest time between two growths is the
 * longest the guest was seen to stand still.
 */
class Heartbeat {
  private last = new Map<string, number>();
  private lastGrowth = 0;
  private longest = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly files: () => string[]) {}

  start(): void {
    this.longest = 0;
    this.poll();
    this.lastGrowth = performance.now();
    this.timer = setInterval(() => this.poll(), 2);
  }

  /** Stops polling and returns the longest gap (ms) since start. */
  stop(): number {
    clearInterval(this.timer);
    this.poll();
    return this.longest;
  }

  private poll(): void {
    const now = performance.now();
    for (const f of this.files()) {
      let size: number;
      try {
        size = statSync(f).size;
      } catch {
        this.last.delete(f);
        continue;
      }
      const before = this.last.get(f);
      this.last.set(f, size);
      // A log seen for the first time with bytes in it is the destination starting to print.
      if ((before === undefined && size > 0) || (before !== undefined && size > before)) {
        if (this.lastGrowth > 0) this.longest = Math.max(this.longest, now - this.lastGrowth);
        this.lastGrowth = now;
      }
    }
  }
}

/** A bare QEMU on the floor side: the argv hostd used, with its paths in `dir`. */
class BareQemu {
  private constructor(
    readonly dir: string,
    readonly proc: ChildProcess,
    readonly mon: Monitor,
  ) {}

  static async start(argv: string[], from: { vmDir: string; disk: string }, dir: string, incoming: boolean): Promise<BareQemu> {
    const disk = path.join(dir, "data.qcow2");
    const args = argv.slice(1).map((a) => a.split(from.vmDir).join(dir).split(from.disk).join(disk));
    const proc = spawn(argv[0]!, incoming ? [...args, "-incoming", "defer", "-S"] : args, { stdio: "ignore" });
    const exited = () => proc.exitCode !== null || proc.signalCode !== null;
    const mon = await Monitor.connect(path.join(dir, "qmp.sock"), { attempts: 100, stillThere: () => !exited(), onClose: () => undefined });
    return new BareQemu(dir, proc, mon);
  }

  async kill(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const gone = new Promise((r) => this.proc.once("exit", r));
      this.proc.kill("SIGKILL");
      await gone;
    }
  }
}

/** An empty folder for one floor QEMU, shaped as hostd's state (`<root>/vms/<id>`) so the serial console fixture finds it. */
function floorDir(root: string, vmId: string, sizeGiB: number): string {
  const dir = path.join(root, "vms", vmId);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", path.join(dir, "data.qcow2"), `${sizeGiB}G`]);
  return dir;
}

/** The blockdev node of the disk at `file` in a QEMU argv. */
function diskNode(argv: string[], file: string): string {
  for (let i = 0; i < argv.length - 1; i++) {
    if (argv[i] !== "-blockdev") continue;
    const b = JSON.parse(argv[i + 1]!) as { "node-name": string; file?: { filename?: string } };
    if (b.file?.filename === file) return b["node-name"];
  }
  throw new Error(`no -blockdev for ${file} in hostd's argv`);
}

/**
 * The most a chain of `hops` relaying Node processes carries over unix sockets on this machine,
 * with no QEMU running: the ceiling of the hostd path's three hops (source hostd, client,
 * destination hostd) against the floor's none. MB/s of 100 MB written in 32 KiB chunks.
 */
async function relayCeiling(hops: number): Promise<number> {
  const dir = mkdtempSync("/tmp/pkvm-relay-");
  const relays: ChildProcess[] = [];
  const total = 100e6;
  try {
    const sink = path.join(dir, "sink.sock");
    let got = 0;
    let t0 = 0;
    const done = new Promise<number>((resolve) => {
      const srv = net.createServer((s) =>
        s.on("data", (d: Buffer) => {
          got += d.length;
          if (got >= total) {
            resolve(total / 1e6 / ((performance.now() - t0) / 1000));
            s.destroy();
            srv.close();
          }
        }),
      );
      srv.listen(sink);
    });
    let to = sink;
    for (let i = 0; i < hops; i++) {
      const from = path.join(dir, `relay-${i}.sock`);
      const code = `const net=require("net");net.createServer(s=>{const c=net.createConnection(${JSON.stringify(to)});s.pipe(c);c.pipe(s);c.on("error",()=>s.destroy());s.on("error",()=>c.destroy())}).listen(${JSON.stringify(from)},()=>console.log("up"))`;
      const p = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
      relays.push(p);
      await new Promise((r) => p.stdout!.once("data", r));
      to = from;
    }
    const c = net.createConnection(to);
    await new Promise((r) => c.once("connect", r));
    t0 = performance.now();
    const buf = Buffer.alloc(32 * 1024, 1);
    const write = () => {
      while (got < total && c.write(buf));
      if (got < total) c.once("drain", write);
    };
    write();
    const mbps = await done;
    c.destroy();
    return mbps;
  } finally {
    for (const p of relays) p.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

async function startGuestLoad(con: SerialConsole, busy: boolean): Promise<void> {
  if (busy) await con.ok(WRITER);
  await con.ok(HEARTBEAT);
}

export const migration: Benchmark = {
  name: "migration",
  title: "Live migration: hostd vs the bare QMP sequence (the floor)",
  async run(ctx: BenchContext): Promise<void> {
    const rounds = ctx.quick ? 2 : 5;
    const kernel = tinyKernel();
    const hosts: [HostdFixture, HostdFixture] = [await startHostd(ctx), await startHostd(ctx)];
    const owner = "bench:migration";
    const results: Record<string, { hostd: Move[]; floor: Move[] }> = {};
    let accelerator = "unknown";

    for (const busy of [false, true]) {
      const mode = busy ? "busy" : "idle";
      const hostd: Move[] = [];
      const floor: Move[] = [];
      results[mode] = { hostd, floor };

      // hostd's VM, and (from its argv) the floor's pair of bare QEMUs.
      const name = `bench-mig-${mode}`;
      const c0 = hosts[0].client();
      await c0.disk.create({ name: `${name}-data`, sizeGiB: DISK_GIB, owner });
      const vm = await c0.vm.create({ name, vcpus: 1, memoryMiB: MEMORY_MIB, kernel, disks: [{ disk: `${name}-data` }], owner });
      accelerator = vm.accelerator ?? accelerator;
      let at = 0; // which of hosts[] runs it
      ctx.defer(async () => {
        for (const h of hosts) {
          await h.client().vm.delete({ name }).catch(() => undefined);
          await h.client().disk.delete({ name: `${name}-data` }).catch(() => undefined);
        }
      });
      const argv = readFileSync(`/proc/${vm.pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "");
      if (argv.some((a) => a.startsWith("tap,"))) throw new Error("hostd gave the benchmark's VM a tap NIC: the floor's second QEMU could not share it");
      const diskPath = (await c0.disk.get(`${name}-data`)).path;
      const from = { vmDir: path.join(hosts[0].stateDir, "vms", vm.id), disk: diskPath };
      const node = diskNode(argv, diskPath);
      await whenReady(hosts[0], vm.id, 300_000);
      let con = await SerialConsole.open(hosts[0].stateDir, vm.id);
      await startGuestLoad(con, busy);
      con.close();

      const roots = [mkdtempSync("/tmp/pkvm-floor-a-"), mkdtempSync("/tmp/pkvm-floor-b-")];
      ctx.defer(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
      let bare = await BareQemu.start(argv, from, floorDir(roots[0]!, vm.id, DISK_GIB), false);
      let bareAt = 0;
      const live = new Set<BareQemu>([bare]);
      ctx.defer(async () => {
        for (const q of live) await q.kill();
      });
      await whenFileMatches(path.join(bare.dir, "serial.log"), READY, 300_000);
      con = await SerialConsole.open(roots[0]!, vm.id);
      await startGuestLoad(con, busy);
      con.close();

      const moveHostd = async () => {
        const [src, dst] = [hosts[at]!, hosts[1 - at]!];
        const beat = new Heartbeat(() => hosts.map((h) => serialLogPath(h, vm.id)));
        beat.start();
        const start = Date.now();
        const t0 = performance.now();
        const r = await migrateVm(src.client(), dst.client(), { vm: name, owner });
        const totalMs = performance.now() - t0;
        const end = Date.now();
        const pauseMs = beat.stop();
        at = 1 - at;
        if (r.mode !== "live" || r.downtimeMs === undefined) throw new Error(`hostd's move was not live: ${JSON.stringify({ mode: r.mode, downtimeMs: r.downtimeMs })}`);
        // The source records each phase as it enters it (its vm.migrating events).
        const { events } = await src.client().events({ object: name, limit: 50 });
        const phaseAt: Partial<Record<Phase, number>> = {};
        for (const e of events) {
          const t = Date.parse(e.at);
          if (e.event === "vm.migrating" && e.details.id === vm.id && e.details.role === "source" && t >= start) phaseAt[e.details.phase as Phase] = t;
        }
        hostd.push({ totalMs, phases: phasesOf(start, phaseAt, end), downtimeMs: r.downtimeMs, pauseMs, ramBytes: r.ramBytes ?? NaN, relayedBytes: r.bytesSent });
      };
      const moveFloor = async () => {
        const src = bare;
        const dstRoot = roots[1 - bareAt]!;
        const dstDir = floorDir(dstRoot, vm.id, DISK_GIB);
        const beat = new Heartbeat(() => [path.join(src.dir, "serial.log"), path.join(dstDir, "serial.log")]);
        beat.start();
        const start = Date.now();
        const phaseAt: Partial<Record<Phase, number>> = {};
        const t0 = performance.now();
        const dst = await BareQemu.start(argv, from, dstDir, true);
        live.add(dst);
        const disk: MirrorDisk = { name: "data", node, exportName: "data", sync: "full" };
        const nbdSocket = path.join(dstDir, "nbd.sock");
        const ramSocket = path.join(dstDir, "ram.sock");
        await prepareIncoming(dst.mon, { nbdSocket, ramSocket, disks: [disk] });
        const sent = await send(src.mon, {
          disks: [{ ...disk, socket: nbdSocket }],
          ramSocket,
          bandwidthMiBps: MIGRATION_LIMITS.defaultBandwidthMiBps,
          downtimeLimitMs: MIGRATION_LIMITS.defaultDowntimeLimitMs,
          deadline: Date.now() + 600_000,
          signal: new AbortController().signal,
          onPhase: (ph) => (phaseAt[ph] = Date.now()),
        });
        await finishIncoming(dst.mon, { hadDisks: true, run: true, timeoutMs: 60_000 });
        const totalMs = performance.now() - t0;
        const end = Date.now();
        const pauseMs = beat.stop();
        await src.kill();
        live.delete(src);
        bare = dst;
        bareAt = 1 - bareAt;
        floor.push({ totalMs, phases: phasesOf(start, phaseAt, end), downtimeMs: sent.downtimeMs ?? NaN, pauseMs, ramBytes: sent.ramBytes, relayedBytes: NaN });
      };
      for (let i = 0; i < rounds; i++) {
        await alternate(i, [moveHostd, moveFloor]);
        const h = hostd.at(-1)!;
        const f = floor.at(-1)!;
        ctx.log(`migration ${mode} round ${i + 1}/${rounds}: hostd ${fmt(h.totalMs)} ms (downtime ${h.downtimeMs}, pause ${fmt(h.pauseMs)}), floor ${fmt(f.totalMs)} ms (downtime ${f.downtimeMs}, pause ${fmt(f.pauseMs)})`);
      }
      await hosts[at]!.client().vm.delete({ name });
      await hosts[at]!.client().disk.delete({ name: `${name}-data` });
      for (const q of live) await q.kill();
      live.clear();
    }

    const rows: (string | number)[][] = [];
    const where: (string | number)[][] = [];
    const verdicts: string[] = [];
    const med = (side: Move[], f: (m: Move) => number) => summarize(side.map(f));
    for (const [mode, { hostd, floor }] of Object.entries(results)) {
      for (const [label, side] of [["hostd (SDK, relayed)", hostd], ["floor (bare QEMUs)", floor]] as const) {
        rows.push([
          mode,
          label,
          side.length,
          medRange(med(side, (m) => m.totalMs)),
          ratio(med(side, (m) => m.totalMs).median, med(floor, (m) => m.totalMs).median),
          medRange(med(side, (m) => m.downtimeMs)),
          medRange(med(side, (m) => m.pauseMs)),
          fmt(med(side, (m) => m.ramBytes).median / 1e6, 1),
          side === hostd ? fmt(med(side, (m) => m.relayedBytes).median / 1e6, 1) : "none (direct)",
        ]);
        where.push([
          mode,
          label,
          fmt(med(side, (m) => m.phases.setupMs).median),
          fmt(med(side, (m) => m.phases.mirrorMs).median),
          fmt(med(side, (m) => m.phases.ramMs).median),
          fmt(med(side, (m) => m.phases.finishMs).median),
        ]);
      }
      const total = med(hostd, (m) => m.totalMs).median / med(floor, (m) => m.totalMs).median;
      const down = med(hostd, (m) => m.downtimeMs).max;
      verdicts.push(
        `${mode}: total ${total.toFixed(2)}× the floor (target ≤ 1.20×: ${total <= 1.2 ? "met" : "missed"}); ` +
          `hostd's downtime at most ${fmt(down)} ms over ${hostd.length} moves (target ≤ 300 ms: ${down <= 300 ? "met" : "missed"}).`,
      );
    }
    ctx.report.table({
      title: `Live move of the tiny guest, ${MEMORY_MIB} MiB, 1 vCPU, ${DISK_GIB} GiB local disk, ${accelerator.toUpperCase()} (ms; median and range)`,
      header: ["guest", "path", "moves", "total", "ratio to floor", "QEMU downtime", "guest pause (heartbeat gap)", "RAM MB sent", "MB relayed"],
      rows,
      notes: [
        ...verdicts,
        `Busy: a loop in the guest rewrites 4 MiB of its RAM and 1 MiB of its disk (random data, fsync) over and over. Limits on both sides: ${MIGRATION_LIMITS.defaultBandwidthMiBps} MiB/s, downtime ${MIGRATION_LIMITS.defaultDowntimeLimitMs} ms.`,
        "The hostd side's total includes what the floor does not do: the destination's check, the VM's description, its rows, and every byte relayed through the client (here over local sockets, not SSH).",
        "The guest pause is the longest gap in a 5 ms serial heartbeat as seen by the hosts, polled every 2 ms; it includes the destination's `cont` and, for hostd, the client's round trip to ask for it. Read it and QEMU's downtime as two approximations: some gaps come out shorter than QEMU's figure for the same move, and QEMU sometimes reports 0 ms.",
        "RAM MB is QEMU's own count of its migration stream; MB relayed is every byte through the client (RAM and the mirror's writes; zero blocks never travel).",
        "libvirt (`virsh migrate --live --copy-storage-all`) is not measured: it refuses a move whose two ends report the same host UUID (its migration cookie's check), and two libvirt daemons on one machine, each with its own host_uuid, state, sockets and network namespace, are not built yet.",
      ],
    });
    ctx.report.table({
      title: "Where a live move's time goes (ms, medians): setup (checks, the destination's QEMU, exports) → mirrors READY → RAM copy → after the switchover",
      header: ["guest", "path", "setup", "mirrors", "RAM copy", "switchover to end"],
      rows: where,
      notes: ["hostd's phases are the times its source records them (its vm.migrating events); the floor's are taken where it calls the same functions."],
    });
    const ceiling: (string | number)[][] = [];
    for (const hops of [0, 1, 3]) {
      const runs: number[] = [];
      for (let i = 0; i < (ctx.quick ? 1 : 3); i++) runs.push(await relayCeiling(hops));
      ceiling.push([hops, hops === 0 ? "the floor's: QEMU to QEMU" : hops === 3 ? "hostd's: source hostd, client, destination hostd" : "one relay", medRange(summarize(runs))]);
    }
    ctx.report.table({
      title: "What a chain of relaying Node processes carries over unix sockets here, no QEMU running (MB/s; median and range)",
      header: ["relay processes", "like", "MB/s"],
      rows: ceiling,
      notes: ["Each relay is `socket.pipe(socket)` both ways, as hostd's stream attach and the SDK's relay are; 100 MB written in 32 KiB chunks."],
    });
  },
};
