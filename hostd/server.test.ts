/**
 * The server's connection limits on a unix socket in a temporary directory,
 * with handlers of the test's own and the peer's uid chosen by the test
 * (peerOf). The same limits against a real hostd and a real second user:
 * test/flood.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { diskList, vmList } from "../sdk/protocol";
import { Logger } from "./log";
import { ConnectionLimits, Server } from "./server";

let dir: string;
let server: Server;
let socketPath: string;
let logLines: string[];
/** The uid the next connection is said to come from. */
let nextUid = 1000;
/** disk.list waits for this to be resolved. */
let release: () => void;

async function start(limits: Partial<ConnectionLimits>): Promise<void> {
  logLines = [];
  server = new Server(new Logger({}, "debug", (l) => logLines.push(l)), {
    peerOf: () => ({ pid: 1, uid: nextUid, gid: nextUid, groups: [] }),
    limits,
  });
  server.handle(vmList, async () => ({ vms: [] }));
  server.handle(diskList, () => new Promise((r) => (release = () => r({ disks: [] }))));
  await server.listen(socketPath);
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "pkvm-server-"));
  socketPath = path.join(dir, "s.sock");
  nextUid = 1000;
});
afterEach(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw client connection: what hostd sent, and when it closed. */
async function connect(uid: number, o: { keepOpen?: boolean } = {}) {
  nextUid = uid;
  // keepOpen: the client does not end its side when hostd ends its own (Node's default would).
  const sock = net.createConnection({ path: socketPath, allowHalfOpen: o.keepOpen ?? false });
  let text = "";
  sock.on("data", (d: Buffer) => (text += d.toString("utf8")));
  sock.on("error", () => undefined);
  const closed = new Promise<void>((r) => sock.once("close", () => r()));
  await new Promise<void>((r) => sock.once("connect", () => r()));
  const lines = () => text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { id: string | null; result?: unknown; error?: { code: string; message: string } });
  /** Resolves with the first `n` replies once they are there. */
  const replies = async (n: number) => {
    while (lines().length < n) await new Promise((r) => (sock as Readable).once("data", r));
    return lines().slice(0, n);
  };
  return { sock, closed, lines, replies };
}

test("a uid at its limit is refused with too_many_connections and one warning; root is not limited; a slot frees on close", async () => {
  await start({ maxConnectionsPerPeer: 2 });
  const a = await connect(1000);
  const b = await connect(1000);
  const refused = await Promise.all([connect(1000), connect(1000), connect(1000)]);
  for (const r of refused) {
    await r.closed;
    expect(r.lines()).toEqual([
      {
        id: null,
        error: {
          code: "too_many_connections",
          message: "hostd refuses this connection: uid 1000 already has 2 connections open, the most one user may have (hostd serve --max-connections-per-peer). Nothing was done; retry once some of them have closed.",
          details: { uid: 1000, limit: 2 },
        },
      },
    ]);
  }
  expect(logLines.filter((l) => l.includes('"level":"warn"'))).toEqual([expect.stringContaining('"msg":"refused a connection of uid 1000: it has 2 open, its limit","uid":1000,"limit":2,"refused":1')]);
  // Another user, and root, are not counted against uid 1000.
  const others = [await connect(1001), ...(await Promise.all([1, 2, 3].map(() => connect(0))))];
  for (const o of others) {
    o.sock.write(JSON.stringify({ id: "l", method: "vm.list" }) + "\n");
    expect(await o.replies(1)).toEqual([{ id: "l", result: { vms: [] } }]);
  }
  a.sock.destroy();
  await a.closed;
  // hostd sees the close a moment after this side does: until then uid 1000 is still at its limit.
  let answer: unknown;
  for (let tries = 0; answer === undefined && tries < 100; tries++) {
    const c = await connect(1000);
    c.sock.write(JSON.stringify({ id: "l", method: "vm.list" }) + "\n");
    const [r] = await c.replies(1);
    if (r?.error?.code !== "too_many_connections") answer = r;
    c.sock.destroy();
  }
  expect(answer).toEqual({ id: "l", result: { vms: [] } });
  b.sock.destroy();
});

test("an idle connection is closed without a word; one with a call in flight is not", async () => {
  await start({ idleTimeoutMs: 100 });
  const busy = await connect(1000);
  busy.sock.write(JSON.stringify({ id: "d", method: "disk.list" }) + "\n");
  const idle = await connect(1000);
  await idle.closed;
  expect(idle.lines()).toEqual([]);
  // The busy one has outlived an idle period; its call ends now and is answered.
  expect(busy.sock.destroyed).toBe(false);
  release();
  expect(await busy.replies(1)).toEqual([{ id: "d", result: { disks: [] } }]);
  // With nothing in flight any more, it too goes idle and is closed.
  await busy.closed;
});

test("a frame that does not end in time is refused and the connection closed, even if the peer keeps its side open", async () => {
  await start({ frameTimeoutMs: 100, hangUpGraceMs: 100 });
  const c = await connect(1000, { keepOpen: true });
  c.sock.write('{"id":"x","method":"vm.li');
  await new Promise((r) => c.sock.once("end", r));
  // This side stays open; hostd closes its own descriptor once the grace period is over.
  for (let i = 0; server.openConnections > 0 && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
  expect(server.openConnections).toBe(0);
  expect(c.lines()).toEqual([
    {
      id: null,
      error: {
        code: "invalid_request",
        message: "The frame did not end within 0.1 s of its first byte (no newline came), so hostd dropped it and closes this connection. Send each request as one line that ends in a newline.",
      },
    },
  ]);
  c.sock.destroy();
});

test("a frame that is not UTF-8 is refused and the connection goes on", async () => {
  await start({});
  const c = await connect(1000);
  c.sock.write(Buffer.concat([Buffer.from('{"id":"u","method":"vm.get","params":{"name":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}}\n')]));
  c.sock.write(JSON.stringify({ id: "l", method: "vm.list" }) + "\n");
  const [bad, ok] = await c.replies(2);
  expect(bad).toEqual({
    id: null,
    error: { code: "invalid_request", message: "The frame is not valid UTF-8: hostd reads frames as UTF-8 text and refuses other bytes rather than guess what they meant." },
  });
  expect(ok).toEqual({ id: "l", result: { vms: [] } });
  c.sock.destroy();
});
