/**
 * The registry with real flock(2) locks in a scratch directory. One process
 * holds several locks here: flock locks belong to open files, so two opens in
 * one process conflict just as two hostds do.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { KvmError } from "../sdk/errors";
import { UidClaims } from "./uid-claims";
import { derivedSlot, slotRange, UidRangePlan } from "./uid-range";

const A = "aaaaaaaa-0000-4000-8000-000000000001";
const B = "bbbbbbbb-0000-4000-8000-000000000002";
let dir: string;
let claims: UidClaims;
const releases: (() => void)[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "uid-claims-"));
  claims = new UidClaims(path.join(dir, "reg"));
});
afterEach(() => {
  for (const r of releases.splice(0)) r();
  rmSync(dir, { recursive: true, force: true });
});

const fixed = (slot: number): UidRangePlan => ({ range: slotRange(slot), source: "explicit", movable: false });
async function take(hostId: string, plan: UidRangePlan) {
  const c = await claims.claim({ hostId, stateDir: `/state/${hostId.slice(0, 1)}`, socket: `/run/${hostId.slice(0, 1)}.sock` }, plan);
  releases.push(c.release);
  return c;
}
async function refusal(p: Promise<unknown>): Promise<KvmError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(KvmError);
  expect((e as KvmError).code).toBe("conflict");
  return e as KvmError;
}

test("a claim is a file naming the hostd and its range; live() lists it while held, not after release", async () => {
  const c = await take(A, fixed(5));
  expect(c.range).toEqual(slotRange(5));
  const file = path.join(claims.dir, `${A}.json`);
  expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({ hostId: A, stateDir: "/state/a", socket: "/run/a.sock", pid: process.pid, range: slotRange(5) });
  expect((await claims.live()).map((x) => x.hostId)).toEqual([A]);
  c.release();
  expect(existsSync(file)).toBe(false);
  expect(await claims.live()).toEqual([]);
});

test("an overlapping fixed range is refused, naming the other hostd; a movable default moves to the next free slot", async () => {
  await take(A, fixed(5));
  const e = await refusal(take(B, { range: { base: slotRange(5).base + 100, count: 65_536 }, source: "explicit", movable: false }));
  expect(e.message).toMatch(new RegExp(`overlaps 1900327680-1900393215 of another hostd \\(host id ${A}, pid ${process.pid}, state directory /state/a, socket /run/a.sock\\).*Pick a --vm-uid-base outside that range`));
  const moved = await take(B, { range: slotRange(5), source: "derived", movable: true });
  expect(moved.range).toEqual(slotRange(6));
});

test("the same host id twice (a copied state directory) is refused", async () => {
  await take(A, fixed(5));
  const e = await refusal(claims.claim({ hostId: A, stateDir: "/copy", socket: "/run/copy.sock" }, fixed(9)));
  expect(e.message).toMatch(/Host id aaaaaaaa-.* is already run by another hostd .*state directory \/state\/a.*\/copy is a copy/);
});

test("a dead hostd's claim (file left, lock gone) does not count and is pruned by the next claim", async () => {
  await take(A, fixed(1));
  // As a SIGKILLed hostd leaves it: the file, with nobody holding its lock.
  const stale = path.join(claims.dir, `${B}.json`);
  writeFileSync(stale, JSON.stringify({ hostId: B, stateDir: "/state/b", socket: "/b", pid: 1, range: slotRange(derivedSlot(B)), startedAt: "x" }));
  expect((await claims.live()).map((c) => c.hostId)).toEqual([A]);
  expect(existsSync(stale)).toBe(true);
  const c = await take(B, { range: slotRange(derivedSlot(B)), source: "recorded", movable: false });
  expect(c.range).toEqual(slotRange(derivedSlot(B)));
  expect(readdirSync(claims.dir).sort()).toEqual([".lock", `${A}.json`, `${B}.json`]);
  c.release();
  // removeStale: the test fixtures' cleanup after a SIGKILL; a live claim stays.
  writeFileSync(stale, "{}");
  await claims.removeStale(B);
  await claims.removeStale(A);
  expect(readdirSync(claims.dir).sort()).toEqual([".lock", `${A}.json`]);
});

test("starts racing for one range: exactly one wins", async () => {
  const results = await Promise.allSettled([take(A, fixed(3)), take(B, fixed(3))]);
  expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  expect(results.filter((r) => r.status === "rejected")).toHaveLength(1);
});

test("live() on a machine where no hostd ever claimed: none, and nothing is created", async () => {
  expect(await claims.live()).toEqual([]);
  expect(existsSync(claims.dir)).toBe(false);
});
