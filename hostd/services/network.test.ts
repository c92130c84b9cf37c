import { NetworkSpec } from "../../sdk/protocol";
import { defaultBridgeName, resolveNetwork } from "./network";

const ID = "5f0c2a8e-8d7b-4a51-9f3e-2b1c0d9e8f70";
const resolve = (spec: unknown, bridge = "kvbr-0123456789") => resolveNetwork({ id: ID, name: "lab", spec: NetworkSpec.parse(spec), bridge });

test("defaults for a /24: gateway .1, DHCP .2-.254, one-hour leases", () => {
  expect(resolve({ name: "lab", ipv4: { cidr: "10.20.0.0/24" } })).toEqual({
    id: ID,
    name: "lab",
    mode: "nat",
    bridge: "kvbr-0123456789",
    mtu: undefined,
    domain: undefined,
    ipv4: { cidr: "10.20.0.0/24", prefix: 24, gateway: "10.20.0.1", dhcpStart: "10.20.0.2", dhcpEnd: "10.20.0.254", leaseSeconds: 3600 },
  });
  expect(resolve({ name: "lab", ipv4: { cidr: "192.168.5.8/29" } }).ipv4).toMatchObject({ gateway: "192.168.5.9", dhcpStart: "192.168.5.10", dhcpEnd: "192.168.5.14" });
});

test("the DHCP range takes the larger side of a given gateway", () => {
  expect(resolve({ name: "lab", ipv4: { cidr: "10.20.0.0/24", gateway: "10.20.0.254" } }).ipv4).toMatchObject({
    gateway: "10.20.0.254",
    dhcpStart: "10.20.0.1",
    dhcpEnd: "10.20.0.253",
  });
  expect(resolve({ name: "lab", ipv4: { cidr: "10.20.0.0/24", gateway: "10.20.0.100" } }).ipv4).toMatchObject({ dhcpStart: "10.20.0.101", dhcpEnd: "10.20.0.254" });
  expect(resolve({ name: "lab", ipv4: { cidr: "10.20.0.0/24", gateway: "10.20.0.200" } }).ipv4).toMatchObject({ dhcpStart: "10.20.0.1", dhcpEnd: "10.20.0.199" });
});

test("an explicit DHCP range and lease time are kept; domain and MTU pass through", () => {
  const n = resolve({ name: "lab", mode: "isolated", ipv4: { cidr: "10.20.0.0/24" }, dhcp: { start: "10.20.0.50", end: "10.20.0.60", leaseSeconds: 600 }, domain: "lab.internal", mtu: 1400 });
  expect(n.mode).toBe("isolated");
  expect(n.domain).toBe("lab.internal");
  expect(n.mtu).toBe(1400);
  expect(n.ipv4).toEqual({ cidr: "10.20.0.0/24", prefix: 24, gateway: "10.20.0.1", dhcpStart: "10.20.0.50", dhcpEnd: "10.20.0.60", leaseSeconds: 600 });
});

test("bridge mode has no ipv4", () => {
  const n = resolve({ name: "lan", mode: "bridge", bridge: "br0" }, "br0");
  expect(n.ipv4).toBeUndefined();
  expect(n).toMatchObject({ mode: "bridge", bridge: "br0" });
});

test("defaultBridgeName: kvbr- + 10 hex digits (15 characters), stable per id", () => {
  const b = defaultBridgeName(ID);
  expect(b).toMatch(/^kvbr-[0-9a-f]{10}$/);
  expect(b).toHaveLength(15);
  expect(defaultBridgeName(ID)).toBe(b);
  expect(defaultBridgeName("11111111-2222-3333-4444-555555555555")).not.toBe(b);
});
