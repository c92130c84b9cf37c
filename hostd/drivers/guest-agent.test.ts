/**
 * GuestAgent against a scripted fake agent on a unix socket (framing,
 * sentinel, stale bytes, errors, timeouts, shutdown); then, when installed,
 * against the real qemu-ga in its unix-listen mode on the host (Debian
 * package qemu-guest-agent; every command but harmless reads blocked), and
 * against a real QEMU chardev with no guest agent behind it (qemu-system-x86).
 * Those two are daemons, so they are started with spawn, not the exec helper.
 */
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { run } from "../exec";
import { GuestAgent, GuestAgentError } from "./guest-agent";

interface Request {
  execute: string;
  arguments?: Record<string, unknown>;
  id?: unknown;
}

/** What the fake does with one request: a reply object to send (id echoed), or an action. */
type Behaviour = (req: Request, conn: net.Socket) => Record<string, unknown> | "noreply" | "close";

/**
 * Speaks the agent's side of the wire like qemu-ga 7.2: a stray 0xFF gets a
 * JSON parse error, guest-sync-delimited gets 0xFF + {"return": id}, other
 * replies echo the request's id.
 */
class FakeAgent {
  readonly server: net.Server;
  connections = 0;
  open = 0;
  requests: Request[] = [];
  raw: Buffer[] = [];
  /** Written to each new connection before anything else: stale channel contents. */
  stale: Buffer = Buffer.alloc(0);
  /** If false, sync requests get no answer (agent not running). */
  answerSync = true;
  /** How to write the sync reply (to test fragmentation). */
  writeSync: (conn: net.Socket, bytes: Buffer) => void = (c, b) => c.write(b);
  behaviour: Behaviour = () => ({ return: {} });

  constructor(readonly path: string) {
    this.server = net.createServer((conn) => this.onConn(conn));
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.path, resolve));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private onConn(conn: net.Socket): void {
    this.connections++;
    this.open++;
    conn.on("close", () => this.open--);
    conn.on("error", () => undefined);
    if (this.stale.length) conn.write(this.stale);
    let pending = Buffer.alloc(0);
    conn.on("data", (d: Buffer) => {
      this.raw.push(d);
      pending = Buffer.concat([pending, d]);
      for (;;) {
        if (pending[0] === 0xff) {
          pending = pending.subarray(1);
          conn.write(`{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\uFFFD'"}}\n`);
          continue;
        }
        const nl = pending.indexOf(0x0a);
        if (nl < 0) return;
        const req = JSON.parse(pending.subarray(0, nl).toString()) as Request;
        pending = pending.subarray(nl + 1);
        this.requests.push(req);
        if (req.execute === "guest-sync-delimited") {
          if (this.answerSync) this.writeSync(conn, Buffer.concat([Buffer.of(0xff), Buffer.from(`{"return": ${String(req.arguments?.id)}}\n`)]));
          continue;
        }
        const r = this.behaviour(req, conn);
        if (r === "close") conn.destroy();
        else if (r !== "noreply") conn.write(JSON.stringify(req.id === undefined ? r : { ...r, id: req.id }) + "\n");
      }
    });
  }
}

let tmp: string;
let fake: FakeAgent;
beforeEach(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "qga-test-"));
  fake = new FakeAgent(path.join(tmp, "qga.sock"));
  await fake.listen();
});
afterEach(async () => {
  await fake.close();
  rmSync(tmp, { recursive: true, force: true });
});

const agent = (timeoutMs = 1000) => new GuestAgent(fake.path, { timeoutMs });

async function caught(p: Promise<unknown>): Promise<GuestAgentError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof GuestAgentError)) throw new Error(`expected a GuestAgentError, got ${String(e)}`);
  return e;
}

/** Waits until the fake has no open connection (the client closed its side). */
async function allClosed(): Promise<void> {
  for (let i = 0; i < 100 && fake.open > 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(fake.open).toBe(0);
}

describe("session framing", () => {
  test("each call: 0xFF, guest-sync-delimited with a random id, the command, then close", async () => {
    await agent().ping();
    await agent().ping();
    const raw = Buffer.concat(fake.raw);
    expect(raw[0]).toBe(0xff);
    expect(fake.connections).toBe(2);
    const [sync1, ping1, sync2, ping2] = fake.requests;
    expect(sync1).toMatchObject({ execute: "guest-sync-delimited", arguments: { id: expect.any(Number) } });
    expect(ping1).toMatchObject({ execute: "guest-ping", id: expect.any(String) });
    expect(sync2?.execute).toBe("guest-sync-delimited");
    expect(sync2?.arguments?.id).not.toBe(sync1?.arguments?.id);
    expect(ping2?.execute).toBe("guest-ping");
    expect(ping1).not.toHaveProperty("arguments");
    await allClosed();
  });

  test("stale replies and junk before the sentinel are ignored", async () => {
    fake.stale = Buffer.from('{"return": {"host-name": "stale"}, "id": "ga1"}\n{"error": {"class": "GenericError", "desc": "old"}}\n\u0000garbage {"ret');
    fake.behaviour = () => ({ return: { "host-name": "fresh" } });
    await expect(agent().hostname()).resolves.toBe("fresh");
  });

  test("an older session's sync reply (sentinel + other id) is skipped", async () => {
    fake.stale = Buffer.concat([Buffer.of(0xff), Buffer.from('{"return": 4242}\n'), Buffer.from("junk"), Buffer.of(0xff), Buffer.from('{"return": 17}\n')]);
    fake.behaviour = () => ({ return: { "host-name": "vm1" } });
    await expect(agent().hostname()).resolves.toBe("vm1");
  });

  test("sentinel and replies split across many writes", async () => {
    fake.writeSync = (conn, bytes) => {
      let i = 0;
      const next = () => {
        if (i < bytes.length) conn.write(bytes.subarray(i, ++i), () => setTimeout(next, 1));
      };
      next();
    };
    fake.stale = Buffer.from('{"return": {}}\n{"retu');
    fake.behaviour = (req, conn) => {
      const s = JSON.stringify({ return: { "host-name": "split" }, id: req.id }) + "\n";
      conn.write(s.slice(0, 5));
      setTimeout(() => conn.write(s.slice(5)), 20);
      return "noreply";
    };
    await expect(agent().hostname()).resolves.toBe("split");
  });

  test("a reply without id (older agents) is accepted", async () => {
    fake.behaviour = (_req, conn) => {
      conn.write('{"return": {"host-name": "noid"}}\n');
      return "noreply";
    };
    await expect(agent().hostname()).resolves.toBe("noid");
  });

  test("calls on one socket never overlap: QEMU serves one client at a time", async () => {
    fake.behaviour = (req, conn) => {
      setTimeout(() => conn.write(JSON.stringify({ return: {}, id: req.id }) + "\n"), 30);
      return "noreply";
    };
    await Promise.all([agent(1000).ping(), new GuestAgent(fake.path, { timeoutMs: 1000 }).ping(), agent(1000).ping()]);
    expect(fake.connections).toBe(3);
    // Overlapping sessions would interleave as sync, sync, sync, ping, ...
    expect(fake.requests.map((r) => r.execute)).toEqual(Array(3).fill(["guest-sync-delimited", "guest-ping"]).flat());
  });
});

describe("errors", () => {
  test("no socket: not_connected", async () => {
    const e = await caught(new GuestAgent(path.join(tmp, "missing.sock"), { timeoutMs: 300 }).ping());
    expect(e.kind).toBe("not_connected");
    expect(e.message).toContain("ENOENT");
  });

  test("agent not answering the sync: timeout, connection closed", async () => {
    fake.answerSync = false;
    const t0 = Date.now();
    const e = await caught(agent(200).ping());
    expect(e.kind).toBe("timeout");
    expect(e.command).toBe("guest-ping");
    expect(e.message).toMatch(/guest-sync-delimited/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(fake.requests.map((r) => r.execute)).toEqual(["guest-sync-delimited"]);
    await allClosed();
  });

  test("command with no reply: timeout", async () => {
    fake.behaviour = () => "noreply";
    const e = await caught(agent(200).osInfo());
    expect(e.kind).toBe("timeout");
    expect(e.message).toMatch(/no reply/);
    await allClosed();
  });

  test("default timeout is 3 s", async () => {
    jest.useFakeTimers({ doNotFake: ["setImmediate", "nextTick", "queueMicrotask"] });
    try {
      fake.answerSync = false;
      const p = caught(new GuestAgent(fake.path).ping());
      // Let the connection and the sync go out on real I/O first.
      for (let i = 0; i < 50 && fake.requests.length === 0; i++) await new Promise((r) => setImmediate(r));
      await jest.advanceTimersByTimeAsync(2900);
      let settled = false;
      void p.then(() => (settled = true));
      await new Promise((r) => setImmediate(r));
      expect(settled).toBe(false);
      await jest.advanceTimersByTimeAsync(200);
      expect((await p).kind).toBe("timeout");
    } finally {
      jest.useRealTimers();
    }
  });

  test("error reply: command_failed with the agent's class and description", async () => {
    fake.behaviour = () => ({ error: { class: "CommandNotFound", desc: "Command guest-get-osinfo has been disabled" } });
    const e = await caught(agent().osInfo());
    expect(e).toBeInstanceOf(GuestAgentError);
    expect(e.name).toBe("GuestAgentError");
    expect(e.kind).toBe("command_failed");
    expect(e.command).toBe("guest-get-osinfo");
    expect(e.agentError).toEqual({ class: "CommandNotFound", desc: "Command guest-get-osinfo has been disabled" });
    expect(e.message).toContain("has been disabled");
  });

  test("connection closed after the sync, before the reply: not_connected", async () => {
    fake.behaviour = () => "close";
    expect((await caught(agent().hostname())).kind).toBe("not_connected");
  });

  test("connection closed before the sync reply: not_connected", async () => {
    fake.answerSync = false;
    fake.writeSync = () => undefined;
    fake.server.removeAllListeners("connection");
    fake.server.on("connection", (c: net.Socket) => c.destroy());
    expect((await caught(agent().ping())).kind).toBe("not_connected");
  });

  test.each([
    ["not JSON", "this is not json\n", /not JSON/],
    ["neither return nor error", '{"hello": 1}\n', /neither return nor error/],
    ["another request's id", '{"return": {}, "id": "someone-else"}\n', /another request/],
  ])("reply %s: protocol", async (_what, line, msg) => {
    fake.behaviour = (_req, conn) => {
      conn.write(line);
      return "noreply";
    };
    const e = await caught(agent().ping());
    expect(e.kind).toBe("protocol");
    expect(e.message).toMatch(msg);
  });

  test("reply of the wrong shape: protocol", async () => {
    fake.behaviour = () => ({ return: [{ name: 3 }] });
    const e = await caught(agent().interfaces());
    expect(e.kind).toBe("protocol");
    expect(e.command).toBe("guest-network-get-interfaces");
    fake.behaviour = () => ({ return: { "host-name": 7 } });
    expect((await caught(agent().hostname())).kind).toBe("protocol");
  });

  test("a reply beyond the size limit: protocol, not unbounded buffering", async () => {
    fake.behaviour = (_req, conn) => {
      conn.write('{"return": "' + "x".repeat(5 * 1024 * 1024));
      return "noreply";
    };
    const e = await caught(agent(2000).ping());
    expect(e.kind).toBe("protocol");
    expect(e.message).toMatch(/larger than/);
  });
});

describe("shutdown", () => {
  test("sends the mode; the connection closing without a reply is success", async () => {
    fake.behaviour = () => "close";
    await agent().shutdown("powerdown");
    expect(fake.requests[1]).toMatchObject({ execute: "guest-shutdown", arguments: { mode: "powerdown" } });
  });

  test("no reply within the timeout after sending is success", async () => {
    fake.behaviour = () => "noreply";
    await agent(150).shutdown("reboot");
    expect(fake.requests[1]?.arguments).toEqual({ mode: "reboot" });
  });

  test("an error reply is command_failed", async () => {
    fake.behaviour = () => ({ error: { class: "GenericError", desc: "child process has failed to shutdown" } });
    const e = await caught(agent().shutdown("halt"));
    expect(e.kind).toBe("command_failed");
    expect(e.agentError?.desc).toMatch(/failed to shutdown/);
  });

  test("agent not answering the sync is a timeout, not success: nothing was sent", async () => {
    fake.answerSync = false;
    expect((await caught(agent(150).shutdown("powerdown"))).kind).toBe("timeout");
    expect(fake.requests.map((r) => r.execute)).toEqual(["guest-sync-delimited"]);
  });
});

describe("parsing", () => {
  test("interfaces: loopback dropped (lo, and loopback-only under another name), mac lowercased", async () => {
    fake.behaviour = () => ({
      return: [
        {
          name: "lo",
          "hardware-address": "00:00:00:00:00:00",
          "ip-addresses": [
            { "ip-address-type": "ipv4", "ip-address": "127.0.0.1", prefix: 8 },
            { "ip-address-type": "ipv6", "ip-address": "::1", prefix: 128 },
          ],
          statistics: { "rx-bytes": 1 },
        },
        {
          name: "Loopback Pseudo-Interface 1",
          "ip-addresses": [
            { "ip-address-type": "ipv6", "ip-address": "::1", prefix: 128 },
            { "ip-address-type": "ipv4", "ip-address": "127.0.0.1", prefix: 8 },
          ],
        },
        {
          name: "enp0s3",
          "hardware-address": "52:54:00:AB:CD:EF",
          "ip-addresses": [
            { "ip-address-type": "ipv4", "ip-address": "10.0.2.15", prefix: 24 },
            { "ip-address-type": "ipv6", "ip-address": "fe80::5054:ff:feab:cdef", prefix: 64 },
          ],
        },
        { name: "eth1", "hardware-address": "52:54:00:00:00:02" },
        { name: "tun0", "ip-addresses": [] },
      ],
    });
    await expect(agent().interfaces()).resolves.toStrictEqual([
      {
        name: "enp0s3",
        mac: "52:54:00:ab:cd:ef",
        addresses: [
          { address: "10.0.2.15", prefix: 24, family: "ipv4" },
          { address: "fe80::5054:ff:feab:cdef", prefix: 64, family: "ipv6" },
        ],
      },
      { name: "eth1", mac: "52:54:00:00:00:02", addresses: [] },
      { name: "tun0", addresses: [] },
    ]);
  });

  test("osInfo: renamed fields, absent ones left out", async () => {
    fake.behaviour = () => ({
      return: {
        name: "Debian GNU/Linux",
        "kernel-release": "6.1.0-31-cloud-amd64",
        version: "12 (bookworm)",
        "pretty-name": "Debian GNU/Linux 12 (bookworm)",
        "version-id": "12",
        "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.128-1",
        machine: "x86_64",
        id: "debian",
      },
    });
    await expect(agent().osInfo()).resolves.toStrictEqual({
      id: "debian",
      name: "Debian GNU/Linux",
      prettyName: "Debian GNU/Linux 12 (bookworm)",
      version: "12 (bookworm)",
      versionId: "12",
      kernelRelease: "6.1.0-31-cloud-amd64",
      kernelVersion: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.128-1",
      machine: "x86_64",
    });
    fake.behaviour = () => ({ return: { "kernel-release": "5.10" } });
    await expect(agent().osInfo()).resolves.toStrictEqual({ kernelRelease: "5.10" });
  });
});

/**
 * The real agent, run on the host in unix-listen mode: the same protocol the
 * virtio-serial channel carries, without a guest. Everything except the
 * read-only commands under test is blocked, so nothing here can touch the
 * host (guest-shutdown in particular). A Debian guest covers the
 * virtio-serial path end to end elsewhere.
 */
const qemuGa = ["/usr/sbin/qemu-ga", "/usr/bin/qemu-ga"].find((p) => existsSync(p));
const ALLOWED = ["guest-sync-delimited", "guest-sync", "guest-ping", "guest-info", "guest-network-get-interfaces", "guest-get-osinfo", "guest-get-host-name"];

(qemuGa ? describe : describe.skip)("real qemu-ga (unix-listen on the host)", () => {
  let dir: string;
  let child: ChildProcess;
  let sock: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "qga-real-"));
    sock = path.join(dir, "qga.sock");
    const all = (await run(qemuGa!, ["-b", "help"])).stdout.split(/\s+/).filter((c) => c !== "");
    expect(all).toContain("guest-shutdown");
    const blocked = all.filter((c) => !ALLOWED.includes(c));
    child = spawn(qemuGa!, ["-m", "unix-listen", "-p", sock, "-f", path.join(dir, "qga.pid"), "-t", dir, "-b", blocked.join(",")], {
      stdio: "ignore",
    });
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(sock)).toBe(true);
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("ping, hostname, osInfo, interfaces; one session per call", async () => {
    const ga = new GuestAgent(sock);
    await ga.ping();
    await ga.ping();
    await expect(ga.hostname()).resolves.toBe(os.hostname());
    const info = await ga.osInfo();
    const osRelease = readFileSync("/etc/os-release", "utf8");
    expect(osRelease).toContain(`ID=${info.id}`);
    expect(info.kernelRelease).toBe(os.release());
    const ifs = await ga.interfaces();
    expect(ifs.map((i) => i.name)).not.toContain("lo");
    for (const i of ifs) for (const a of i.addresses) expect(a.family === "ipv4" ? net.isIPv4(a.address) : net.isIPv6(a.address)).toBe(true);
  });

  test("a disabled command is command_failed with the agent's error class", async () => {
    const e = await caught(new GuestAgent(sock).execute("guest-get-time"));
    expect(e.kind).toBe("command_failed");
    expect(e.agentError?.class).toBe("CommandNotFound");
  });

  test("a client that left half a command behind does not break the next session", async () => {
    await new Promise<void>((resolve, reject) => {
      const c = net.createConnection(sock, () => {
        c.write('{"execute": "guest-get-host-na', () => c.end());
      });
      c.on("close", () => resolve());
      c.on("error", reject);
    });
    await expect(new GuestAgent(sock).hostname()).resolves.toBe(os.hostname());
  });
});

/**
 * A real QEMU chardev + virtio-serial port with no guest behind it: what
 * hostd sees while a VM boots. Connections are accepted but the sync is
 * never answered, so every call is a timeout ("agent not ready"), again and
 * again, and shutdown is not mistaken for success. `-S` keeps the CPU
 * stopped: nothing runs, no guest image needed.
 */
const qemuBin = [process.env.HOSTD_QEMU, "/usr/bin/qemu-system-x86_64"].find((p): p is string => !!p && existsSync(p));

(qemuBin ? describe : describe.skip)("real QEMU chardev, no agent in the guest", () => {
  let dir: string;
  let child: ChildProcess;
  let sock: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "qga-qemu-"));
    sock = path.join(dir, "qga.sock");
    child = spawn(
      qemuBin!,
      [
        "-accel", "tcg", "-S", "-nodefaults", "-display", "none", "-m", "64",
        "-chardev", `socket,id=qga0,path=${sock},server=on,wait=off`,
        "-device", "virtio-serial-pci",
        "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
      ],
      { stdio: "ignore" },
    );
    for (let i = 0; i < 250 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(sock)).toBe(true);
  }, 15_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("ping times out, repeatedly; shutdown times out rather than succeeding", async () => {
    const ga = new GuestAgent(sock, { timeoutMs: 300 });
    for (let i = 0; i < 2; i++) expect((await caught(ga.ping())).kind).toBe("timeout");
    expect((await caught(ga.shutdown("powerdown"))).kind).toBe("timeout");
  });
});
