/**
 * The network service: the rules of Networks. For nat and isolated
 * networks hostd owns a bridge with the gateway address, one dnsmasq and
 * its rules in hostd's nftables table; for bridge mode the bridge is the
 * host admin's and hostd only adds taps (the VM service does that).
 *
 * Everything is (re)made idempotently by `ensure`, which runs on create, on
 * hostd start (after a host reboot nothing of it exists) and whenever the
 * health check finds a bridge or a dnsmasq gone. All changes to networks are
 * serialized: the subnet conflict checks and the one nftables table span
 * every network.
 *
 * Other hostds may share the network namespace: each has its own table (named
 * by its host id), its dnsmasq is found by a pid file in its own state
 * directory, and its bridges carry its mark (drivers/netlink.ts). A repair
 * here never takes over, re-addresses or deletes a bridge another hostd marked.
 */
import { randomUUID, createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { errors, KvmError } from "../../sdk/errors";
import { defaultAddressing, formatCidr, ipToInt, isHostAddress, netmask, overlaps, parseCidr } from "../../sdk/ipv4";
import { NetworkCreate, NetworkInfo, NetworkSpec, NetworkUpdate, validateNetworkSpec } from "../../sdk/protocol";
import { DnsmasqConfig, DnsmasqDriver, renderDhcpHosts } from "../drivers/dnsmasq";
import { LinkInfo, NetlinkDriver } from "../drivers/netlink";
import { LEGACY_NFT_TABLE, legacyTableVerdict, NftDriver } from "../drivers/nft";
import { closedAncestor } from "../files";
import { Logger } from "../log";
import { KeyedMutex } from "../mutex";
import { withRevert } from "../revert";
import { NetworkRecord, Store } from "../store";
import { checkDeletable, retryOfOwnCreate } from "./ownership";

type Rec = NetworkRecord<NetworkSpec>;

/** A NIC of some VM on a network, as the VM service reports it. */
export interface NetworkPort {
  vm: string;
  mac: string;
  ip?: string;
}

/** What the network service needs from the VM service (set once at wiring). */
export interface NetworkUsers {
  /** NICs on `network`, VM by VM, in spec order. */
  portsOn(network: string): NetworkPort[];
  /** Puts running VMs' taps back on a bridge that was just recreated. */
  reattach(network: string): Promise<void>;
}

/** A network with every default filled in: what drivers and the VM service use. */
export interface ResolvedNetwork {
  id: string;
  name: string;
  mode: NetworkSpec["mode"];
  bridge: string;
  mtu?: number;
  domain?: string;
  ipv4?: { cidr: string; prefix: number; gateway: string; dhcpStart: string; dhcpEnd: string; leaseSeconds: number };
}

export interface NetworkServiceDeps {
  store: Store;
  ip: NetlinkDriver;
  dnsmasq: DnsmasqDriver;
  nft: NftDriver;
  stateDir: string;
  log: Logger;
}

/** How often hostd checks that bridges and dnsmasq processes are still there. */
const HEALTH_MS = 3000;
const LOCK = "networks";

export class NetworkService {
  private readonly locks = new KeyedMutex();
  private users: NetworkUsers = { portsOn: () => [], reattach: async () => undefined };
  private health?: NodeJS.Timeout;
  private checking = false;

  constructor(private readonly d: NetworkServiceDeps) {}

  setUsers(u: NetworkUsers): void {
    this.users = u;
  }

  /** Restores every network (bridges, dnsmasq, rules) as after a host reboot; idempotent. */
  async init(): Promise<void> {
    mkdirSync(path.join(this.d.stateDir, "networks"), { recursive: true, mode: 0o711 });
    await this.locks.run(LOCK, async () => {
      for (const rec of this.records()) {
        await this.ensure(rec).catch((e: Error) => this.d.log.error("could not restore network", { network: rec.name, err: e.message }));
      }
      await this.applyRules().catch((e: Error) => this.d.log.error("could not restore firewall rules", { err: e.message }));
      await this.retireLegacyTable().catch((e: Error) => this.d.log.error("could not check the legacy firewall table", { table: LEGACY_NFT_TABLE, err: e.message }));
    });
  }

  /**
   * Before tables carried the host id, every hostd used `inet pulumi_kvm`.
   * It is deleted only when every rule in it is one this hostd renders for
   * its own networks (its rules now live in this hostd's table); anything
   * else in it may be another hostd's, so it is left, with a warning.
   */
  private async retireLegacyTable(): Promise<void> {
    const text = await this.d.nft.read(LEGACY_NFT_TABLE);
    if (text === undefined) return;
    const verdict = legacyTableVerdict(text, this.ruleNetworks());
    if (verdict.ours) {
      await this.d.nft.deleteTable(LEGACY_NFT_TABLE);
      this.d.log.info("deleted the legacy firewall table: its rules were this hostd's and now live in its own table", { legacy: LEGACY_NFT_TABLE, table: this.d.nft.table });
      return;
    }
    this.d.log.warn("left the legacy firewall table alone: it is not provably this hostd's. Delete it once no older hostd uses it", {
      legacy: LEGACY_NFT_TABLE,
      table: this.d.nft.table,
      foreignRules: verdict.strangers.slice(0, 10),
      delete: `nft delete table inet ${LEGACY_NFT_TABLE}`,
    });
  }

  /** Starts the periodic health check (after the VM service has reattached its taps). */
  startHealthCheck(): void {
    this.health = setInterval(() => void this.healthCheck(), HEALTH_MS);
    this.health.unref();
  }

  shutdown(): void {
    if (this.health) clearInterval(this.health);
  }

  // ---- API operations -------------------------------------------------------

  async create(params: NetworkCreate): Promise<NetworkInfo> {
    const { owner, ...spec } = params;
    return this.locks.run(LOCK, async () => {
      const existing = this.d.store.getNetworkByName(spec.name);
      if (existing) {
        // The caller's own retry of the same create is not an error.
        retryOfOwnCreate("Network", existing, owner, JSON.stringify(existing.spec) === JSON.stringify(spec));
        return this.info(existing);
      }
      const id = randomUUID();
      const bridge = spec.bridge ?? defaultBridgeName(id);
      await this.checkConflicts(spec, bridge);
      const now = new Date().toISOString();
      const rec: Rec = { id, name: spec.name, spec, bridge, owner: owner ?? null, createdAt: now, updatedAt: now };
      return withRevert(this.d.log, "network.create", async (r) => {
        this.d.store.insertNetwork(rec);
        // The rules are rendered from the rows, so they go back once the row is gone.
        r.add("delete the network's row and its firewall rules", async () => {
          this.d.store.deleteNetwork(rec.id);
          await this.applyRules();
        });
        r.add("tear down the network's bridge and dnsmasq", () => this.teardown(rec));
        await this.ensure(rec);
        await this.applyRules();
        this.d.log.event("network.created", rec.name, { id: rec.id, mode: spec.mode, bridge });
        return this.info(rec);
      });
    });
  }

  async get(name: string): Promise<NetworkInfo> {
    return this.info(this.mustGet(name));
  }

  /** Every network, with one read of the links and of the nft table for all of them. */
  async list(): Promise<NetworkInfo[]> {
    const [table, links] = await Promise.all([this.d.nft.current().catch(() => undefined), this.d.ip.links().catch(() => [])]);
    const byName = new Map(links.map((l) => [l.name, l]));
    return Promise.all(this.records().map((r) => this.info(r, { table, link: byName.get(r.bridge) ?? null })));
  }

  async update(u: NetworkUpdate): Promise<NetworkInfo> {
    return this.locks.run(LOCK, async () => {
      const rec = this.mustGet(u.name);
      const before = rec.spec;
      if (before.mode === "bridge") {
        throw new KvmError("invalid_params", `Network "${rec.name}" is in bridge mode: its mode, DHCP, domain and MTU belong to the host's bridge. Replace the network to change it.`);
      }
      const merged: Record<string, unknown> = { ...before };
      if (u.mode !== undefined) merged.mode = u.mode;
      for (const k of ["dhcp", "domain", "mtu"] as const) {
        if (u[k] === null) delete merged[k];
        else if (u[k] !== undefined) merged[k] = u[k];
      }
      const checked = validateNetworkSpec(merged as NetworkSpec);
      if (!checked.success) {
        throw new KvmError("invalid_params", `Network "${rec.name}" cannot be changed that way: ${checked.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
      }
      await withRevert(this.d.log, "network.update", async (r) => {
        // Each undo that rebuilds something puts the old spec back first: it must rebuild the network as it was.
        const restoreSpec = () => {
          rec.spec = before;
          this.d.store.saveNetwork(rec);
        };
        rec.spec = checked.data;
        this.d.store.saveNetwork(rec);
        r.add("put back the network's previous spec", restoreSpec);
        // dnsmasq reads its range, domain and options at start: restart it (leases are kept in its lease file).
        await this.d.dnsmasq.stop(this.files(rec).pidFile);
        r.add("restart dnsmasq as it was", async () => {
          restoreSpec();
          await this.d.dnsmasq.stop(this.files(rec).pidFile);
          await this.ensure(rec);
        });
        await this.ensure(rec);
        if (rec.spec.mtu !== before.mtu) {
          await this.applyMtu(rec);
          r.add("put back the previous MTU", async () => {
            restoreSpec();
            await this.applyMtu(rec);
          });
        }
        await this.applyRules();
        r.add("put back the previous firewall rules", async () => {
          restoreSpec();
          await this.applyRules();
        });
      });
      this.d.log.event("network.updated", rec.name, {});
      return this.info(rec);
    });
  }

  async delete(p: { name: string; id?: string; owner?: string }): Promise<{ existed: boolean }> {
    return this.locks.run(LOCK, async () => {
      const rec = this.d.store.getNetworkByName(p.name);
      if (!rec || (p.id !== undefined && rec.id !== p.id)) return { existed: false };
      checkDeletable("Network", rec, p);
      const vms = [...new Set(this.users.portsOn(rec.name).map((x) => x.vm))];
      if (vms.length > 0) {
        throw errors.invalidState(
          `Network "${rec.name}" still has VMs attached: ${vms.map((v) => `"${v}"`).join(", ")}. Delete those VMs or remove their NICs on this network first.`,
          { network: rec.name, vms },
        );
      }
      await this.teardown(rec);
      this.d.store.deleteNetwork(rec.id);
      await this.applyRules();
      this.d.log.event("network.deleted", rec.name, { id: rec.id });
      return { existed: true };
    });
  }

  // ---- for the VM service -------------------------------------------------------

  /** Runs `fn` while no network is created, changed or deleted (a VM's NIC check and its record go together). */
  guard<T>(fn: () => Promise<T>): Promise<T> {
    return this.locks.run(LOCK, fn);
  }

  /** The network a NIC names, with defaults filled in; a clear error when it does not exist. */
  resolve(name: string, forVm?: string): ResolvedNetwork {
    const rec = this.d.store.getNetworkByName(name);
    if (!rec) {
      throw errors.conflict(`${forVm ? `VM "${forVm}" has a NIC on network "${name}", which` : `Network "${name}"`} does not exist on this host: create the Network first.`, { network: name });
    }
    return resolveNetwork(rec);
  }

  /** The name of the Network whose bridge this is (undefined: none of this hostd's). */
  onBridge(bridge: string): string | undefined {
    return this.records().find((r) => r.bridge === bridge)?.name;
  }

  /**
   * A static lease must be a host address of the subnet, not the gateway,
   * and not another NIC's static address.
   */
  checkStaticIp(network: ResolvedNetwork, vm: string, mac: string, ip: string): void {
    if (!network.ipv4) {
      throw new KvmError("invalid_params", `VM "${vm}": network "${network.name}" is in bridge mode; hostd hands out no addresses there, so a NIC on it cannot have a static ip.`);
    }
    const c = parseCidr(network.ipv4.cidr);
    if (!isHostAddress(c, ip) || ip === network.ipv4.gateway) {
      throw new KvmError("invalid_params", `VM "${vm}": ip ${ip} is not a usable address of network "${network.name}" (${network.ipv4.cidr}, gateway ${network.ipv4.gateway}).`);
    }
    const taken = this.users.portsOn(network.name).find((p) => p.ip === ip && p.mac !== mac && p.vm !== vm);
    if (taken) {
      throw errors.conflict(`VM "${vm}": ip ${ip} on network "${network.name}" is already the static address of VM "${taken.vm}".`, { ip, vm: taken.vm });
    }
  }

  /**
   * Addresses dnsmasq granted or renewed for `mac` since `sinceMs` (the NIC's QEMU start):
   * a lease from before says nothing about the guest now. dnsmasq writes expiry = grant +
   * lease time; two seconds allow for clock granularity.
   */
  addressesSince(name: string, mac: string, sinceMs: number): string[] {
    const rec = this.d.store.getNetworkByName(name);
    const v4 = rec ? resolveNetwork(rec).ipv4 : undefined;
    if (!rec || !v4) return [];
    const now = Date.now() / 1000;
    return this.d.dnsmasq
      .leases(this.files(rec).leaseFile)
      .filter((l) => l.mac === mac && (l.expiry === 0 || (l.expiry > now && (l.expiry - v4.leaseSeconds) * 1000 >= sinceMs - 2000)))
      .map((l) => l.ip);
  }


  /** The VMs' NICs on `name` changed: rewrite dnsmasq's static hosts and have it re-read them. */
  hostsChanged(name: string): void {
    const rec = this.d.store.getNetworkByName(name);
    if (!rec || rec.spec.mode === "bridge") return;
    this.writeHosts(rec);
    this.d.dnsmasq.reload(this.files(rec).pidFile);
  }

  // ---- making it so ---------------------------------------------------------

  private async ensure(rec: Rec): Promise<void> {
    const n = resolveNetwork(rec);
    if (n.mode === "bridge") {
      const link = await this.d.ip.link(n.bridge);
      if (!link || link.kind !== "bridge") {
        throw errors.conflict(`Host bridge "${n.bridge}" of network "${n.name}" ${link ? `is a ${link.kind ?? "plain"} interface, not a bridge` : "does not exist"}: create it on the host first.`, { bridge: n.bridge });
      }
      return;
    }
    const f = this.files(rec);
    mkdirSync(f.dir, { recursive: true, mode: 0o755 });
    const closed = closedAncestor(f.dir);
    if (closed) {
      throw errors.conflict(`dnsmasq drops root and then cannot reach ${f.dir}: ${closed} is not traversable by other users. Keep hostd's state directory under world-traversable directories (e.g. /var/lib), or chmod o+x ${closed}.`, { dir: closed });
    }
    const link = await this.d.ip.link(n.bridge);
    if (!link) await this.d.ip.createBridge(n.bridge);
    else if (link.kind !== "bridge") {
      throw errors.conflict(`Interface "${n.bridge}" of network "${n.name}" exists on the host but is not a bridge.`, { bridge: n.bridge });
    } else {
      // A bridge of this name made by another hostd (say, while this one was down) is never taken over.
      const owner = this.d.ip.ownerOf(link);
      if (typeof owner === "object") {
        // This network's dnsmasq, should it still run, must not serve the other hostd's bridge.
        await this.d.dnsmasq.stop(f.pidFile);
        throw errors.conflict(
          `Bridge "${n.bridge}" of network "${n.name}" now belongs to another hostd (host id ${owner.hostId}): this hostd leaves it alone. Delete network "${n.name}" here, or the other hostd's network on that bridge.`,
          { bridge: n.bridge, hostId: owner.hostId },
        );
      }
      // Made before hostd marked its bridges: the name is this network's, so it is adopted.
      if (owner === "unmarked") await this.d.ip.mark(n.bridge);
    }
    if (n.mtu !== undefined && link?.mtu !== n.mtu) await this.d.ip.setMtu(n.bridge, n.mtu);
    const v4 = n.ipv4!;
    await this.d.ip.replaceAddress(n.bridge, v4.gateway, v4.prefix);
    await this.d.ip.setUp(n.bridge);
    this.writeHosts(rec);
    if (this.d.dnsmasq.running(f.pidFile) === undefined) {
      await this.d.dnsmasq.start(this.dnsmasqConfig(rec, n));
    }
  }

  private async teardown(rec: Rec): Promise<void> {
    const f = this.files(rec);
    await this.d.dnsmasq.stop(f.pidFile);
    this.d.dnsmasq.forget(f.leaseFile);
    if (rec.spec.mode !== "bridge") {
      const link = await this.d.ip.link(rec.bridge);
      const owner = link && this.d.ip.ownerOf(link);
      if (typeof owner === "object") this.d.log.warn("left the bridge in place: it belongs to another hostd", { network: rec.name, bridge: rec.bridge, hostId: owner.hostId });
      else await this.d.ip.deleteLink(rec.bridge);
    }
    rmSync(f.dir, { recursive: true, force: true });
  }

  /** Renders hostd's nftables table for all nat/isolated networks (and IPv4 forwarding for nat). */
  private async applyRules(): Promise<void> {
    const nets = this.ruleNetworks();
    await this.d.nft.apply(nets);
    if (nets.some((n) => n.mode === "nat")) {
      // NAT needs the host to route; like libvirt, it is switched on and left on.
      writeFileSync("/proc/sys/net/ipv4/ip_forward", "1\n");
    }
  }

  /**
   * The networks that have rules in hostd's table: nat and isolated ones, but not one whose
   * bridge another hostd's mark is on (its drop rules would cut that hostd's traffic).
   */
  private ruleNetworks(): { bridge: string; cidr: string; mode: "nat" | "isolated" }[] {
    return this.records()
      .map(resolveNetwork)
      .filter((n) => n.mode !== "bridge" && typeof this.d.ip.ownerOf({ alias: this.d.ip.aliasOf(n.bridge) }) !== "object")
      .map((n) => ({ bridge: n.bridge, cidr: n.ipv4!.cidr, mode: n.mode as "nat" | "isolated" }));
  }

  private async applyMtu(rec: Rec): Promise<void> {
    const mtu = rec.spec.mtu ?? 1500;
    await this.d.ip.setMtu(rec.bridge, mtu);
    for (const l of await this.d.ip.links()) if (l.master === rec.bridge) await this.d.ip.setMtu(l.name, mtu);
  }

  private writeHosts(rec: Rec): void {
    const named = new Set<string>();
    const hosts = this.users.portsOn(rec.name).map((p) => {
      // A VM's name goes with its first NIC on the network (dnsmasq refuses one name for two MACs).
      const hostname = named.has(p.vm) ? undefined : p.vm;
      named.add(p.vm);
      return { mac: p.mac, ip: p.ip, hostname };
    });
    DnsmasqDriver.writeAtomic(this.files(rec).hostsFile, renderDhcpHosts(hosts));
  }

  private dnsmasqConfig(rec: Rec, n: ResolvedNetwork): DnsmasqConfig {
    const v4 = n.ipv4!;
    const f = this.files(rec);
    return {
      bridge: n.bridge,
      gateway: v4.gateway,
      netmask: netmask(v4.prefix),
      dhcpStart: v4.dhcpStart,
      dhcpEnd: v4.dhcpEnd,
      leaseSeconds: v4.leaseSeconds,
      maxLeases: ipToInt(v4.dhcpEnd) - ipToInt(v4.dhcpStart) + 1,
      domain: n.domain,
      router: n.mode === "nat",
      upstreamDns: n.mode === "nat",
      mtu: n.mtu,
      pidFile: f.pidFile,
      leaseFile: f.leaseFile,
      hostsFile: f.hostsFile,
    };
  }

  /** Refuses, before anything changes, a network whose bridge or subnet is already taken. */
  private async checkConflicts(spec: NetworkSpec, bridge: string): Promise<void> {
    const others = this.records();
    const sameBridge = others.find((o) => o.bridge === bridge);
    if (sameBridge) {
      throw errors.conflict(`Bridge "${bridge}" is already used by network "${sameBridge.name}".`, { bridge, network: sameBridge.name });
    }
    const link = await this.d.ip.link(bridge);
    if (spec.mode === "bridge") {
      if (!link || link.kind !== "bridge") {
        throw errors.conflict(`Host bridge "${bridge}" ${link ? `is a ${link.kind ?? "plain"} interface, not a bridge` : "does not exist on this host"}: a bridge-mode network attaches VMs to an existing bridge; create it on the host first.`, { bridge });
      }
      return;
    }
    if (link) {
      throw errors.conflict(`Interface "${bridge}" already exists on this host and was not made by hostd: pick another bridge name for network "${spec.name}".`, { bridge });
    }
    const mine = parseCidr(spec.ipv4!.cidr);
    for (const o of others) {
      if (o.spec.mode === "bridge" || !o.spec.ipv4) continue;
      if (overlaps(mine, parseCidr(o.spec.ipv4.cidr))) {
        throw errors.conflict(`Subnet ${spec.ipv4!.cidr} of network "${spec.name}" overlaps subnet ${o.spec.ipv4.cidr} of network "${o.name}".`, { network: o.name, cidr: o.spec.ipv4.cidr });
      }
    }
    // Any address or route of the host's (any table: a subnet hostd shadowed would break what uses it), except hostd's own bridges.
    const ours = new Set(others.map((o) => o.bridge));
    for (const r of await this.d.ip.ipv4Prefixes()) {
      if (r.dev !== undefined && ours.has(r.dev)) continue;
      let c;
      try {
        c = parseCidr(r.dst, false);
      } catch {
        continue;
      }
      if (c.prefix === 0 || !overlaps(mine, c)) continue;
      const what =
        r.from.kind === "address"
          ? `the address ${r.dst} of interface ${r.dev}`
          : `${r.from.type ? `a ${r.from.type} route` : "a route"}${r.dev ? ` on ${r.dev}` : ""} in routing table ${r.from.table}`;
      throw errors.conflict(`Subnet ${spec.ipv4!.cidr} of network "${spec.name}" overlaps ${formatCidr(c)}, ${what} on this host: pick a free subnet.`, {
        prefix: formatCidr(c),
        dev: r.dev,
        ...(r.from.kind === "route" ? { table: r.from.table, ...(r.from.type && { type: r.from.type }) } : { address: r.dst }),
      });
    }
  }

  /** Repairs networks whose bridge or dnsmasq vanished (someone deleted them, or they crashed). */
  private async healthCheck(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const missing = (r: Rec) => ({ bridgeGone: !this.d.ip.exists(r.bridge), dnsmasqGone: this.d.dnsmasq.running(this.files(r).pidFile) === undefined });
      for (const rec of this.records()) {
        if (rec.spec.mode === "bridge") continue;
        const first = missing(rec);
        if (!first.bridgeGone && !first.dnsmasqGone) continue;
        // Looked again under the lock: an update restarting dnsmasq right now is not a loss.
        const lost = await this.locks
          .run(LOCK, async () => {
            const current = this.d.store.getNetworkByName(rec.name);
            if (!current || current.id !== rec.id) return undefined;
            const m = missing(current);
            if (!m.bridgeGone && !m.dnsmasqGone) return undefined;
            this.d.log.warn("network lost its bridge or dnsmasq; restoring it", { network: rec.name, ...m });
            await this.ensure(current);
            if (m.bridgeGone) await this.applyRules();
            return m;
          })
          .catch((e: Error) => {
            this.d.log.error("could not restore network", { network: rec.name, err: e.message });
            return first;
          });
        if (lost?.bridgeGone) await this.users.reattach(rec.name).catch((e: Error) => this.d.log.error("could not reattach taps", { network: rec.name, err: e.message }));
      }
    } finally {
      this.checking = false;
    }
  }

  // ---- reading ------------------------------------------------------------------

  private async info(rec: Rec, known?: { table: string | undefined; link: LinkInfo | null }): Promise<NetworkInfo> {
    const n = resolveNetwork(rec);
    const problems: string[] = [];
    const link = known ? known.link : await this.d.ip.link(n.bridge).catch(() => undefined);
    const owner = link ? this.d.ip.ownerOf(link) : undefined;
    if (!link) problems.push(`bridge ${n.bridge} does not exist`);
    else if (n.mode !== "bridge" && typeof owner === "object") problems.push(`bridge ${n.bridge} belongs to another hostd (host id ${owner.hostId})`);
    else if (n.mode !== "bridge" && !link.up) problems.push(`bridge ${n.bridge} is down`);
    if (n.mode !== "bridge") {
      if (this.d.dnsmasq.running(this.files(rec).pidFile) === undefined) problems.push("dnsmasq is not running");
      const rules = known ? known.table : await this.d.nft.current().catch(() => undefined);
      if (!rules || !rules.includes(`"${n.bridge}"`)) problems.push(`nftables rules for ${n.bridge} are missing`);
    }
    const now = Date.now() / 1000;
    const leases = n.mode === "bridge" ? [] : this.d.dnsmasq.leases(this.files(rec).leaseFile).filter((l) => l.expiry === 0 || l.expiry > now);
    return {
      id: rec.id,
      name: rec.name,
      spec: rec.spec,
      owner: rec.owner,
      bridge: n.bridge,
      ipv4: n.ipv4 ? { cidr: n.ipv4.cidr, gateway: n.ipv4.gateway, dhcpStart: n.ipv4.dhcpStart, dhcpEnd: n.ipv4.dhcpEnd, leaseSeconds: n.ipv4.leaseSeconds } : null,
      state: problems.length === 0 ? "active" : "degraded",
      problems,
      vms: [...new Set(this.users.portsOn(rec.name).map((p) => p.vm))],
      leases: leases.map((l) => ({ mac: l.mac, ip: l.ip, hostname: l.hostname, expiresAt: l.expiry === 0 ? null : new Date(l.expiry * 1000).toISOString() })),
      createdAt: rec.createdAt,
      updatedAt: rec.updatedAt,
    };
  }

  private records(): Rec[] {
    return this.d.store.listNetworks();
  }

  private mustGet(name: string): Rec {
    const rec = this.d.store.getNetworkByName(name);
    if (!rec) throw errors.notFound("Network", name);
    return rec;
  }

  /** Runtime files of a network. The directory is world-readable: dnsmasq re-reads them after dropping root. */
  private files(rec: Rec): { dir: string; pidFile: string; leaseFile: string; hostsFile: string } {
    const dir = path.join(this.d.stateDir, "networks", rec.id);
    return { dir, pidFile: path.join(dir, "dnsmasq.pid"), leaseFile: path.join(dir, "leases"), hostsFile: path.join(dir, "hosts") };
  }
}

/** `kvbr-` + 10 hex digits of the network id: 15 characters, the kernel's limit. */
export function defaultBridgeName(id: string): string {
  return `kvbr-${createHash("sha256").update(id).digest("hex").slice(0, 10)}`;
}

/** Defaults: gateway = first host; DHCP = every host address on the far side of the gateway. */
export function resolveNetwork(rec: { id: string; name: string; spec: NetworkSpec; bridge: string }): ResolvedNetwork {
  const s = rec.spec;
  const out: ResolvedNetwork = { id: rec.id, name: rec.name, mode: s.mode, bridge: rec.bridge, mtu: s.mtu, domain: s.domain };
  if (s.ipv4 && s.mode !== "bridge") {
    const c = parseCidr(s.ipv4.cidr);
    const d = defaultAddressing(c, s.ipv4.gateway);
    out.ipv4 = {
      cidr: formatCidr(c),
      prefix: c.prefix,
      gateway: d.gateway,
      dhcpStart: s.dhcp?.start ?? d.dhcpStart,
      dhcpEnd: s.dhcp?.end ?? d.dhcpEnd,
      leaseSeconds: s.dhcp?.leaseSeconds ?? 3600,
    };
  }
  return out;
}
