/**
 * dnsmasq, one per nat/isolated network: DHCP (ranges, static leases) and
 * DNS for the VMs' names. The argv builder and the lease parser are pure;
 * the process side starts dnsmasq as a daemon of its own (it survives
 * hostd restarts, like the VMs) and finds it again by its pidfile.
 */
import { readFileSync, statSync, writeFileSync, renameSync } from "node:fs";
import { run } from "../exec";
import { cmdline, isRunning, readPidfile, waitGone } from "./process";

export interface DnsmasqConfig {
  bridge: string;
  gateway: string;
  netmask: string;
  dhcpStart: string;
  dhcpEnd: string;
  leaseSeconds: number;
  /** Addresses in the range: dnsmasq's default lease limit (1000) would cap a large subnet. */
  maxLeases: number;
  domain?: string;
  /** Hand out a default route (nat) or not (isolated: VMs reach only each other and the host). */
  router: boolean;
  /** Forward other names to the host's resolvers (nat) or answer only the network's own names (isolated). */
  upstreamDns: boolean;
  mtu?: number;
  pidFile: string;
  leaseFile: string;
  /** `--dhcp-hostsfile`: static leases and names, re-read on SIGHUP. */
  hostsFile: string;
}

export function dnsmasqArgv(c: DnsmasqConfig): string[] {
  return [
    // Nothing from /etc: every setting is here.
    "--conf-file=/dev/null",
    "--no-hosts",
    `--pid-file=${c.pidFile}`,
    // Only this network's bridge, never the host's other interfaces (nor lo).
    `--interface=${c.bridge}`,
    "--except-interface=lo",
    "--bind-interfaces",
    "--strict-order",
    "--domain-needed",
    "--bogus-priv",
    ...(c.upstreamDns ? [] : ["--no-resolv"]),
    ...(c.domain ? [`--domain=${c.domain}`, `--local=/${c.domain}/`, "--expand-hosts"] : []),
    `--dhcp-range=${c.dhcpStart},${c.dhcpEnd},${c.netmask},${c.leaseSeconds}s`,
    `--dhcp-lease-max=${c.maxLeases}`,
    `--dhcp-leasefile=${c.leaseFile}`,
    `--dhcp-hostsfile=${c.hostsFile}`,
    "--dhcp-authoritative",
    "--dhcp-no-override",
    // Without it every new MAC's first lease waits ~3 s for a ping that never answers.
    "--no-ping",
    // An empty router option: clients install no default route.
    ...(c.router ? [] : ["--dhcp-option=option:router"]),
    ...(c.mtu ? [`--dhcp-option=option:mtu,${c.mtu}`] : []),
  ];
}

/** One static host: the MAC gets this name (and this address, when given). */
export interface DhcpHost {
  mac: string;
  ip?: string;
  hostname?: string;
}

/** Lines of a `--dhcp-hostsfile`. */
export function renderDhcpHosts(hosts: DhcpHost[]): string {
  return hosts.map((h) => [h.mac, h.ip, h.hostname].filter((x) => x !== undefined).join(",") + "\n").join("");
}

export interface LeaseLine {
  mac: string;
  ip: string;
  hostname: string | null;
  /** Unix seconds; 0 = infinite. */
  expiry: number;
}

/** Parses dnsmasq's lease file (IPv4 lines: `<expiry> <mac> <ip> <hostname|*> <client-id|*>`). */
export function parseLeases(text: string): LeaseLine[] {
  const out: LeaseLine[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[0] === "duid") continue;
    const expiry = Number(f[0]);
    if (!Number.isFinite(expiry) || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(f[1]!) || !/^\d+\.\d+\.\d+\.\d+$/.test(f[2]!)) continue;
    out.push({ mac: f[1]!.toLowerCase(), ip: f[2]!, hostname: f[3] === "*" ? null : f[3]!, expiry });
  }
  return out;
}

export class DnsmasqDriver {
  constructor(readonly binary = "dnsmasq") {}

  /** The pid of the dnsmasq serving `pidFile`, if it is alive (checked against its argv, so a reused pid is not taken for it). */
  running(pidFile: string): number | undefined {
    const pid = readPidfile(pidFile);
    if (pid === undefined) return undefined;
    if (!isRunning(pid)) return undefined;
    return cmdline(pid).includes(`--pid-file=${pidFile}`) ? pid : undefined;
  }

  /** Starts dnsmasq; it daemonizes, and returns once it serves (or fails with its own words). */
  async start(c: DnsmasqConfig): Promise<number> {
    await run(this.binary, dnsmasqArgv(c));
    const pid = this.running(c.pidFile);
    if (pid === undefined) throw new Error(`dnsmasq for ${c.bridge} exited right after starting`);
    return pid;
  }

  /** SIGHUP: re-read the hosts file (static leases and names). */
  reload(pidFile: string): boolean {
    const pid = this.running(pidFile);
    if (pid === undefined) return false;
    process.kill(pid, "SIGHUP");
    return true;
  }

  /**
   * Stops this network's dnsmasq and returns once it has exited: its sockets are closed then, so a
   * new one can bind the same address. Gone means no process or a zombie, not "its command line no
   * longer matches": an exiting process drops its memory (and /proc cmdline reads empty) before it
   * closes its files, and a dnsmasq started in that window found the port taken.
   */
  async stop(pidFile: string): Promise<void> {
    const pid = this.running(pidFile);
    if (pid === undefined) return;
    process.kill(pid, "SIGTERM");
    if (!(await waitGone(() => isRunning(pid), 5000))) {
      process.kill(pid, "SIGKILL");
      await waitGone(() => isRunning(pid), 5000);
    }
  }

  /** Writes a file atomically (dnsmasq may read it at any moment). */
  static writeAtomic(file: string, text: string): void {
    writeFileSync(`${file}.tmp`, text, { mode: 0o644 });
    renameSync(`${file}.tmp`, file);
  }

  /** Reads the lease file, cached by mtime (vm.list reads it once per network, not once per VM). */
  private cache = new Map<string, { mtimeMs: number; size: number; leases: LeaseLine[] }>();
  leases(leaseFile: string): LeaseLine[] {
    let st;
    try {
      st = statSync(leaseFile);
    } catch {
      return [];
    }
    const hit = this.cache.get(leaseFile);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.leases;
    let leases: LeaseLine[];
    try {
      leases = parseLeases(readFileSync(leaseFile, "utf8"));
    } catch {
      leases = [];
    }
    this.cache.set(leaseFile, { mtimeMs: st.mtimeMs, size: st.size, leases });
    return leases;
  }

  forget(leaseFile: string): void {
    this.cache.delete(leaseFile);
  }
}
