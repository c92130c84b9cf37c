/**
 * Networks: NAT, isolated and bridged L2 networks for VMs. For `nat` and
 * `isolated`, hostd owns a Linux bridge, one dnsmasq (DHCP + DNS) and its
 * rules in its own nftables table; for `bridge`, the bridge belongs to the
 * host's admin and hostd only adds taps to it.
 */
import { z } from "zod";
import { defaultAddressing, ipToInt, isHostAddress, parseCidr, reservedOverlap } from "../ipv4";
import { HostId, Name, Owner, Timestamp } from "./common";
import { fieldTable, specShape, updateShape } from "./fields";
import { defineMethod } from "./method";

export const NETWORK_LIMITS = {
  /** Larger networks than a /8 make no sense for VMs; smaller than /30 leave no room for a guest. */
  minPrefix: 8,
  maxPrefix: 29,
  minMtu: 576,
  maxMtu: 9000,
  minLeaseSeconds: 120,
  maxLeaseSeconds: 30 * 86_400,
} as const;

/** A Linux interface name: the kernel allows at most 15 bytes (IFNAMSIZ - 1). */
export const IfName = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/, "must be a Linux interface name: 1-15 letters, digits, '_', '.' or '-' (the kernel's limit is 15 characters)");

/** An IPv4 network in CIDR form with the host bits zero, e.g. 10.20.0.0/24, clear of the ranges the host reserves. */
export const Ipv4Cidr = z.string().superRefine((s, ctx) => {
  try {
    const c = parseCidr(s, true);
    if (c.prefix < NETWORK_LIMITS.minPrefix || c.prefix > NETWORK_LIMITS.maxPrefix) {
      ctx.addIssue({ code: "custom", message: `prefix must be /${NETWORK_LIMITS.minPrefix} to /${NETWORK_LIMITS.maxPrefix}` });
    }
    const r = reservedOverlap(c);
    if (r) {
      ctx.addIssue({
        code: "custom",
        message: `${s} overlaps ${r.cidr} (${r.what}), which no VM network may use: pick a private range such as 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16`,
      });
    }
  } catch (e) {
    ctx.addIssue({ code: "custom", message: `must be an IPv4 network like 10.20.0.0/24 (${(e as Error).message})` });
  }
});

/** A DNS domain of lowercase labels, e.g. `lab.internal`. */
export const DnsDomain = z
  .string()
  .max(200)
  .regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be a DNS domain of lowercase labels, e.g. lab.internal");

export const NetworkMode = z.enum([
  /** Private subnet; VMs reach the outside through masquerade on the host's default route. */
  "nat",
  /** Private subnet; VMs reach each other and the host, nothing else. */
  "isolated",
  /** Taps on an existing host bridge: VMs sit on the host's LAN, its DHCP serves them. */
  "bridge",
]);
export type NetworkMode = z.infer<typeof NetworkMode>;

export const Dhcp = z.strictObject({
  /** First address handed out. Default: the second host address. */
  start: z.ipv4(),
  /** Last address handed out. Default: the last host address. */
  end: z.ipv4(),
  leaseSeconds: z.int().min(NETWORK_LIMITS.minLeaseSeconds).max(NETWORK_LIMITS.maxLeaseSeconds).default(3600),
});

export const Ipv4Config = z.strictObject({
  cidr: Ipv4Cidr,
  /** The host's address on the bridge (the VMs' router and DNS server). Default: the first host address. */
  gateway: z.ipv4().optional(),
});

/** MTU of a network's bridge and taps. */
export const Mtu = z.int().min(NETWORK_LIMITS.minMtu).max(NETWORK_LIMITS.maxMtu);

/** Addressing rules shared by create and update (they are checked on the merged spec). */
function checkAddressing(n: { mode: NetworkMode; bridge?: string; ipv4?: { cidr: string; gateway?: string }; dhcp?: { start: string; end: string }; domain?: string }, ctx: z.RefinementCtx): void {
  if (n.mode === "bridge") {
    if (n.bridge === undefined) ctx.addIssue({ code: "custom", path: ["bridge"], message: "a bridge-mode network names the existing host bridge to attach VMs to" });
    for (const k of ["ipv4", "dhcp", "domain"] as const) {
      if (n[k] !== undefined) {
        ctx.addIssue({ code: "custom", path: [k], message: `a bridge-mode network has no ${k}: the host's LAN provides addressing (hostd only adds taps to the bridge)` });
      }
    }
    return;
  }
  if (n.ipv4 === undefined) {
    ctx.addIssue({ code: "custom", path: ["ipv4"], message: `a ${n.mode} network needs ipv4.cidr, e.g. { cidr: "10.20.0.0/24" }` });
    return;
  }
  let c;
  try {
    c = parseCidr(n.ipv4.cidr, true);
  } catch {
    return; // reported by Ipv4Cidr
  }
  // zod runs this refinement even when a field's own check failed: malformed addresses are reported there, not here.
  const valid = (ip: string | undefined): ip is string => {
    try {
      return ip !== undefined && ipToInt(ip) >= 0;
    } catch {
      return false;
    }
  };
  const gw = n.ipv4.gateway;
  if (gw !== undefined && valid(gw) && !isHostAddress(c, gw)) {
    ctx.addIssue({ code: "custom", path: ["ipv4", "gateway"], message: `gateway ${gw} must be a host address inside ${n.ipv4.cidr}` });
  }
  if (n.dhcp && valid(n.dhcp.start) && valid(n.dhcp.end)) {
    const { start, end } = n.dhcp;
    for (const [k, ip] of [["start", start], ["end", end]] as const) {
      if (!isHostAddress(c, ip)) ctx.addIssue({ code: "custom", path: ["dhcp", k], message: `${ip} must be a host address inside ${n.ipv4.cidr}` });
    }
    if (ipToInt(start) > ipToInt(end)) {
      ctx.addIssue({ code: "custom", path: ["dhcp"], message: `DHCP range start ${start} is after its end ${end}` });
    }
    // The gateway defaults to the first host address.
    const g = valid(gw) ? gw : defaultAddressing(c).gateway;
    if (ipToInt(g) >= ipToInt(start) && ipToInt(g) <= ipToInt(end)) {
      ctx.addIssue({ code: "custom", path: ["dhcp"], message: `the DHCP range ${start}-${end} must not include the gateway ${g}` });
    }
  }
}

/** Every field of a Network, once (see fields.ts for what is read from it). */
export const NETWORK_FIELDS = fieldTable({
  name: { schema: Name, required: true, doc: "Network name on the host; generated from the resource name when not given, and kept across updates.", defaultDoc: "`<namePrefix>-<hash>`, kept across updates", effect: "replace" },
  mode: {
    schema: NetworkMode,
    default: "nat",
    update: z.enum(["nat", "isolated"]),
    doc: "`nat` (private subnet, masqueraded out through the host's default route), `isolated` (VMs and the host only) or `bridge` (taps on an existing host bridge; the LAN's DHCP serves the VMs).",
    effect: "in-place",
    effectDoc: "`nat` ⇄ `isolated` in place (rules); to or from `bridge`: replace",
    replacesWhen: (a, b) => a === "bridge" || b === "bridge",
  },
  bridge: {
    schema: IfName,
    doc: "nat/isolated: the bridge hostd creates; bridge mode: the existing host bridge (required).",
    defaultDoc: "`kvbr-<hash>` (nat/isolated)",
    effect: "replace",
  },
  ipv4: {
    schema: Ipv4Config,
    doc: "The subnet `{ cidr, gateway? }` (nat/isolated). Loopback, link-local, multicast, reserved and 0.0.0.0/8 are refused at preview, and hostd refuses a subnet that any routing table or interface of the host already has.", defaultDoc: "gateway = first address", effect: "replace" },
  dhcp: {
    schema: Dhcp,
    removable: true,
    doc: "DHCP range and lease time `{ start, end, leaseSeconds? }`.",
    defaultDoc: "the subnet after the gateway, 3600 s",
    effect: "in-place",
    effectDoc: "in place (dnsmasq restarts; leases are kept)",
  },
  domain: {
    schema: DnsDomain,
    removable: true,
    doc: "DNS domain of the VMs: `<vm>.<domain>` resolves to the VM's address.",
    defaultDoc: "none (bare VM names resolve)",
    effect: "in-place",
  },
  mtu: { schema: Mtu, removable: true, doc: "MTU of the bridge and the VMs' taps.", defaultDoc: "kernel's (1500)", effect: "in-place", effectDoc: "in place, bridge and taps" },
});

const NetworkSpecObject = z.strictObject(specShape(NETWORK_FIELDS));

export const NetworkSpec = NetworkSpecObject.superRefine(checkAddressing);
export type NetworkSpec = z.output<typeof NetworkSpec>;
export type NetworkSpecInput = z.input<typeof NetworkSpec>;
/** A create: the spec, and who declares it (see {@link Owner}). */
export const NetworkCreate = NetworkSpecObject.extend({ owner: Owner.optional() }).superRefine(checkAddressing);
export type NetworkCreate = z.output<typeof NetworkCreate>;

/**
 * What changes in place: switching between nat and isolated, the DHCP
 * range and lease time, the domain, the MTU. The subnet, gateway and bridge
 * make a different network (replace it).
 */
export const NetworkUpdate = z
  .strictObject({ name: Name, ...updateShape(NETWORK_FIELDS) })
  .refine((u) => Object.keys(u).some((k) => k !== "name"), { message: "an update must change at least one property of the network" });
export type NetworkUpdate = z.output<typeof NetworkUpdate>;

/** Checks a merged spec (after an update) with the same rules as create. */
export function validateNetworkSpec(spec: NetworkSpec): z.ZodSafeParseResult<NetworkSpec> {
  return NetworkSpec.safeParse(spec);
}

export const Lease = z.strictObject({
  mac: z.string(),
  ip: z.string(),
  hostname: z.string().nullable(),
  expiresAt: Timestamp.nullable(),
});
export type Lease = z.infer<typeof Lease>;

export const NetworkInfo = z.strictObject({
  id: z.uuid(),
  name: Name,
  spec: NetworkSpec,
  /** Who declared it (null: made without an owner). */
  owner: Owner.nullable(),
  /** The bridge VMs' taps are attached to. */
  bridge: IfName,
  /** Addressing with defaults filled in (nat/isolated only). */
  ipv4: z.strictObject({ cidr: z.string(), gateway: z.string(), dhcpStart: z.string(), dhcpEnd: z.string(), leaseSeconds: z.int() }).nullable(),
  /** `active` when the bridge, dnsmasq and rules are all in place; `degraded` lists what is not (see problems). */
  state: z.enum(["active", "degraded"]),
  problems: z.array(z.string()),
  /** VMs with a NIC on this network. */
  vms: z.array(Name),
  /** dnsmasq's current leases (nat/isolated). */
  leases: z.array(Lease),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type NetworkInfo = z.infer<typeof NetworkInfo>;

export const NetworkRef = z.strictObject({ name: Name });
export const NetworkDelete = z.strictObject({
  name: Name,
  /** Delete only if the network still has this id (guards against deleting a namesake). */
  id: z.uuid().optional(),
  /** Delete only if the network is this owner's (`not_owner` otherwise). */
  owner: Owner.optional(),
  /** Delete only on this host (`wrong_host` anywhere else). */
  hostId: HostId.optional(),
});

export const networkCreate = defineMethod("network.create", NetworkCreate, NetworkInfo, { mutating: true });
export const networkGet = defineMethod("network.get", NetworkRef, NetworkInfo, { mutating: false });
export const networkList = defineMethod("network.list", z.strictObject({}), z.strictObject({ networks: z.array(NetworkInfo) }), { mutating: false });
export const networkUpdate = defineMethod("network.update", NetworkUpdate, NetworkInfo, { mutating: true });
export const networkDelete = defineMethod("network.delete", NetworkDelete, z.strictObject({ existed: z.boolean() }), { mutating: true });
