import { DnsmasqConfig, dnsmasqArgv, parseLeases, renderDhcpHosts } from "./dnsmasq";

const nat: DnsmasqConfig = {
  bridge: "kvbr-0123456789",
  gateway: "10.20.0.1",
  netmask: "255.255.255.0",
  dhcpStart: "10.20.0.2",
  dhcpEnd: "10.20.0.254",
  leaseSeconds: 3600,
  maxLeases: 253,
  router: true,
  upstreamDns: true,
  pidFile: "/s/net/dnsmasq.pid",
  leaseFile: "/s/net/leases",
  hostsFile: "/s/net/hosts",
};
const isolated: DnsmasqConfig = { ...nat, router: false, upstreamDns: false };

test("always: no config from /etc, only the bridge, no ping delay", () => {
  for (const c of [nat, isolated]) {
    const argv = dnsmasqArgv(c);
    for (const a of ["--conf-file=/dev/null", "--no-hosts", "--bind-interfaces", "--except-interface=lo", "--no-ping", "--interface=kvbr-0123456789"]) {
      expect(argv).toContain(a);
    }
    expect(argv).toContain("--pid-file=/s/net/dnsmasq.pid");
    expect(argv).toContain("--dhcp-leasefile=/s/net/leases");
    expect(argv).toContain("--dhcp-hostsfile=/s/net/hosts");
    expect(argv).toContain("--dhcp-lease-max=253");
    expect(argv.filter((a) => a.startsWith("--interface="))).toHaveLength(1);
    // Every option is one argv element of the --long=value form: nothing for a shell or a split to misread.
    for (const a of argv) expect(a).toMatch(/^--[a-z-]+(=\S+)?$/);
  }
});

test("--dhcp-range is start,end,netmask,<lease>s", () => {
  const ranges = dnsmasqArgv({ ...nat, dhcpStart: "10.20.0.100", dhcpEnd: "10.20.0.200", netmask: "255.255.255.128", leaseSeconds: 120 }).filter((a) => a.startsWith("--dhcp-range="));
  expect(ranges).toEqual(["--dhcp-range=10.20.0.100,10.20.0.200,255.255.255.128,120s"]);
});

test("isolated: no upstream DNS and an empty router option; nat: neither", () => {
  const iso = dnsmasqArgv(isolated);
  expect(iso).toContain("--no-resolv");
  expect(iso).toContain("--dhcp-option=option:router");
  const n = dnsmasqArgv(nat);
  expect(n).not.toContain("--no-resolv");
  expect(n.some((a) => a.startsWith("--dhcp-option=option:router"))).toBe(false);
});

test("a domain adds --domain, --local and --expand-hosts; an MTU adds its DHCP option", () => {
  const without = dnsmasqArgv(nat);
  expect(without.some((a) => a.startsWith("--domain=") || a.startsWith("--local=") || a === "--expand-hosts")).toBe(false);
  expect(without.some((a) => a.startsWith("--dhcp-option=option:mtu"))).toBe(false);
  const argv = dnsmasqArgv({ ...nat, domain: "lab.internal", mtu: 1400 });
  expect(argv).toEqual(expect.arrayContaining(["--domain=lab.internal", "--local=/lab.internal/", "--expand-hosts", "--dhcp-option=option:mtu,1400"]));
});

test("renderDhcpHosts: mac[,ip][,hostname], one host a line", () => {
  expect(
    renderDhcpHosts([
      { mac: "52:54:00:aa:bb:01", ip: "10.20.0.5", hostname: "web" },
      { mac: "52:54:00:aa:bb:02", hostname: "db" },
      { mac: "52:54:00:aa:bb:03" },
      { mac: "52:54:00:aa:bb:04", ip: "10.20.0.9" },
    ]),
  ).toBe("52:54:00:aa:bb:01,10.20.0.5,web\n52:54:00:aa:bb:02,db\n52:54:00:aa:bb:03\n52:54:00:aa:bb:04,10.20.0.9\n");
  expect(renderDhcpHosts([])).toBe("");
});

test("parseLeases reads IPv4 leases and skips the rest", () => {
  const text = [
    "1735689600 52:54:00:AA:BB:01 10.20.0.5 web 01:52:54:00:aa:bb:01",
    "0 52:54:00:aa:bb:02 10.20.0.6 * *",
    "duid 00:01:00:01:2c:1f:aa:bb:52:54:00:00:00:01",
    "1735689600 1234567 fd00::5 web6 00:01:00:01:2c:1f",
    "garbage",
    "",
    "soon 52:54:00:aa:bb:03 10.20.0.7 x *",
    "1735689600 52:54:00:aa:bb 10.20.0.8 short-mac *",
    "1735689600 52:54:00:aa:bb:04 not-an-ip x *",
    "  1735689700   52:54:00:aa:bb:05   10.20.0.9   spaced   *  ",
  ].join("\n");
  expect(parseLeases(text)).toEqual([
    { mac: "52:54:00:aa:bb:01", ip: "10.20.0.5", hostname: "web", expiry: 1735689600 },
    { mac: "52:54:00:aa:bb:02", ip: "10.20.0.6", hostname: null, expiry: 0 },
    { mac: "52:54:00:aa:bb:05", ip: "10.20.0.9", hostname: "spaced", expiry: 1735689700 },
  ]);
  expect(parseLeases("")).toEqual([]);
});
