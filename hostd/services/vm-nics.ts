/**
 * A VM's NICs on the host: QEMU's view of them from the kept placements,
 * their persistent taps on the networks' bridges, the addresses each NIC
 * has, and what the network service learns about them (static hosts, the
 * "still in use" check).
 */
import { isNetworkNic, isUsableAddress, type VmInfo, type VmSpec } from "../../sdk/protocol";
import type { NetlinkDriver } from "../drivers/netlink";
import type { QemuNic } from "../drivers/qemu-argv";
import type { NetworkPort, NetworkService } from "./network";
import { keptNics, qemuNics, tapName } from "./vm-devices";
import type { VmDevices } from "../store";

/** The parts of a VM record its NICs are made from. */
export interface NicOwner {
  id: string;
  name: string;
  spec: VmSpec;
  devices: VmDevices;
}

export class VmNics {
  constructor(
    private readonly ip: NetlinkDriver,
    private readonly networks: NetworkService,
    /** /dev/vhost-net is there and usable by QEMU: taps use the in-kernel virtio-net data path. */
    private readonly vhostNet: boolean,
  ) {}

  /** QEMU's view of the VM's NICs, from the kept placements. */
  qemuNics(vm: NicOwner): QemuNic[] {
    const placements = keptNics(vm.id, vm.spec.networkInterfaces, vm.devices).nics;
    return qemuNics(vm.id, vm.spec, placements, this.vhostNet);
  }

  /** The bridge each tap of these NICs is on now (vm-observe.ts: a tap moved outside hostd is drift). */
  tapBridges(nics: QemuNic[]): Map<string, string | null> {
    const out = new Map<string, string | null>();
    for (const t of this.taps(nics)) {
      const master = this.ip.masterOf(t.tap);
      if (master !== undefined) out.set(t.tap, master);
    }
    return out;
  }

  /** The Network whose bridge this is, if any. */
  networkOnBridge(bridge: string): string | undefined {
    return this.networks.onBridge(bridge);
  }

  /** The taps of these NICs (network NICs have one; user-mode NICs none). */
  taps(nics: QemuNic[]): { tap: string; network: string }[] {
    return nics.flatMap((n) => (n.netdev.type === "tap" ? [{ tap: n.netdev.ifname, network: n.netdev.network }] : []));
  }

  /**
   * The tap exists, belongs to the VM's user (so unprivileged QEMU may open
   * it) and sits on its network's bridge. A tap of the wrong owner that no
   * QEMU holds (`inUse` false) is made again. True when the tap was made now.
   */
  async ensureTap(t: { tap: string; network: string }, vmName: string, owner: number | undefined, inUse: boolean): Promise<boolean> {
    const net = this.networks.resolve(t.network, vmName);
    if (this.ip.exists(t.tap) && owner !== undefined && this.ip.tapOwner(t.tap) !== owner && !inUse) {
      await this.ip.deleteLink(t.tap);
    }
    let made = false;
    if (!this.ip.exists(t.tap)) {
      await this.ip.createTap(t.tap, owner);
      made = true;
    }
    await this.ip.attach(t.tap, net.bridge, net.mtu);
    return made;
  }

  /** Deletes a tap (one already gone is fine). */
  async deleteTap(tap: string): Promise<void> {
    await this.ip.deleteLink(tap);
  }

  /** NICs on `network` of these VMs, for dnsmasq's static hosts and the network's "still in use" check. */
  portsOn(network: string, vms: NicOwner[]): NetworkPort[] {
    const out: NetworkPort[] = [];
    for (const vm of vms) {
      const placements = keptNics(vm.id, vm.spec.networkInterfaces, vm.devices).nics;
      vm.spec.networkInterfaces.forEach((n, i) => {
        if (isNetworkNic(n) && n.network === network) out.push({ vm: vm.name, mac: placements[i]!.mac, ...(n.ip && { ip: n.ip }) });
      });
    }
    return out;
  }

  /** Tells the networks of these specs that their NICs changed (static leases, names). */
  networksChanged(...specs: VmSpec[]): void {
    const names = new Set(specs.flatMap((s) => s.networkInterfaces.flatMap((n) => (isNetworkNic(n) ? [n.network] : []))));
    for (const n of names) this.networks.hostsChanged(n);
  }

  /**
   * Each NIC's addresses: the DHCP lease dnsmasq granted since this QEMU
   * started (an older lease says nothing about the guest now), and what the
   * guest agent reports for the NIC's MAC. Nothing is waited for.
   */
  info(vm: NicOwner, running: { startedMs?: number; guest?: VmInfo["guest"] } | undefined): { nics: VmInfo["nics"]; primaryIp: string | null } {
    const placements = keptNics(vm.id, vm.spec.networkInterfaces, vm.devices).nics;
    const started = running?.startedMs;
    const nics = vm.spec.networkInterfaces.map((n, i) => {
      const mac = placements[i]!.mac;
      const ips: string[] = [];
      if (isNetworkNic(n) && started !== undefined) ips.push(...this.networks.addressesSince(n.network, mac, started));
      for (const gi of running?.guest?.interfaces ?? []) {
        if (gi.mac?.toLowerCase() !== mac) continue;
        for (const a of gi.addresses) if (isUsableAddress(a.address) && !ips.includes(a.address)) ips.push(a.address);
      }
      return {
        type: isNetworkNic(n) ? ("network" as const) : ("user" as const),
        network: isNetworkNic(n) ? n.network : null,
        mac,
        model: n.model,
        tap: isNetworkNic(n) ? tapName(vm.id, mac) : null,
        ipAddresses: ips,
      };
    });
    const primaryIp = nics.flatMap((n) => n.ipAddresses).find((a) => !a.includes(":")) ?? null;
    return { nics, primaryIp };
  }
}
