/**
 * A hostile member of hostd's group against a real hostd, over its socket:
 * 1,000 idle connections, 200 frames of 1 MiB that never end, 5,000
 * connections at once. The flood runs as a throwaway user of its own (a
 * child process, test/fixtures/flood-peer.ts), so hostd's per-peer limit
 * applies to it; the test itself calls hostd as root all the while and must
 * keep getting answers. hostd closes every offending connection, and its
 * RSS comes back to within 20 MiB of where it started. hostd runs with short
 * limits (1 s per frame, 3 s idle, 1,000 connections per peer) so the test
 * is quick; the defaults are those of hostd/server.ts.
 *
 * Connections that must outlive the idle timer: one with a call in flight
 * (disk.list held back 6 s by HOSTD_FAULT_REPLY_DELAY) and a VM's console.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { MAX_FRAME_BYTES, hostHello } from "../sdk/protocol";
import type { FloodReport } from "./fixtures/flood-peer";
import { announceAccelerator, NODE, REPO, tinyGuest, waitFor } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";

jest.setTimeout(300_000);

const FRAME_TIMEOUT_S = 1;
const IDLE_TIMEOUT_S = 3;
const PER_PEER = 1000;
/** The compiled child (the build runs before integration tests); it needs nothing but Node. */
const FLOOD_PEER = path.join(REPO, "dist", "test", "fixtures", "flood-peer.js");
const MiB = 1024 * 1024;
/** A user and a group that exist only for this file. */
const NAME = `pkvmflood${process.pid % 100_000}`;

let hd: HostdFixture;
let uid = -1;
let gid = -1;
let rssStart = 0;
let fdsStart = 0;

beforeAll(async () => {
  announceAccelerator();
  raiseNofile();
  execFileSync("groupadd", [NAME]);
  execFileSync("useradd", ["-M", "-N", "-g", NAME, "-s", "/usr/sbin/nologin", NAME]);
  uid = Number(execFileSync("id", ["-u", NAME], { encoding: "utf8" }).trim());
  gid = Number(execFileSync("id", ["-g", NAME], { encoding: "utf8" }).trim());
  hd = await HostdFixture.start({
    socketGroup: gid,
    env: { HOSTD_FAULT_REPLY_DELAY: `disk.list=${2 * IDLE_TIMEOUT_S * 1000}` },
    args: ["--frame-timeout", String(FRAME_TIMEOUT_S), "--idle-timeout", String(IDLE_TIMEOUT_S), "--max-connections-per-peer", String(PER_PEER)],
  });
  // Where hostd stands once it serves and has answered a few calls.
  const c = hd.client();
  for (let i = 0; i < 20; i++) await c.vm.list();
  rssStart = rssKiB(hd.pid!);
  fdsStart = fds(hd.pid!);
});

afterAll(async () => {
  if (process.env.PKVM_DEBUG) console.log(hd?.log);
  try {
    await hd?.cleanup();
  } finally {
    // Whatever failed above, the throwaway user and group go.
    spawnQuiet("userdel", [NAME]);
    spawnQuiet("groupdel", [NAME]);
  }
});

/** Descriptors the flooding child and hostd each need: 5,000 connections and some to spare. */
const NOFILE_NEEDED = 6000;

/**
 * 5,000 connections are 5,000 descriptors in the flooding child and as many in hostd, more than a
 * default soft limit of 1,024 (or a hard one of 4,096) allows. The limit is raised on this process,
 * before anything is spawned: hostd and the child inherit it (the child keeps it across its setuid).
 * Up to 65,536 where root may raise the hard limit (CAP_SYS_RESOURCE), else the soft one to the hard.
 */
function raiseNofile(): void {
  const pid = String(process.pid);
  try {
    execFileSync("prlimit", ["--pid", pid, "--nofile=65536:65536"], { stdio: "pipe" });
  } catch {
    const hard = execFileSync("prlimit", ["--pid", pid, "--nofile", "--output=HARD", "--noheadings"], { encoding: "utf8" }).trim();
    execFileSync("prlimit", ["--pid", pid, `--nofile=${hard}:${hard}`]);
  }
  const soft = execFileSync("prlimit", ["--pid", pid, "--nofile", "--output=SOFT", "--noheadings"], { encoding: "utf8" }).trim();
  if (soft !== "unlimited" && Number(soft) < NOFILE_NEEDED) {
    throw new Error(`RLIMIT_NOFILE is ${soft} and cannot be raised here; the flood needs ${NOFILE_NEEDED} descriptors: raise the hard limit (ulimit -Hn, LimitNOFILE=) and run again`);
  }
}

function spawnQuiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
  } catch {
    /* never created */
  }
}

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
}

function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * Runs the flood as the throwaway user while the test calls hostd as root
 * (host.hello, vm.list) in a loop; resolves once hostd has closed every one
 * of the flood's connections (the child exits only then).
 */
async function flood(mode: "idle" | "frames", count: number): Promise<{ report: FloodReport; calls: number; callFailures: string[]; peakRssKiB: number }> {
  const child: ChildProcess = spawn(NODE, [FLOOD_PEER, hd.socketPath, mode, String(count), String(MAX_FRAME_BYTES)], {
    uid,
    gid,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  let running = true;
  void exited.then(() => (running = false));
  const c = hd.client();
  let calls = 0;
  let peakRssKiB = 0;
  const callFailures: string[] = [];
  try {
    while (running) {
      peakRssKiB = Math.max(peakRssKiB, rssKiB(hd.pid!));
      try {
        await c.call(hostHello, { client: "flood-checker" }, { timeoutMs: 30_000 });
        await c.vm.list({ timeoutMs: 30_000 });
        calls++;
      } catch (e) {
        callFailures.push(String(e));
      }
    }
    const code = await exited;
    if (code !== 0) throw new Error(`flood-peer exited ${code}: ${err}`);
    const report = JSON.parse(out.trim().split("\n").pop()!) as FloodReport;
    console.log(`[flood] ${mode} x${count}: ${JSON.stringify(report.replies)}; ${calls} checker rounds meanwhile; hostd RSS ${Math.round(rssStart / 1024)} MiB at the start, peak ${Math.round(peakRssKiB / 1024)} MiB`);
    return { report, calls, callFailures, peakRssKiB };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

/** hostd let go of the offenders: its descriptors and its RSS are back where they started. */
async function backToStart(): Promise<void> {
  // A few more than at the start may be hostd's own (its database, a call of the checker's): the offenders were thousands.
  await waitFor("hostd to hold no more descriptors than at the start, give or take a few", () => fds(hd.pid!) <= fdsStart + 10, 30_000);
  const rss = await waitFor(
    `hostd's RSS to return within 20 MiB of its start (${Math.round(rssStart / 1024)} MiB)`,
    () => {
      const now = rssKiB(hd.pid!);
      return now <= rssStart + 20 * 1024 ? now : undefined;
    },
    30_000,
  );
  console.log(`[flood] hostd RSS back at ${Math.round(rss / 1024)} MiB`);
}

test("1,000 idle connections are closed by the idle timer; hostd answers others throughout", async () => {
  const r = await flood("idle", 1000);
  expect(r.report.connectFailed).toEqual({});
  expect(r.report.opened).toBe(1000);
  // Closed without a word: an idle connection has no request to answer.
  expect(r.report.replies).toEqual({ nothing: 1000 });
  expect(r.callFailures).toEqual([]);
  expect(r.calls).toBeGreaterThan(0);
  await backToStart();
});

test("200 frames of 1 MiB that never end are refused after the frame timeout and closed; the memory goes back", async () => {
  const r = await flood("frames", 200);
  expect(r.report.connectFailed).toEqual({});
  expect(r.report.replies).toEqual({ invalid_request: 200 });
  expect(r.report.messages.invalid_request).toBe(
    `The frame did not end within ${FRAME_TIMEOUT_S} s of its first byte (no newline came), so hostd dropped it and closes this connection. Send each request as one line that ends in a newline.`,
  );
  expect(r.callFailures).toEqual([]);
  expect(r.calls).toBeGreaterThan(0);
  // The flood did load hostd (so the return below means something): most of the 200 MiB was held at once.
  expect(r.peakRssKiB - rssStart).toBeGreaterThan(100 * 1024);
  await backToStart();
  expect(hd.log).toContain('"msg":"returned memory to the kernel after connections closed"');
});

test("5,000 connections from one user: those over its limit are refused with too_many_connections, logged once, and root is not limited", async () => {
  const logFrom = hd.log.length;
  const r = await flood("idle", 5000);
  expect(r.report.connectFailed).toEqual({});
  expect(r.report.opened).toBe(5000);
  const refused = r.report.replies.too_many_connections ?? 0;
  // Each connection was either admitted (then closed idle, without a word) or refused with the reason.
  expect(Object.keys(r.report.replies).sort()).toEqual(["nothing", "too_many_connections"]);
  expect(refused + r.report.replies.nothing!).toBe(5000);
  expect(refused).toBeGreaterThan(0);
  expect(r.report.messages.too_many_connections).toBe(
    `hostd refuses this connection: uid ${uid} already has ${PER_PEER} connections open, the most one user may have (hostd serve --max-connections-per-peer). Nothing was done; retry once some of them have closed.`,
  );
  // Root (the checker) kept getting answers while the user was at its limit.
  expect(r.callFailures).toEqual([]);
  expect(r.calls).toBeGreaterThan(0);
  // One warning names the uid, however many were refused (the next would come a minute later, with the count).
  const warnings = hd.log
    .slice(logFrom)
    .split("\n")
    .filter((l) => l.includes('"level":"warn"') && l.includes(`"uid":${uid}`));
  console.log(`[flood] ${refused} refusals, ${warnings.length} warning line(s): ${warnings[0]}`);
  expect(warnings.length).toBeGreaterThanOrEqual(1);
  expect(warnings[0]).toContain(`"msg":"refused a connection of uid ${uid}: it has ${PER_PEER} open, its limit"`);
  expect(warnings.length).toBeLessThanOrEqual(Math.max(2, refused / 100));
  await backToStart();
});

/** A raw connection to hostd that records when hostd closes it. */
function rawConnection(): Promise<{ sock: net.Socket; closed: Promise<void>; data: () => string }> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(hd.socketPath);
    let text = "";
    sock.on("data", (d: Buffer) => (text += d.toString("utf8")));
    const closed = new Promise<void>((r) => sock.once("close", () => r()));
    sock.once("error", reject);
    sock.once("connect", () => resolve({ sock, closed, data: () => text }));
  });
}

test("a connection with a call in flight outlives the idle timer", async () => {
  const sibling = await rawConnection();
  const order: string[] = [];
  void sibling.closed.then(() => order.push("idle sibling closed"));
  // disk.list is held back twice the idle timeout (HOSTD_FAULT_REPLY_DELAY).
  const r = await hd.client().disk.list();
  order.push("disk.list answered");
  expect(r.disks).toEqual([]);
  await sibling.closed;
  expect(order).toEqual(["idle sibling closed", "disk.list answered"]);
});

test("a VM's console stays attached past the idle timer", async () => {
  const g = tinyGuest();
  const c = hd.client();
  const vm = await c.vm.create({ name: "console", memoryMiB: 128, kernel: { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline } });
  await waitFor("READY on the serial console", () => /READY/.test(hd.serialLog(vm.id)), 120_000);
  const con = await rawConnection();
  let consoleClosed = false;
  void con.closed.then(() => (consoleClosed = true));
  con.sock.write(JSON.stringify({ id: "con", method: "vm.console", params: { name: "console" } }) + "\n");
  await waitFor("the console to attach", () => con.data().includes('"attached":true'), 10_000, 50);
  // A connection opened now, and left idle, is closed by the idle timer: time enough has passed for the console's too.
  const sibling = await rawConnection();
  await sibling.closed;
  expect(consoleClosed).toBe(false);
  con.sock.write("echo CONSOLE-$((6*7))\n");
  await waitFor("the guest's answer on the console", () => con.data().includes("CONSOLE-42"), 20_000, 50);
  con.sock.destroy();
  await c.vm.delete({ name: "console" });
});
