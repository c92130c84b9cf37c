/**
 * Networks stay off what the host uses or reserves, against a real hostd in
 * a network namespace of the test's own: reserved ranges are refused by the
 * schema (the client, and hostd for a frame past the client), and any
 * prefix the namespace routes in any table or has on an interface is
 * refused by the network service, the route or interface named. Nothing is
 * made on a refusal: no bridge, no dnsmasq, no change to nftables. No VM is
 * needed.
 */
import { KvmError } from "../sdk/errors";
import { HostdFixture, sendFrame } from "./fixtures/hostd";
import { ip, Netns, nsExec } from "./fixtures/netns";

jest.setTimeout(120_000);

let ns: Netns;
let hd: HostdFixture;

beforeAll(async () => {
  ns = Netns.create();
  // An address on an interface (a veth: this kernel has no dummy driver), a route in a table of
  // its own, a blackhole in another, and an AnyIP range in the local table (`ip route` never shows it).
  ip("-n", ns.host, "link", "add", "pkvm-addr", "type", "veth", "peer", "name", "pkvm-peer");
  ip("-n", ns.host, "addr", "add", "10.88.0.1/24", "dev", "pkvm-addr");
  ip("-n", ns.host, "link", "set", "pkvm-addr", "up");
  ip("-n", ns.host, "route", "add", "10.66.0.0/24", "dev", "pkvm-addr", "table", "200");
  ip("-n", ns.host, "route", "add", "blackhole", "10.77.0.0/24", "table", "100");
  ip("-n", ns.host, "route", "add", "local", "10.99.0.0/24", "dev", "lo", "table", "local");
  hd = await HostdFixture.start({ netns: ns.host });
});

afterAll(async () => {
  await hd?.cleanup();
  ns?.cleanup();
});

/** One network.create frame straight to hostd, past the client's own copy of the schema. */
const raw = (params: unknown) => sendFrame(hd.socketPath, JSON.stringify({ id: "r1", method: "network.create", params }));

async function refusal(p: Promise<unknown>): Promise<KvmError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  if (!(e instanceof KvmError)) throw new Error(`expected a refusal, got ${JSON.stringify(e)}`);
  return e;
}

const ruleset = () => nsExec(ns.host, "nft", ["list", "ruleset"]);

test("ranges the host reserves are refused by the schema, by the client and by hostd, the range named", async () => {
  const before = { inventory: ns.inventory(), rules: ruleset() };
  for (const [cidr, words] of [
    ["127.0.0.0/8", /127\.0\.0\.0\/8 \(loopback\)/],
    ["127.1.0.0/16", /loopback/],
    ["169.254.0.0/16", /169\.254\.0\.0\/16 \(link-local\)/],
    ["224.0.0.0/8", /224\.0\.0\.0\/4 \(multicast\)/],
    ["240.0.0.0/8", /240\.0\.0\.0\/4 \(reserved for future use\)/],
    ["0.0.0.0/8", /0\.0\.0\.0\/8 \(unspecified/],
    ["255.255.255.248/29", /255\.255\.255\.255\/32 \(the limited broadcast address\)/],
  ] as const) {
    for (const mode of ["nat", "isolated"] as const) {
      const e = await refusal(hd.client().network.create({ name: "reserved", mode, ipv4: { cidr } }));
      expect([cidr, e.code]).toEqual([cidr, "invalid_params"]);
      expect(e.message).toMatch(words);
      const r = await raw({ name: "reserved", mode, ipv4: { cidr } });
      expect([cidr, r.error?.code]).toEqual([cidr, "invalid_params"]);
      expect(r.error!.message).toMatch(words);
    }
  }
  expect((await hd.client().network.list()).networks).toEqual([]);
  expect({ inventory: ns.inventory(), rules: ruleset() }).toEqual(before);
});

test("a subnet any routing table or interface of the host has is refused, the route or interface named; nothing is made", async () => {
  const c = hd.client();
  const before = { inventory: ns.inventory(), rules: ruleset() };
  for (const [cidr, words] of [
    ["10.88.0.0/16", /overlaps 10\.88\.0\.0\/24, the address 10\.88\.0\.1\/24 of interface pkvm-addr/],
    ["10.66.0.128/25", /overlaps 10\.66\.0\.0\/24, a route on pkvm-addr in routing table 200/],
    ["10.77.0.0/24", /overlaps 10\.77\.0\.0\/24, a blackhole route in routing table 100/],
    ["10.99.0.0/25", /overlaps 10\.99\.0\.0\/24, a local route on lo in routing table local/],
  ] as const) {
    const e = await refusal(c.network.create({ name: "taken", mode: "isolated", ipv4: { cidr } }));
    expect([cidr, e.code]).toEqual([cidr, "conflict"]);
    expect(e.message).toMatch(words);
  }
  expect((await c.network.list()).networks).toEqual([]);
  expect({ inventory: ns.inventory(), rules: ruleset() }).toEqual(before);
  // A free subnet still works: the checks refuse what is taken, not everything.
  const ok = await c.network.create({ name: "free", mode: "isolated", ipv4: { cidr: "10.55.0.0/24" } });
  expect(ok.state).toBe("active");
  await c.network.delete({ name: "free" });
});
