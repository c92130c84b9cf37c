/**
 * Links, bridges, taps and addresses through iproute2 (`ip -j`), one
 * execFile per step, never a shell. A driver: it knows interface names and
 * addresses, not Networks or VMs.
 *
 * Every bridge and tap it makes carries its hostd's mark as the link's alias
 * (`pulumi-kvm host <host id>`), and it never deletes a link marked by
 * another hostd: two hostds in one network namespace cannot take or remove
 * each other's links, even when a name comes back (a user-chosen bridge name,
 * a link recreated while its hostd was down).
 */
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import * as path from "node:path";
import { KvmError } from "../../sdk/errors";
import { ExecError, run } from "../exec";

const MARK_PREFIX = "pulumi-kvm host ";

/** The device QEMU opens a VM's tap through. */
export const TUN = "/dev/net/tun";

/** The alias hostd gives the links it makes. */
export function linkMark(hostId: string): string {
  return `${MARK_PREFIX}${hostId}`;
}

/** Whose a link is, from its alias: this hostd's, no hostd's mark (made before marks, or by the admin), or another hostd's. */
export type LinkOwner = "ours" | "unmarked" | { hostId: string };

export interface LinkInfo {
  name: string;
  /** `bridge`, `tun`, `veth`, ... (undefined for plain devices). */
  kind?: string;
  /** The bridge this link is a port of. */
  master?: string;
  mtu: number;
  up: boolean;
  /** The link's alias (ifalias): hostd's mark on the links it made. */
  alias?: string;
}

/** A prefix the host already uses: an interface's address, or a route of any routing table. */
export interface HostPrefix {
  /** `a.b.c.d/n` (host routes and addresses as they are, e.g. `10.0.0.5/32` or `10.0.0.5/24`). */
  dst: string;
  dev?: string;
  from: { kind: "address" } | { kind: "route"; table: string; /** Unless unicast: local, broadcast, blackhole, unreachable, ... */ type?: string };
}

interface IpJsonLink {
  ifname: string;
  mtu: number;
  flags?: string[];
  master?: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string };
}

const IP = "ip";

function toLinkInfo(l: IpJsonLink): LinkInfo {
  return { name: l.ifname, kind: l.linkinfo?.info_kind, master: l.master, mtu: l.mtu, up: (l.flags ?? []).includes("UP"), ...(l.ifalias && { alias: l.ifalias }) };
}

export class NetlinkDriver {
  /** `hostId`: whose mark this driver puts on the links it makes; without one it marks nothing (and respects every mark). */
  constructor(readonly hostId?: string) {}

  /** Whose a link is, by its alias. */
  ownerOf(link: Pick<LinkInfo, "alias">): LinkOwner {
    const a = link.alias ?? "";
    if (!a.startsWith(MARK_PREFIX)) return "unmarked";
    const id = a.slice(MARK_PREFIX.length);
    return id === this.hostId ? "ours" : { hostId: id };
  }

  /** Puts this hostd's mark on a link (when adopting one made before marks). */
  async mark(name: string): Promise<void> {
    if (this.hostId) await run(IP, ["link", "set", "dev", name, "alias", linkMark(this.hostId)]);
  }

  async links(): Promise<LinkInfo[]> {
    const { stdout } = await run(IP, ["-j", "-d", "link", "show"]);
    return (JSON.parse(stdout || "[]") as IpJsonLink[]).map(toLinkInfo);
  }

  async link(name: string): Promise<LinkInfo | undefined> {
    try {
      const { stdout } = await run(IP, ["-j", "-d", "link", "show", "dev", name]);
      const l = (JSON.parse(stdout || "[]") as IpJsonLink[])[0];
      return l && toLinkInfo(l);
    } catch (e) {
      if (e instanceof ExecError && /does not exist|Cannot find device/i.test(e.stderr)) return undefined;
      throw e;
    }
  }

  /** The bridge a link is a port of, through sysfs (no exec): null when none, undefined when the link is gone. */
  masterOf(name: string): string | null | undefined {
    if (!this.exists(name)) return undefined;
    try {
      return path.basename(readlinkSync(path.join("/sys/class/net", name, "master")));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
  }

  /** Cheap existence check through sysfs (no exec), for the periodic health check. */
  exists(name: string): boolean {
    return existsSync(path.join("/sys/class/net", name));
  }

  /** A bridge without STP or forwarding delay: ports forward at once, as a VM network needs. */
  async createBridge(name: string): Promise<void> {
    await run(IP, ["link", "add", "name", name, "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
    await this.mark(name);
  }

  async setMtu(name: string, mtu: number): Promise<void> {
    await run(IP, ["link", "set", "dev", name, "mtu", String(mtu)]);
  }

  async setUp(name: string): Promise<void> {
    await run(IP, ["link", "set", "dev", name, "up"]);
  }

  /** Sets `addr/prefix` on `dev` (idempotent: replace). */
  async replaceAddress(dev: string, addr: string, prefix: number): Promise<void> {
    await run(IP, ["-4", "addr", "replace", `${addr}/${prefix}`, "dev", dev]);
  }

  /** Throws `conflict` when another hostd's mark is on the link: this hostd leaves it as it is. */
  private refuseForeign(name: string, doing: string): void {
    const owner = this.ownerOf({ alias: this.aliasOf(name) });
    if (typeof owner === "object") {
      throw new KvmError("conflict", `Interface "${name}" belongs to another hostd (host id ${owner.hostId}): this hostd does not ${doing} it.`, { link: name, hostId: owner.hostId });
    }
  }

  /** Deletes a link, unless another hostd's mark is on it (then `conflict`, and the link stays). */
  async deleteLink(name: string): Promise<void> {
    this.refuseForeign(name, "delete");
    try {
      await run(IP, ["link", "del", "dev", name]);
    } catch (e) {
      if (e instanceof ExecError && /does not exist|Cannot find device/i.test(e.stderr)) return;
      throw e;
    }
  }

  /** A persistent tap (it outlives the QEMU that opens it); `owner` (uid = gid) may open it without CAP_NET_ADMIN. */
  async createTap(name: string, owner?: number): Promise<void> {
    await run(IP, ["tuntap", "add", "dev", name, "mode", "tap", ...(owner !== undefined ? ["user", String(owner), "group", String(owner)] : [])]);
    await this.mark(name);
  }

  /** A link's alias through sysfs (no exec); undefined when the link does not exist or has none. */
  aliasOf(name: string): string | undefined {
    try {
      return readFileSync(path.join("/sys/class/net", name, "ifalias"), "utf8").trim() || undefined;
    } catch {
      return undefined;
    }
  }

  /** The uid a tap belongs to (-1: anyone with CAP_NET_ADMIN), through sysfs; undefined when it does not exist. */
  tapOwner(name: string): number | undefined {
    try {
      return Number(readFileSync(path.join("/sys/class/net", name, "owner"), "utf8").trim());
    } catch {
      return undefined;
    }
  }

  /** Makes `dev` a port of `bridge` and brings it up (neither may be another hostd's). */
  async attach(dev: string, bridge: string, mtu?: number): Promise<void> {
    this.refuseForeign(dev, "take");
    this.refuseForeign(bridge, "put taps on");
    await run(IP, ["link", "set", "dev", dev, "master", bridge, ...(mtu !== undefined ? ["mtu", String(mtu)] : []), "up"]);
  }

  /**
   * Every IPv4 prefix the host's namespace uses: the addresses of all its
   * interfaces (and point-to-point peers), then the routes of every routing
   * table (`table all`: main, local — where the kernel keeps addresses and
   * AnyIP ranges — and any other). Default routes are left out.
   */
  async ipv4Prefixes(): Promise<HostPrefix[]> {
    const [addrs, routes] = await Promise.all([run(IP, ["-j", "-4", "addr", "show"]), run(IP, ["-j", "-4", "route", "show", "table", "all"])]);
    const out: HostPrefix[] = [];
    for (const l of JSON.parse(addrs.stdout || "[]") as { ifname: string; addr_info?: { local: string; address?: string; prefixlen: number }[] }[]) {
      for (const a of l.addr_info ?? []) {
        out.push({ dst: `${a.local}/${a.prefixlen}`, dev: l.ifname, from: { kind: "address" } });
        if (a.address !== undefined && a.address !== a.local) out.push({ dst: `${a.address}/${a.prefixlen}`, dev: l.ifname, from: { kind: "address" } });
      }
    }
    for (const r of JSON.parse(routes.stdout || "[]") as { dst: string; dev?: string; table?: string; type?: string }[]) {
      if (r.dst === "default") continue;
      out.push({
        dst: r.dst.includes("/") ? r.dst : `${r.dst}/32`,
        dev: r.dev,
        // ip leaves the table out for the main one.
        from: { kind: "route", table: r.table ?? "main", ...(r.type !== undefined && r.type !== "unicast" && { type: r.type }) },
      });
    }
    return out;
  }
}
