/**
 * IPv4 arithmetic for network specs: parsing CIDRs, containment and
 * overlap. Pure and dependency-free so the protocol schemas (client side)
 * and hostd (host side) apply the very same rules.
 */

/** An IPv4 address as an unsigned 32-bit number. */
export function ipToInt(ip: string): number {
  const parts = ip.split(".");
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${ip}`);
    n = n * 256 + Number(p);
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export interface Cidr {
  /** Network address. */
  base: number;
  prefix: number;
  /** Number of addresses, network and broadcast included. */
  size: number;
}

/** Parses `a.b.c.d/n`; with `strict`, host bits must be zero. Throws on bad input. */
export function parseCidr(s: string, strict = true): Cidr {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(s);
  if (!m) throw new Error(`not an IPv4 CIDR: ${s}`);
  const prefix = Number(m[2]);
  if (prefix > 32) throw new Error(`prefix over 32: ${s}`);
  const addr = ipToInt(m[1]!);
  const size = 2 ** (32 - prefix);
  const base = addr - (addr % size);
  if (strict && base !== addr) throw new Error(`host bits set in ${s}: the network is ${intToIp(base)}/${prefix}`);
  return { base, prefix, size };
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefix}`;
}

export function contains(c: Cidr, ip: string | number): boolean {
  const n = typeof ip === "number" ? ip : ipToInt(ip);
  return n >= c.base && n < c.base + c.size;
}

/** A usable host address: inside, and neither the network nor the broadcast address. */
export function isHostAddress(c: Cidr, ip: string): boolean {
  const n = ipToInt(ip);
  return contains(c, n) && n !== c.base && n !== c.base + c.size - 1;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

/**
 * Ranges that are not ordinary unicast for a host's own networks: the host
 * itself answers there (loopback), links configure themselves there
 * (link-local), or they are not one host's addresses at all. A VM network
 * on one of them would take the host's own addresses (a bridge with
 * 127.0.0.1/8, routes and firewall rules for it), so none may be used.
 * The limited broadcast comes first: it is named when it is the culprit.
 */
export const RESERVED_IPV4: readonly { cidr: string; what: string }[] = [
  { cidr: "0.0.0.0/8", what: "unspecified (\"this network\")" },
  { cidr: "127.0.0.0/8", what: "loopback" },
  { cidr: "169.254.0.0/16", what: "link-local" },
  { cidr: "224.0.0.0/4", what: "multicast" },
  { cidr: "255.255.255.255/32", what: "the limited broadcast address" },
  { cidr: "240.0.0.0/4", what: "reserved for future use" },
];

/** The first reserved range `c` overlaps, if any. */
export function reservedOverlap(c: Cidr): { cidr: string; what: string } | undefined {
  return RESERVED_IPV4.find((r) => overlaps(c, parseCidr(r.cidr)));
}

/** Netmask in dotted form (dnsmasq and DHCP want it). */
export function netmask(prefix: number): string {
  return intToIp(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
}

/**
 * Defaults of a network's addressing: the gateway is the first host unless
 * given, and DHCP hands out every host address on the larger side of it
 * (for the default gateway: the second host up to the last).
 */
export function defaultAddressing(c: Cidr, gateway?: string): { gateway: string; dhcpStart: string; dhcpEnd: string } {
  const first = c.base + 1;
  const last = c.base + c.size - 2;
  const gw = gateway !== undefined ? ipToInt(gateway) : first;
  const [start, end] = gw - first >= last - gw ? [first, gw - 1] : [gw + 1, last];
  return { gateway: intToIp(gw), dhcpStart: intToIp(start), dhcpEnd: intToIp(end) };
}
