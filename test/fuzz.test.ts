/**
 * API fuzzing against a real hostd: more than 10 000 generated malformed or
 * hostile requests (wrong types, missing and extra fields, huge payloads,
 * deep nesting, numbers out of range, unknown methods, path traversal and
 * shell-injection strings, NUL bytes and odd unicode, broken envelopes,
 * garbage, frames over the limit, truncated frames), pipelined on one
 * connection, spread over concurrent connections and one per connection.
 *
 * hostd must not crash or hang, must answer every line with exactly one
 * structured reply carrying a stable code (the one the protocol says, see
 * test/fixtures/fuzz.ts for the oracle), and the VM that was running before
 * must be untouched: same id, same QEMU, QMP still "running", same spec.
 *
 * The frames are deterministic: FUZZ_SEED (printed) reproduces a run;
 * FUZZ_COUNT changes how many frames are made (default 10 000).
 */
import * as net from "node:net";
import * as path from "node:path";
import { readdirSync, readFileSync } from "node:fs";
import { DomainErrorCodes } from "../sdk/errors";
import { MAX_FRAME_BYTES, Methods, ResponseEnvelope, VmInfo } from "../sdk/protocol";
import { procState } from "../hostd/drivers/process";
import { announceAccelerator, tinyGuest } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";
import { Category, CATEGORIES, Frame, FrameGenerator, Rng } from "./fixtures/fuzz";

jest.setTimeout(300_000);

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 0x6b766d01;
const COUNT = process.env.FUZZ_COUNT ? Number(process.env.FUZZ_COUNT) : 10_000;
/** Longest a batch of pipelined frames may take to be answered before it counts as a hang. */
const BATCH_TIMEOUT_MS = 30_000;
const VICTIM = "fuzz-victim";
const NL = Buffer.from("\n");

const g = tinyGuest();
const kernel = { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline };
let hd: HostdFixture;
let victim: VmInfo;
let gen: FrameGenerator;
let frames: Frame[];
let logFrom = 0;
let rssBefore = 0;
const t0 = Date.now();

// ---- bookkeeping ----------------------------------------------------------------

const tally = {
  sent: 0,
  answered: 0,
  byCategory: new Map<string, number>(),
  byCode: new Map<string, number>(),
  byCategoryCode: new Map<string, Map<string, number>>(),
  phases: [] as string[],
};
const failures: string[] = [];

function bump(m: Map<string, number>, k: string, by = 1): void {
  m.set(k, (m.get(k) ?? 0) + by);
}
function fail(msg: string): void {
  if (failures.length < 200) failures.push(msg);
}
function show(f: Frame): string {
  const s = f.bytes.toString("utf8");
  return `#${f.n} [${f.category}] ${s.length > 300 ? `${s.slice(0, 300)}… (${f.bytes.length} bytes)` : s}`;
}

// ---- a raw connection -----------------------------------------------------------

/** A unix-socket connection that splits what hostd sends into lines, without limits of its own. */
class RawConn {
  readonly lines: string[] = [];
  rest = Buffer.alloc(0);
  closed = false;
  serverEnded = false;
  readonly errors: Error[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(readonly sock: net.Socket) {
    sock.on("data", (d: Buffer) => {
      let buf = Buffer.concat([this.rest, d]);
      for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a)) {
        this.lines.push(buf.subarray(0, nl).toString("utf8"));
        buf = buf.subarray(nl + 1);
      }
      this.rest = buf;
      this.notify();
    });
    sock.on("end", () => {
      this.serverEnded = true;
      this.notify();
    });
    sock.on("close", () => {
      this.closed = true;
      this.notify();
    });
    sock.on("error", (e) => {
      this.errors.push(e);
      this.notify();
    });
  }

  static open(socketPath: string): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(socketPath);
      s.once("connect", () => {
        s.removeListener("error", reject);
        resolve(new RawConn(s));
      });
      s.once("error", reject);
    });
  }

  private notify(): void {
    for (const w of this.waiters) w();
  }

  /** Resolves true when `cond` holds, false when `ms` pass first. */
  until(cond: () => boolean, ms: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (cond()) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(true);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(false);
      }, ms);
      this.waiters.add(check);
    });
  }

  write(b: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.sock.destroyed || !this.sock.writable) return resolve();
      this.sock.write(b, () => resolve());
    });
  }

  /** Half-closes and waits for hostd to close its side too. */
  async finish(ms = 5_000): Promise<boolean> {
    if (!this.sock.destroyed) this.sock.end();
    return this.until(() => this.closed, ms);
  }
}

// ---- checking replies -----------------------------------------------------------

const domainCodes = new Set<string>(DomainErrorCodes);

/** Checks the replies a connection got against what its frames must get. */
function check(label: string, sent: Frame[], lines: string[]): void {
  tally.sent += sent.length;
  for (const f of sent) bump(tally.byCategory, f.category);
  const byId = new Map<string, unknown[]>();
  const nullReplies: unknown[] = [];
  for (const line of lines) {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      fail(`${label}: a reply is not JSON: ${line.slice(0, 300)}`);
      continue;
    }
    const env = ResponseEnvelope.safeParse(msg);
    if (!env.success) {
      fail(`${label}: a reply is not a response envelope: ${line.slice(0, 300)}`);
      continue;
    }
    const r = env.data as { id: string | null; result?: unknown; error?: { code: string; message: string } };
    if (r.error) {
      if (!domainCodes.has(r.error.code)) fail(`${label}: unknown code in ${line.slice(0, 300)}`);
      if (r.error.message.trim() === "") fail(`${label}: empty message in ${line.slice(0, 300)}`);
      if (/\n\s+at /.test(r.error.message)) fail(`${label}: a stack trace in ${line.slice(0, 500)}`);
    }
    if (r.id === null) nullReplies.push(r);
    else {
      const l = byId.get(r.id) ?? [];
      l.push(r);
      byId.set(r.id, l);
    }
  }
  tally.answered += lines.length;

  const want = new Set<string>();
  let wantNull = 0;
  const nullCats: Category[] = [];
  for (const f of sent) {
    const e = f.expect;
    if (!e.reply) continue;
    if (e.id === null) {
      wantNull++;
      nullCats.push(f.category);
      continue;
    }
    want.add(e.id);
    const got = byId.get(e.id) ?? [];
    if (got.length !== 1) {
      fail(`${label}: ${got.length} replies (want exactly 1) to ${show(f)}`);
      continue;
    }
    const r = got[0] as { result?: unknown; error?: { code: string; message: string } };
    const code = r.error ? r.error.code : "result";
    bump(tally.byCode, code);
    const cc = tally.byCategoryCode.get(f.category) ?? new Map<string, number>();
    bump(cc, code);
    tally.byCategoryCode.set(f.category, cc);
    if (!(e.codes as readonly string[]).includes(code)) {
      fail(`${label}: got ${code}${r.error ? ` (${r.error.message.slice(0, 200)})` : ""}, want ${e.codes.join("|")}, for ${show(f)}`);
    }
    if (r.error?.code === "invalid_params" && r.error.message.includes("could not be validated")) {
      fail(`${label}: a params schema threw: ${r.error.message.slice(0, 300)} for ${show(f)}`);
    }
    if (code === "result") {
      const m = Methods.get(e.method!);
      const ok = m?.result.safeParse(r.result);
      if (!ok?.success) fail(`${label}: result does not match ${e.method}'s schema for ${show(f)}`);
      if (f.category === "control") checkControl(label, e.method!, r.result);
    }
  }
  for (const id of byId.keys()) if (!want.has(id)) fail(`${label}: a reply to an id nobody sent: ${id.slice(0, 100)}`);
  if (nullReplies.length !== wantNull) {
    fail(`${label}: ${nullReplies.length} replies without an id, want ${wantNull}`);
  }
  for (const r of nullReplies) {
    const code = (r as { error?: { code: string } }).error?.code ?? "result";
    if (code !== "invalid_request") fail(`${label}: a reply without an id has code ${code}`);
  }
  for (const c of nullCats) {
    const cc = tally.byCategoryCode.get(c) ?? new Map<string, number>();
    bump(cc, "invalid_request");
    tally.byCategoryCode.set(c, cc);
  }
  bump(tally.byCode, "invalid_request", Math.min(nullReplies.length, wantNull));
}

/** Read-only calls about the victim, mixed into the stream: it stays running on the same QEMU throughout. */
function checkControl(label: string, method: string, result: unknown): void {
  const vms = method === "vm.list" ? (result as { vms: VmInfo[] }).vms : [result as VmInfo];
  const v = vms.find((x) => x.name === VICTIM);
  if (!v || v.state !== "running" || v.pid !== victim.pid || v.id !== victim.id) {
    fail(`${label}: control ${method} shows the victim as ${JSON.stringify(v && { state: v.state, pid: v.pid, id: v.id })}`);
  }
}

/**
 * Spaces out what the test sends: input timing (fragments arriving apart), not a wait for a
 * result; every result is awaited on its condition (RawConn.until, finish).
 */
function spaceOut(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Sends frames pipelined on one connection, then waits for every reply (or a hang). */
async function pipeline(label: string, batch: Frame[], o: { fragment?: Rng } = {}): Promise<void> {
  const c = await RawConn.open(hd.socketPath);
  const want = batch.filter((f) => f.expect.reply).length;
  if (o.fragment) {
    const rng = o.fragment;
    const all = Buffer.concat(batch.flatMap((f) => [f.bytes, NL]));
    for (let i = 0; i < all.length; ) {
      const k = rng.int(1, 64);
      await c.write(all.subarray(i, i + k));
      if (rng.chance(0.3)) await spaceOut(rng.int(0, 2));
      i += k;
    }
  } else {
    // A few large writes: the frames cross chunk boundaries anywhere.
    const parts: Buffer[] = [];
    let size = 0;
    const writes: Promise<void>[] = [];
    for (const f of batch) {
      parts.push(f.bytes, NL);
      size += f.bytes.length + 1;
      if (size > 256 * 1024) {
        writes.push(c.write(Buffer.concat(parts.splice(0))));
        size = 0;
      }
    }
    if (parts.length) writes.push(c.write(Buffer.concat(parts)));
    await Promise.all(writes);
  }
  const done = await c.until(() => c.lines.length >= want || c.closed, BATCH_TIMEOUT_MS);
  if (!done) {
    const got = new Set(
      c.lines.map((l) => {
        try {
          return (JSON.parse(l) as { id: string | null }).id;
        } catch {
          return null;
        }
      }),
    );
    const missing = batch.filter((f) => f.expect.reply && f.expect.id !== null && !got.has(f.expect.id));
    fail(`${label}: HANG: ${c.lines.length}/${want} replies after ${BATCH_TIMEOUT_MS} ms; first unanswered: ${missing.slice(0, 3).map(show).join(" ;; ")}`);
  }
  if (c.closed && c.lines.length < want) fail(`${label}: hostd closed the connection after ${c.lines.length}/${want} replies`);
  if (!(await c.finish())) fail(`${label}: hostd did not close its side after ours`);
  if (c.rest.length > 0) fail(`${label}: a partial reply line: ${c.rest.toString("utf8").slice(0, 200)}`);
  check(label, batch, c.lines);
}

async function inParallel<T>(items: T[], limit: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

function alive(pid: number): boolean {
  const st = procState(pid);
  return st !== undefined && st !== "Z" && st !== "X";
}

function rssKiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function timed(what: string, fn: () => Promise<void>): Promise<void> {
  const s = Date.now();
  await fn();
  tally.phases.push(`${what}: ${Date.now() - s} ms`);
}

// ---- the run --------------------------------------------------------------------

let before: { disks: unknown; networks: unknown; images: unknown; vmDirs: string[]; qmpStatus: unknown };

beforeAll(async () => {
  announceAccelerator();
  hd = await HostdFixture.start();
  const c = hd.client();
  victim = await c.vm.create({ name: VICTIM, memoryMiB: 128, kernel });
  expect(victim.state).toBe("running");
  expect(victim.pid).toBeGreaterThan(0);
  before = {
    disks: (await c.disk.list()).disks,
    networks: (await c.network.list()).networks,
    images: (await c.image.list()).images,
    vmDirs: readdirSync(path.join(hd.stateDir, "vms")).sort(),
    qmpStatus: await hd.opsQmp(victim.id, "query-status"),
  };
  expect(before.qmpStatus).toMatchObject({ status: "running" });
  logFrom = hd.log.length;
  rssBefore = rssKiB(hd.pid!);
  gen = new FrameGenerator(SEED, { victim: VICTIM, victimId: victim.id });
  const s = Date.now();
  frames = gen.frames(COUNT);
  // eslint-disable-next-line no-console
  console.log(`[fuzz] seed ${SEED} (FUZZ_SEED=${SEED} reproduces): ${frames.length} frames, ${(frames.reduce((a, f) => a + f.bytes.length, 0) / 1e6).toFixed(1)} MB, generated in ${Date.now() - s} ms; victim ${victim.id} pid ${victim.pid}`);
}, 120_000);

afterAll(async () => {
  if (process.env.PKVM_DEBUG) console.log(hd?.log);
  await hd?.cleanup();
});

describe("API fuzzing", () => {
  const third = () => Math.floor(frames.length * 0.3);
  const nineTenths = () => Math.floor(frames.length * 0.9);

  test("pipelined on one connection", async () => {
    await timed(`one connection, ${third()} frames`, () => pipeline("pipeline", frames.slice(0, third())));
    expect(failures).toEqual([]);
  });

  test("pipelined across 8 concurrent connections", async () => {
    const part = frames.slice(third(), nineTenths());
    const per = Math.ceil(part.length / 8);
    await timed(`8 connections, ${part.length} frames`, () =>
      Promise.all(Array.from({ length: 8 }, (_, i) => pipeline(`conn${i}`, part.slice(i * per, (i + 1) * per)))).then(() => undefined),
    );
    expect(failures).toEqual([]);
  });

  test("one frame per connection, 16 connections at a time", async () => {
    const part = frames.slice(nineTenths());
    await timed(`${part.length} connections of one frame`, () => inParallel(part, 16, (f) => pipeline(`single#${f.n}`, [f])));
    expect(failures).toEqual([]);
  });

  test("frames written a few bytes at a time", async () => {
    const rng = new Rng(SEED ^ 0xf7a9);
    const small = Array.from({ length: 300 }, () => gen.frame(rng.pick(CATEGORIES.filter((c) => c !== "huge-payload" && c !== "deep-nesting"))));
    await timed("300 fragmented frames", () => pipeline("fragmented", small, { fragment: rng }));
    expect(failures).toEqual([]);
  });

  test("truncated frames: half a line, then the client closes", async () => {
    const rng = new Rng(SEED ^ 0x7a11);
    const cases = Array.from({ length: 200 }, () => ({
      before: Array.from({ length: rng.int(0, 2) }, () => gen.frame(rng.pick(["wrong-type", "unknown-method", "bad-envelope", "valid-hostile", "control"] as const))),
      cut: gen.frame(rng.pick(CATEGORIES)),
      at: rng.next(),
      how: rng.pick(["end", "destroy", "pause-end"] as const),
    }));
    await timed("200 truncated frames", () =>
      inParallel(cases, 10, async (k, i) => {
        const label = `truncated#${i}`;
        const c = await RawConn.open(hd.socketPath);
        if (k.before.length) {
          await c.write(Buffer.concat(k.before.flatMap((f) => [f.bytes, NL])));
          const want = k.before.filter((f) => f.expect.reply).length;
          if (!(await c.until(() => c.lines.length >= want, BATCH_TIMEOUT_MS))) fail(`${label}: HANG before the cut`);
          check(label, k.before, c.lines.slice());
        }
        const half = k.cut.bytes.subarray(0, Math.max(1, Math.floor(k.cut.bytes.length * k.at)));
        await c.write(half);
        tally.sent++;
        bump(tally.byCategory, "truncated");
        const answered = c.lines.length;
        if (k.how === "destroy") {
          c.sock.destroy();
          return;
        }
        // hostd reads the half frame on its own before the end comes (a slow client, then a hang-up).
        if (k.how === "pause-end") await spaceOut(50);
        if (!(await c.finish())) fail(`${label}: hostd kept a half-closed connection with a partial frame open`);
        if (c.lines.length !== answered) fail(`${label}: hostd answered a truncated frame: ${c.lines.slice(answered).join(" | ").slice(0, 300)}`);
      }),
    );
    expect(failures).toEqual([]);
  });

  test("frames over MAX_FRAME_BYTES: one invalid_request without id, then hostd closes the connection", async () => {
    const overflowMsg = `Frame larger than ${MAX_FRAME_BYTES} bytes.`;
    /** A host.hello whose serialization is exactly `bytes` long, padded with `pad`. */
    const sized = (id: string, bytes: number, pad: string): Buffer => {
      const head = `{"id":"${id}","method":"host.hello","params":{"client":"`;
      const tail = `"}}`;
      const room = bytes - Buffer.byteLength(head + tail);
      const unit = Buffer.byteLength(pad);
      const filler = pad.repeat(Math.floor(room / unit)) + "a".repeat(room % unit);
      const b = Buffer.from(head + filler + tail);
      expect(b.length).toBe(bytes);
      return b;
    };
    type Case = { label: string; prelude?: Buffer[]; body: Buffer; newline: boolean; overflow: boolean; id?: string; chunk?: number };
    const cases: Case[] = [
      { label: "exactly MAX_FRAME_BYTES", body: sized("max-1", MAX_FRAME_BYTES, "a"), newline: true, overflow: false, id: "max-1" },
      { label: "exactly MAX_FRAME_BYTES of 2-byte characters", body: sized("max-2", MAX_FRAME_BYTES, "é"), newline: true, overflow: false, id: "max-2" },
      { label: "exactly MAX_FRAME_BYTES of 4-byte characters, in 1000-byte writes", body: sized("max-3", MAX_FRAME_BYTES, "😀"), newline: true, overflow: false, id: "max-3", chunk: 1000 },
      { label: "MAX_FRAME_BYTES + 1", body: sized("over-1", MAX_FRAME_BYTES + 1, "a"), newline: true, overflow: true },
      { label: "MAX_FRAME_BYTES + 1 of 3-byte characters", body: sized("over-2", MAX_FRAME_BYTES + 1, "€"), newline: true, overflow: true },
      { label: "MAX_FRAME_BYTES + 1 without a newline", body: sized("over-3", MAX_FRAME_BYTES + 1, "a"), newline: false, overflow: true },
      { label: "2 MB with a newline", body: sized("over-4", 2 * MAX_FRAME_BYTES, "a"), newline: true, overflow: true },
      { label: "8 MB of garbage streamed without a newline", body: Buffer.alloc(8 * MAX_FRAME_BYTES, 0x7b), newline: false, overflow: true, chunk: 64 * 1024 },
      { label: "1 MB + 1 of spaces", body: Buffer.alloc(MAX_FRAME_BYTES + 1, 0x20), newline: true, overflow: true },
      { label: "1 MB + 1 of NUL bytes", body: Buffer.alloc(MAX_FRAME_BYTES + 1, 0), newline: true, overflow: true },
      { label: "deep nesting over the limit", body: Buffer.from("[".repeat(MAX_FRAME_BYTES) + "]"), newline: true, overflow: true },
      {
        label: "over the limit after good frames on the same connection",
        prelude: [Buffer.from('{"id":"pre-1","method":"vm.get","params":{"name":"' + VICTIM + '"}}\n'), Buffer.from('{"id":"pre-2","method":"vm.nuke"}\n')],
        body: sized("over-5", MAX_FRAME_BYTES + 100, "a"),
        newline: true,
        overflow: true,
      },
    ];
    await timed(`${cases.length} frame-limit cases`, async () => {
      for (const k of cases) {
        const c = await RawConn.open(hd.socketPath);
        const label = `limit: ${k.label}`;
        tally.sent += 1 + (k.prelude?.length ?? 0);
        bump(tally.byCategory, "frame-limit", 1 + (k.prelude?.length ?? 0));
        if (k.prelude) {
          await c.write(Buffer.concat(k.prelude));
          if (!(await c.until(() => c.lines.length >= k.prelude!.length, BATCH_TIMEOUT_MS))) fail(`${label}: HANG on the prelude`);
        }
        const pre = c.lines.length;
        const body = k.newline ? Buffer.concat([k.body, NL]) : k.body;
        // hostd may close while a big frame is still being written; that is fine.
        const step = k.chunk ?? body.length;
        for (let i = 0; i < body.length && !c.closed; i += step) await c.write(body.subarray(i, i + step));
        if (!(await c.until(() => c.lines.length > pre || c.closed, BATCH_TIMEOUT_MS))) fail(`${label}: HANG: no reply`);
        const replies = c.lines.slice(pre).map((l) => JSON.parse(l) as { id: string | null; result?: unknown; error?: { code: string; message: string } });
        tally.answered += c.lines.length;
        if (k.overflow) {
          // The documented behaviour (hostd/server.ts): one invalid_request with a null id, then hostd ends the connection.
          if (!(await c.until(() => c.serverEnded || c.closed, 5_000))) fail(`${label}: hostd did not close the connection`);
          const after = c.lines.slice(pre).map((l) => JSON.parse(l) as { id: string | null; error?: { code: string; message: string } });
          if (after.length !== 1 || after[0]!.id !== null || after[0]!.error?.code !== "invalid_request" || after[0]!.error.message !== overflowMsg) {
            fail(`${label}: want one {id:null, invalid_request "${overflowMsg}"}, got ${JSON.stringify(after).slice(0, 300)}`);
          } else bump(tally.byCode, "invalid_request");
        } else {
          if (replies.length !== 1 || replies[0]!.id !== k.id || replies[0]!.error?.code !== "invalid_params") {
            fail(`${label}: want one invalid_params for ${k.id}, got ${JSON.stringify(replies).slice(0, 300)}`);
          } else bump(tally.byCode, "invalid_params");
          // The connection is still good.
          await c.write(Buffer.from(`{"id":"${k.id}-after","method":"vm.list"}\n`));
          tally.sent++;
          if (!(await c.until(() => c.lines.length > pre + 1, 10_000))) fail(`${label}: the connection is dead after a frame of exactly the limit`);
          else bump(tally.byCode, "result");
          await c.finish();
        }
        c.sock.destroy();
      }
    });
    expect(failures).toEqual([]);
  });

  test("connections dropped with requests in flight", async () => {
    const rng = new Rng(SEED ^ 0xab0);
    await timed("20 abandoned connections of 100 frames", () =>
      inParallel(Array.from({ length: 20 }, (_, i) => i), 5, async (i) => {
        const batch = Array.from({ length: 100 }, () => gen.frame(rng.pick(CATEGORIES.filter((c) => c !== "hostile-create"))));
        const c = await RawConn.open(hd.socketPath);
        c.sock.write(Buffer.concat(batch.flatMap((f) => [f.bytes, NL])));
        tally.sent += batch.length;
        bump(tally.byCategory, "abandoned", batch.length);
        if (i % 2) await c.until(() => c.lines.length > 0, 5_000);
        c.sock.destroy();
      }),
    );
    // hostd is still serving.
    const c = await RawConn.open(hd.socketPath);
    await c.write(Buffer.from('{"id":"ping","method":"host.hello"}\n'));
    expect(await c.until(() => c.lines.length === 1, 10_000)).toBe(true);
    expect(JSON.parse(c.lines[0]!)).toMatchObject({ id: "ping", result: { protocolVersion: expect.any(Number) } });
    c.sock.destroy();
  });

  /**
   * A client that shuts down its side after its last request (shutdown(SHUT_WR), as `socat`,
   * `nc -N` or `echo … | socat` do) still gets every reply, also of handlers that await
   * something; hostd ends the connection after the last one.
   */
  test("a client that half-closes after its requests still gets every reply", async () => {
    const reqs = [
      { id: "hc-1", method: "vm.get", params: { name: VICTIM } },
      { id: "hc-2", method: "network.list" },
      { id: "hc-3", method: "vm.list" },
      { id: "hc-4", method: "host.hello" },
      { id: "hc-5", method: "vm.get", params: { name: "no-such-vm" } },
    ];
    const c = await RawConn.open(hd.socketPath);
    c.sock.end(reqs.map((r) => JSON.stringify(r) + "\n").join(""));
    expect(await c.until(() => c.closed, 10_000)).toBe(true);
    const ids = c.lines.map((l) => (JSON.parse(l) as { id: string }).id).sort();
    expect(ids).toEqual(reqs.map((r) => r.id));
  });

  test("afterwards: hostd alive, the VM untouched, nothing new on the host", async () => {
    const elapsed = Date.now() - t0;
    expect(alive(hd.pid!)).toBe(true);
    const c = hd.client();
    const hello = await c.call(Methods.get("host.hello")!, { client: "fuzz" }, { timeoutMs: 5_000 });
    expect((hello as { protocolVersion: number }).protocolVersion).toBeGreaterThan(0);
    const { vms } = await c.vm.list({ timeoutMs: 10_000 });
    expect(vms.map((v) => v.name)).toEqual([VICTIM]);
    const v = vms[0]!;
    expect(v).toMatchObject({ id: victim.id, pid: victim.pid, state: "running", qemuStatus: "running", lastExit: null });
    expect(v.spec).toEqual(victim.spec);
    expect(v.updatedAt).toBe(victim.updatedAt);
    expect(alive(victim.pid!)).toBe(true);
    expect(hd.qemuPids()).toEqual([victim.pid]);
    expect(await hd.opsQmp(victim.id, "query-status")).toMatchObject({ status: "running", running: true });
    expect((await c.disk.list()).disks).toEqual(before.disks);
    expect((await c.network.list()).networks).toEqual(before.networks);
    expect((await c.image.list()).images).toEqual(before.images);
    expect(readdirSync(path.join(hd.stateDir, "vms")).sort()).toEqual(before.vmDirs);

    // hostd logged no internal errors and no schema that threw.
    const errorsLogged = hd.log
      .slice(logFrom)
      .split("\n")
      .filter((l) => l.includes('"level":"error"'));
    const rssAfter = rssKiB(hd.pid!);

    const lines: string[] = [];
    lines.push(`[fuzz] seed ${SEED}: ${tally.sent} requests sent, ${tally.answered} reply lines, ${elapsed} ms in all (hostd RSS ${rssBefore} -> ${rssAfter} KiB)`);
    lines.push(`  phases: ${tally.phases.join("; ")}`);
    lines.push(`  by category: ${[...tally.byCategory].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ")}`);
    lines.push(`  by code: ${[...tally.byCode].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ")}`);
    for (const [cat, m] of tally.byCategoryCode) lines.push(`    ${cat}: ${[...m].map(([k, n]) => `${k} ${n}`).join(", ")}`);
    if (errorsLogged.length) lines.push(`  hostd error log lines: ${errorsLogged.length}; first: ${errorsLogged[0]!.slice(0, 400)}`);
    // eslint-disable-next-line no-console
    console.log(lines.join("\n"));

    expect(errorsLogged).toEqual([]);
    expect(tally.sent).toBeGreaterThanOrEqual(10_000);
    expect(tally.byCode.get("internal") ?? 0).toBe(0);
    expect(failures).toEqual([]);
  });
});
