import { NetworkSpec, NetworkUpdate, VmCreate } from ".";

/** The paths of the issues `NetworkSpec` reports for `input` (empty when it parses). */
function issues(input: unknown): string[] {
  const r = NetworkSpec.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => i.path.join("."));
}

const lab = { name: "lab", ipv4: { cidr: "10.20.0.0/24" } };

test("a minimal network is nat, with nothing else filled in", () => {
  expect(NetworkSpec.parse(lab)).toEqual({ name: "lab", mode: "nat", ipv4: { cidr: "10.20.0.0/24" } });
  expect(NetworkSpec.parse({ ...lab, mode: "isolated" }).mode).toBe("isolated");
  expect(NetworkSpec.parse({ ...lab, dhcp: { start: "10.20.0.10", end: "10.20.0.20" } }).dhcp).toEqual({ start: "10.20.0.10", end: "10.20.0.20", leaseSeconds: 3600 });
  expect(NetworkSpec.parse({ name: "lan", mode: "bridge", bridge: "br0" })).toEqual({ name: "lan", mode: "bridge", bridge: "br0" });
});

test("bridge mode needs a bridge and takes no addressing", () => {
  expect(issues({ name: "lan", mode: "bridge" })).toEqual(["bridge"]);
  expect(issues({ name: "lan", mode: "bridge", bridge: "br0", ipv4: { cidr: "10.20.0.0/24" } })).toEqual(["ipv4"]);
  expect(issues({ name: "lan", mode: "bridge", bridge: "br0", domain: "lab.internal" })).toEqual(["domain"]);
});

test("nat and isolated networks need ipv4", () => {
  expect(issues({ name: "lab" })).toEqual(["ipv4"]);
  expect(issues({ name: "lab", mode: "isolated" })).toEqual(["ipv4"]);
});

test("the subnet: host bits zero, /8 to /29", () => {
  expect(issues({ name: "lab", ipv4: { cidr: "10.20.0.1/24" } })).toEqual(["ipv4.cidr"]);
  expect(issues({ name: "lab", ipv4: { cidr: "10.20.0.0/30" } })).toEqual(["ipv4.cidr"]);
  expect(issues({ name: "lab", ipv4: { cidr: "10.0.0.0/7" } })).toEqual(["ipv4.cidr"]);
  expect(issues({ name: "lab", ipv4: { cidr: "10.20.0.0" } })).toEqual(["ipv4.cidr"]);
  expect(issues({ name: "lab", ipv4: { cidr: "10.0.0.0/8" } })).toEqual([]);
  expect(issues({ name: "lab", ipv4: { cidr: "10.20.0.8/29" } })).toEqual([]);
});

test("subnets the host reserves are refused, with the range named", () => {
  for (const [cidr, words] of [
    ["127.0.0.0/8", /127\.0\.0\.0\/8 \(loopback\)/],
    ["169.254.0.0/16", /link-local/],
    ["224.0.0.0/8", /multicast/],
    ["240.0.0.0/8", /reserved for future use/],
    ["0.0.0.0/8", /unspecified/],
    ["255.255.255.248/29", /limited broadcast/],
  ] as const) {
    const r = NetworkSpec.safeParse({ name: "lab", ipv4: { cidr } });
    expect(r.success).toBe(false);
    expect(r.error!.issues).toEqual([expect.objectContaining({ path: ["ipv4", "cidr"], message: expect.stringMatching(words) })]);
  }
  expect(issues({ name: "lab", ipv4: { cidr: "100.64.0.0/24" } })).toEqual([]);
});

test("the gateway is a host address of the subnet", () => {
  const gw = (gateway: string) => issues({ name: "lab", ipv4: { cidr: "10.20.0.0/24", gateway } });
  expect(gw("10.20.0.254")).toEqual([]);
  expect(gw("10.20.1.1")).toEqual(["ipv4.gateway"]);
  expect(gw("10.20.0.0")).toEqual(["ipv4.gateway"]);
  expect(gw("10.20.0.255")).toEqual(["ipv4.gateway"]);
});

test("the DHCP range: inside the subnet, in order, clear of the gateway", () => {
  const dhcp = (start: string, end: string, gateway?: string) =>
    issues({ name: "lab", ipv4: { cidr: "10.20.0.0/24", ...(gateway && { gateway }) }, dhcp: { start, end } });
  expect(dhcp("10.20.0.100", "10.20.0.200")).toEqual([]);
  expect(dhcp("10.20.0.200", "10.20.0.100")).toEqual(["dhcp"]);
  expect(dhcp("10.20.0.2", "10.20.0.200", "10.20.0.50")).toEqual(["dhcp"]);
  expect(dhcp("10.20.0.2", "10.20.0.200", "10.20.0.200")).toEqual(["dhcp"]);
  expect(dhcp("10.20.0.2", "10.20.0.200", "10.20.0.201")).toEqual([]);
  // The network address is not a host address, and this range also holds the default gateway .1.
  expect(dhcp("10.20.0.0", "10.20.0.200")).toEqual(["dhcp.start", "dhcp"]);
  expect(dhcp("10.20.0.2", "10.20.1.20")).toEqual(["dhcp.end"]);
  expect(issues({ ...lab, dhcp: { start: "10.20.0.10", end: "10.20.0.20", leaseSeconds: 60 } })).toEqual(["dhcp.leaseSeconds"]);
  expect(issues({ ...lab, dhcp: { start: "10.20.0.10", end: "10.20.0.20", extra: 1 } })).toEqual(["dhcp"]);
});

test("interface names are at most 15 characters; domains are lowercase labels", () => {
  expect(issues({ ...lab, bridge: "a".repeat(15) })).toEqual([]);
  expect(issues({ ...lab, bridge: "a".repeat(16) })).toEqual(["bridge"]);
  expect(issues({ ...lab, bridge: "br 0" })).toEqual(["bridge"]);
  expect(issues({ ...lab, domain: "lab.internal" })).toEqual([]);
  expect(issues({ ...lab, domain: "Lab.internal" })).toEqual(["domain"]);
  expect(issues({ ...lab, domain: "lab..internal" })).toEqual(["domain"]);
  expect(issues({ ...lab, domain: "-lab.internal" })).toEqual(["domain"]);
  expect(issues({ ...lab, mtu: 575 })).toEqual(["mtu"]);
  expect(issues({ ...lab, mtu: 9000 })).toEqual([]);
  expect(issues({ ...lab, foo: 1 })).toEqual([""]);
});

test("an update must change something and knows only its own keys", () => {
  expect(NetworkUpdate.safeParse({ name: "lab" }).success).toBe(false);
  expect(NetworkUpdate.safeParse({ name: "lab", mode: "isolated" }).success).toBe(true);
  expect(NetworkUpdate.safeParse({ name: "lab", domain: null }).success).toBe(true);
  expect(NetworkUpdate.safeParse({ name: "lab", mtu: 1400, foo: 1 }).success).toBe(false);
  // The subnet and the bridge make a different network: not updatable.
  expect(NetworkUpdate.safeParse({ name: "lab", ipv4: { cidr: "10.30.0.0/24" } }).success).toBe(false);
  expect(NetworkUpdate.safeParse({ name: "lab", mode: "bridge" }).success).toBe(false);
});

describe("VM NICs", () => {
  const vm = (networkInterfaces: unknown[]) => VmCreate.safeParse({ name: "x", kernel: { path: "/k" }, networkInterfaces });

  test("a NIC on a network parses with model virtio", () => {
    const r = vm([{ network: "lab", ip: "10.20.0.5" }]);
    expect(r.success && r.data.networkInterfaces).toEqual([{ network: "lab", ip: "10.20.0.5", model: "virtio" }]);
    const e = vm([{ network: "lab", model: "e1000e" }]);
    expect(e.success && e.data.networkInterfaces).toEqual([{ network: "lab", model: "e1000e" }]);
  });

  test("a user NIC still parses beside a network NIC", () => {
    const r = vm([{ type: "user" }, { network: "lab" }]);
    expect(r.success && r.data.networkInterfaces).toEqual([
      { type: "user", model: "virtio", portForwards: [] },
      { network: "lab", model: "virtio" },
    ]);
  });

  test("refused: duplicate explicit MACs, unknown keys, bad ip or network name", () => {
    const mac = "52:54:00:aa:bb:cc";
    expect(vm([{ network: "lab", mac }, { network: "lab2", mac: "52:54:00:aa:bb:cd" }]).success).toBe(true);
    expect(vm([{ network: "lab", mac }, { network: "lab2", mac }]).success).toBe(false);
    expect(vm([{ network: "lab", mac }, { type: "user", mac }]).success).toBe(false);
    expect(vm([{ network: "lab", foo: 1 }]).success).toBe(false);
    expect(vm([{ type: "user", network: "lab" }]).success).toBe(false);
    expect(vm([{ network: "lab", ip: "10.20.0.256" }]).success).toBe(false);
    expect(vm([{ network: "Lab" }]).success).toBe(false);
  });
});

test("malformed addresses are reported as issues, never thrown", () => {
  const bad = [
    { name: "lab", ipv4: { cidr: "10.20.0.0/24", gateway: "10.20.0" } },
    { name: "lab", ipv4: { cidr: "10.20.0.0/24" }, dhcp: { start: "x", end: "10.20.0.20" } },
  ];
  for (const b of bad) {
    const r = NetworkSpec.safeParse(b);
    expect(r.success).toBe(false);
  }
});

test("a DHCP range holding the default gateway (first host) is refused", () => {
  const r = NetworkSpec.safeParse({ name: "lab", ipv4: { cidr: "10.20.0.0/24" }, dhcp: { start: "10.20.0.1", end: "10.20.0.100" } });
  expect(r.success).toBe(false);
  expect(r.error!.issues.map((i) => i.message)).toContain("the DHCP range 10.20.0.1-10.20.0.100 must not include the gateway 10.20.0.1");
});
