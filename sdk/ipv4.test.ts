import { contains, defaultAddressing, formatCidr, intToIp, ipToInt, isHostAddress, netmask, overlaps, parseCidr, reservedOverlap } from "./ipv4";

test("ipToInt and intToIp round-trip, and ipToInt refuses what is not a dotted quad", () => {
  expect(ipToInt("10.20.0.1")).toBe(0x0a140001);
  expect(ipToInt("255.255.255.255")).toBe(0xffffffff);
  expect(intToIp(0xc0a80a01)).toBe("192.168.10.1");
  expect(intToIp(ipToInt("172.16.254.3"))).toBe("172.16.254.3");
  for (const bad of ["1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.x", "", "1..2.3", " 1.2.3.4"]) {
    expect(() => ipToInt(bad)).toThrow(/not an IPv4 address/);
  }
});

test("parseCidr gives base, prefix and size", () => {
  expect(parseCidr("10.20.0.0/24")).toEqual({ base: ipToInt("10.20.0.0"), prefix: 24, size: 256 });
  expect(parseCidr("0.0.0.0/0")).toEqual({ base: 0, prefix: 0, size: 2 ** 32 });
  expect(parseCidr("192.168.1.7/32")).toEqual({ base: ipToInt("192.168.1.7"), prefix: 32, size: 1 });
  expect(formatCidr(parseCidr("172.16.0.0/12"))).toBe("172.16.0.0/12");
});

test("parseCidr: host bits are an error when strict, masked off otherwise", () => {
  expect(() => parseCidr("10.20.0.5/24")).toThrow(/host bits set.*10\.20\.0\.0\/24/);
  expect(() => parseCidr("10.20.0.5/24", true)).toThrow();
  expect(formatCidr(parseCidr("10.20.0.5/24", false))).toBe("10.20.0.0/24");
  expect(formatCidr(parseCidr("10.20.3.129/25", false))).toBe("10.20.3.128/25");
});

test("parseCidr refuses prefixes over 32 and garbage", () => {
  expect(() => parseCidr("10.0.0.0/33")).toThrow(/prefix over 32/);
  expect(() => parseCidr("10.0.0.0/99")).toThrow(/prefix over 32/);
  for (const bad of ["10.0.0.0", "10.0.0.0/", "/24", "10.0.0.0/24/1", "10.0.0.0/-1", "10.0.0.0/100", "abc", "", "10.0.0/8", "300.0.0.0/8", " 10.0.0.0/8"]) {
    expect(() => parseCidr(bad)).toThrow();
  }
});

test("contains: inclusive of network and broadcast, exclusive outside", () => {
  const c = parseCidr("10.20.0.0/24");
  expect(contains(c, "10.20.0.0")).toBe(true);
  expect(contains(c, "10.20.0.255")).toBe(true);
  expect(contains(c, "10.20.0.77")).toBe(true);
  expect(contains(c, "10.20.1.0")).toBe(false);
  expect(contains(c, "10.19.255.255")).toBe(false);
  expect(contains(c, ipToInt("10.20.0.9"))).toBe(true);
  expect(contains(parseCidr("0.0.0.0/0"), "255.255.255.255")).toBe(true);
});

test("isHostAddress excludes the network and broadcast addresses", () => {
  const c = parseCidr("10.20.0.0/24");
  expect(isHostAddress(c, "10.20.0.1")).toBe(true);
  expect(isHostAddress(c, "10.20.0.254")).toBe(true);
  expect(isHostAddress(c, "10.20.0.0")).toBe(false);
  expect(isHostAddress(c, "10.20.0.255")).toBe(false);
  expect(isHostAddress(c, "10.20.1.1")).toBe(false);
  const small = parseCidr("192.168.5.8/29");
  expect(["192.168.5.8", "192.168.5.9", "192.168.5.14", "192.168.5.15"].map((ip) => isHostAddress(small, ip))).toEqual([false, true, true, false]);
  expect(() => isHostAddress(c, "nope")).toThrow();
});

test("overlaps: nested, identical, adjacent and disjoint", () => {
  const p = parseCidr;
  expect(overlaps(p("10.0.0.0/8"), p("10.20.0.0/24"))).toBe(true);
  expect(overlaps(p("10.20.0.0/24"), p("10.0.0.0/8"))).toBe(true);
  expect(overlaps(p("10.20.0.0/24"), p("10.20.0.0/24"))).toBe(true);
  expect(overlaps(p("10.20.0.0/24"), p("10.20.1.0/24"))).toBe(false);
  expect(overlaps(p("10.20.0.0/23"), p("10.20.1.0/24"))).toBe(true);
  expect(overlaps(p("10.20.0.0/25"), p("10.20.0.128/25"))).toBe(false);
  expect(overlaps(p("192.168.0.0/16"), p("10.0.0.0/8"))).toBe(false);
});

test("netmask in dotted form, including the edge prefixes", () => {
  expect(netmask(24)).toBe("255.255.255.0");
  expect(netmask(29)).toBe("255.255.255.248");
  expect(netmask(8)).toBe("255.0.0.0");
  expect(netmask(17)).toBe("255.255.128.0");
  expect(netmask(0)).toBe("0.0.0.0");
  expect(netmask(32)).toBe("255.255.255.255");
});

test("defaultAddressing: gateway first host, DHCP second host to last host", () => {
  expect(defaultAddressing(parseCidr("10.20.0.0/24"))).toEqual({ gateway: "10.20.0.1", dhcpStart: "10.20.0.2", dhcpEnd: "10.20.0.254" });
  expect(defaultAddressing(parseCidr("192.168.5.8/29"))).toEqual({ gateway: "192.168.5.9", dhcpStart: "192.168.5.10", dhcpEnd: "192.168.5.14" });
  expect(defaultAddressing(parseCidr("10.0.0.0/16"))).toEqual({ gateway: "10.0.0.1", dhcpStart: "10.0.0.2", dhcpEnd: "10.0.255.254" });
});

test("reservedOverlap names the host's own and non-unicast ranges, and leaves private and test ranges alone", () => {
  const r = (c: string) => reservedOverlap(parseCidr(c))?.what;
  expect(r("0.0.0.0/8")).toMatch(/unspecified/);
  expect(r("127.0.0.0/8")).toBe("loopback");
  expect(r("127.10.0.0/24")).toBe("loopback");
  expect(r("169.254.10.0/24")).toBe("link-local");
  expect(r("169.0.0.0/8")).toBe("link-local");
  expect(r("224.0.0.0/8")).toBe("multicast");
  expect(r("239.255.0.0/16")).toBe("multicast");
  expect(r("240.0.0.0/8")).toMatch(/future/);
  expect(r("255.255.255.248/29")).toMatch(/limited broadcast/);
  for (const ok of ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "203.0.113.0/24", "1.0.0.0/8", "223.255.255.0/24", "126.255.255.248/29", "128.0.0.0/8"]) {
    expect([ok, r(ok)]).toEqual([ok, undefined]);
  }
});
