#!/usr/bin/env node
/**
 * The `hostd` command: `serve` runs the daemon, `dial-stdio` bridges
 * stdin/stdout to its socket for SSH servers without stream-local
 * forwarding, and `vm`, `disk`, `network` and `image` commands are a human
 * view over the same API.
 */
// First: fails with the Node version needed before anything loads node:sqlite.
import "./node-guard";
import * as net from "node:net";
import type { Duplex } from "node:stream";
import { parseArgs } from "node:util";
import { HostClient } from "../sdk/client";
import { KvmError } from "../sdk/errors";
import * as P from "../sdk/protocol";
import type { HostEvent } from "../sdk/protocol";
import { DEFAULT_SOCKET_PATH, LocalTransport } from "../sdk/transport/local";
import { HOSTD_VERSION, HostdOptions, startHostd } from "./app";
import { Logger } from "./log";
import { DEFAULT_CONNECTION_LIMITS } from "./server";
import { doctorCommand, installCommand, uninstallCommand } from "./ops/commands";
import { UID_CLAIMS_DIR } from "./uid-claims";
import { VM_UID_RANGE_SIZE } from "./uid-range";

const USAGE = `hostd ${HOSTD_VERSION}: runs QEMU/KVM virtual machines for pulumi-kvm.

Usage:
  hostd serve [--socket PATH] [--state-dir DIR] [--accel auto|kvm|tcg] [--socket-group GID] [--vm-uid-base UID]
              [--host-path-root DIR]...      host paths (disk sources, kernels, cdroms) only from inside these
              [--allow-overcommit]              let one VM have more vCPUs or memory than the host
              [--frame-timeout S] [--idle-timeout S] [--max-connections-per-peer N]
  hostd dial-stdio [--socket PATH]
  hostd vm list [--socket PATH] [--json]
  hostd vm show NAME [--socket PATH]
  hostd vm start NAME [--json]                  start it (and record running: true)
  hostd vm stop NAME [--timeout S] [--json]     shut the guest down (power off after S seconds, default 60)
  hostd vm restart NAME [--timeout S] [--json]  stop, then start
  hostd vm kill NAME [--json]                   power it off at once
  hostd vm set NAME [--vcpus N] [--memory MiB] [--running true|false] [--json]
                                                change the VM as vm.update does (a running VM restarts for vCPUs/memory)
  hostd vm log NAME [--bytes N] [--follow]      what the guest printed on its serial console
  hostd vm console NAME                         attach to the serial console (detach: Ctrl-])
  hostd events [--object NAME] [--limit N] [--follow] [--json]
                                                recent events: created, started, exited (why), updated..., each with
                                                the request and the caller's uid; --follow keeps printing new ones
  hostd disk list [--socket PATH] [--json]
  hostd disk resize NAME SIZE [--json]          grow a Disk to SIZE GiB ("20", "20G", "20GiB"; online when its VM runs)
  hostd network list [--socket PATH] [--json]
  hostd network show NAME [--socket PATH]     spec, state, problems and DHCP leases
  hostd image list [--socket PATH] [--json]     cached base images and downloads in progress
  hostd image prune [SHA256] [--socket PATH]   remove cached images no disk uses
  hostd version | hostd --version
  hostd install [--state-dir DIR] [--socket PATH]   as root: group hostd, the directories, a tmpfiles.d entry and
                                                    the systemd unit hostd.service (KillMode=process), enabled
  hostd uninstall                                   as root: undo install; a state dir with VMs/disks/networks is kept
  hostd doctor [--state-dir DIR] [--json]           check this host (KVM, QEMU, OVMF, dnsmasq, nft, ip, setpriv, ...)

Operator commands are calls of hostd's API, as the provider's are: the same rules and locks, and each
is recorded in \`hostd events\` with your uid. The next \`pulumi refresh\` shows what they changed and
\`pulumi up\` puts the declared state back.

Exit codes: install/uninstall 0 done, 1 failed, 2 usage or not root;
doctor 0 every required check passed (warnings such as "KVM not usable" allowed),
1 a required check failed (qemu, qemu-img, dnsmasq, nft, ip, setpriv, /dev/net/tun).

One hostd per state directory (it holds <state-dir>/hostd.lock). Each hostd's VMs run as uids from a
range of ${VM_UID_RANGE_SIZE} that no other hostd on the machine holds (claimed in ${UID_CLAIMS_DIR}):
--vm-uid-base picks its first uid; without it, the range recorded in the state directory, or on a first
start one derived from the host id.

Defaults: --socket ${DEFAULT_SOCKET_PATH}, --state-dir /var/lib/hostd, --accel auto,
--frame-timeout ${DEFAULT_CONNECTION_LIMITS.frameTimeoutMs / 1000} (seconds from a request's first byte to its newline),
--idle-timeout ${DEFAULT_CONNECTION_LIMITS.idleTimeoutMs / 1000} (seconds a connection with no call running may stay silent),
--max-connections-per-peer ${DEFAULT_CONNECTION_LIMITS.maxConnectionsPerPeer} (per uid; root is not limited).`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      socket: { type: "string", default: process.env.HOSTD_SOCKET ?? DEFAULT_SOCKET_PATH },
      "state-dir": { type: "string", default: process.env.HOSTD_STATE_DIR ?? "/var/lib/hostd" },
      accel: { type: "string", default: "auto" },
      "socket-group": { type: "string" },
      "vm-uid-base": { type: "string" },
      "host-path-root": { type: "string", multiple: true },
      "allow-overcommit": { type: "boolean", default: false },
      "frame-timeout": { type: "string" },
      "idle-timeout": { type: "string" },
      "max-connections-per-peer": { type: "string" },
      json: { type: "boolean", default: false },
      bytes: { type: "string" },
      follow: { type: "boolean", default: false },
      object: { type: "string" },
      limit: { type: "string" },
      vcpus: { type: "string" },
      memory: { type: "string" },
      running: { type: "string" },
      timeout: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [cmd, sub, arg, arg2] = positionals;
  if (values.help || cmd === undefined || cmd === "help") {
    process.stdout.write(USAGE + "\n");
    return cmd === undefined && !values.help ? 2 : 0;
  }
  switch (cmd) {
    case "version":
      process.stdout.write(`hostd ${HOSTD_VERSION}\n`);
      return 0;
    case "serve":
      return serve(values.socket, values["state-dir"], values.accel, values["socket-group"], values["vm-uid-base"], values["host-path-root"], values["allow-overcommit"], {
        frameTimeout: values["frame-timeout"],
        idleTimeout: values["idle-timeout"],
        maxPerPeer: values["max-connections-per-peer"],
      });
    case "dial-stdio":
      return dialStdio(values.socket);
    case "events":
      return eventsCommand(values.socket, values.object, values.limit, values.follow, values.json);
    case "vm":
      if (sub === "log" && arg) return vmLog(values.socket, arg, values.bytes, values.follow);
      if (sub === "console" && arg) return vmConsole(values.socket, arg);
      if (sub && sub in VM_ACTIONS) return vmAction(values.socket, sub as keyof typeof VM_ACTIONS, arg, values);
      return vmCommand(values.socket, sub, arg, values.json);
    case "disk":
      if (sub === "resize") return diskResize(values.socket, arg, arg2, values.json);
      return diskCommand(values.socket, sub, values.json);
    case "image":
      return imageCommand(values.socket, sub, arg, values.json);
    case "network":
      return networkCommand(values.socket, sub, arg, values.json);
    case "install":
      return installCommand(values.socket, values["state-dir"]);
    case "uninstall":
      return uninstallCommand();
    case "doctor":
      return doctorCommand(values["state-dir"], values.json);
    default:
      process.stderr.write(`hostd: unknown command "${cmd}"\n\n${USAGE}\n`);
      return 2;
  }
}

async function serve(
  socketPath: string,
  stateDir: string,
  accel: string,
  group: string | undefined,
  uidBase: string | undefined,
  hostPathRoots: string[] | undefined,
  allowOvercommit: boolean,
  conn: { frameTimeout?: string; idleTimeout?: string; maxPerPeer?: string },
): Promise<number> {
  if (accel !== "auto" && accel !== "kvm" && accel !== "tcg") {
    process.stderr.write(`hostd: --accel must be auto, kvm or tcg\n`);
    return 2;
  }
  const gid = group === undefined ? undefined : Number.parseInt(group, 10);
  if (group !== undefined && !Number.isInteger(gid)) {
    process.stderr.write(`hostd: --socket-group takes a numeric gid\n`);
    return 2;
  }
  const vmUidBase = uidBase === undefined ? undefined : Number(uidBase);
  if (vmUidBase !== undefined && !(Number.isInteger(vmUidBase) && vmUidBase >= 65_536 && vmUidBase <= 4_000_000_000)) {
    process.stderr.write(`hostd: --vm-uid-base takes a uid from 65536 to 4000000000 (this hostd's VMs get that one and the next ${VM_UID_RANGE_SIZE - 1})\n`);
    return 2;
  }
  const relative = hostPathRoots?.find((r) => !r.startsWith("/"));
  if (relative !== undefined) {
    process.stderr.write(`hostd: --host-path-root takes an absolute directory, got "${relative}"\n`);
    return 2;
  }
  const limits: NonNullable<HostdOptions["limits"]> = {};
  for (const [flag, value, key] of [
    ["--frame-timeout", conn.frameTimeout, "frameTimeoutMs"],
    ["--idle-timeout", conn.idleTimeout, "idleTimeoutMs"],
  ] as const) {
    if (value === undefined) continue;
    const seconds = Number(value);
    if (!(Number.isFinite(seconds) && seconds > 0 && seconds <= 86_400)) {
      process.stderr.write(`hostd: ${flag} takes seconds, above 0 and at most 86400 (fractions allowed)\n`);
      return 2;
    }
    limits[key] = Math.round(seconds * 1000);
  }
  if (conn.maxPerPeer !== undefined) {
    const n = Number(conn.maxPerPeer);
    if (!(Number.isInteger(n) && n >= 1 && n <= 1_000_000)) {
      process.stderr.write(`hostd: --max-connections-per-peer takes a whole number from 1 to 1000000\n`);
      return 2;
    }
    limits.maxConnectionsPerPeer = n;
  }
  const log = new Logger({ svc: "hostd" });
  const h = await startHostd({ socketPath, stateDir, accel, socketGroup: gid, vmUidBase, hostPathRoots, allowOvercommit, limits, log });
  await new Promise<void>((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => resolve());
  });
  await h.close();
  return 0;
}

/** Bridges stdin/stdout to hostd's socket; exits when hostd closes the connection. */
function dialStdio(socketPath: string): Promise<number> {
  return new Promise((resolve) => {
    const sock = net.createConnection(socketPath);
    sock.once("error", (e: NodeJS.ErrnoException) => {
      const why =
        e.code === "ENOENT" || e.code === "ECONNREFUSED"
          ? `hostd's socket is not at ${socketPath} (${e.code}): hostd is not running, or serves another path. \`hostd doctor\` checks this host; kvm:socketPath names the socket hostd serves.`
          : `cannot connect to ${socketPath}: ${e.message}`;
      process.stderr.write(`hostd dial-stdio: ${why}\n`);
      resolve(1);
    });
    sock.once("connect", () => {
      process.stdin.pipe(sock);
      sock.pipe(process.stdout);
      sock.once("close", () => resolve(0));
    });
  });
}

async function vmCommand(socketPath: string, sub: string | undefined, name: string | undefined, json: boolean): Promise<number> {
  const client = new HostClient(new LocalTransport(socketPath));
  if (sub === "list") {
    const { vms } = await client.vm.list();
    if (json) {
      process.stdout.write(JSON.stringify(vms, null, 2) + "\n");
      return 0;
    }
    const rows = [["NAME", "STATE", "VCPUS", "MEMORY", "PID", "ACCEL", "IP", "ID", "OWNER"]];
    for (const v of vms) {
      rows.push([v.name, v.state, String(v.spec.vcpus), `${v.spec.memoryMiB} MiB`, v.pid ? String(v.pid) : "-", v.accelerator ?? "-", v.primaryIp ?? "-", v.id, v.owner ?? "-"]);
    }
    printTable(rows);
    return 0;
  }
  if (sub === "show" && name) {
    process.stdout.write(JSON.stringify(await client.vm.get(name), null, 2) + "\n");
    return 0;
  }
  process.stderr.write(`hostd vm: use "list" or "show NAME"\n`);
  return 2;
}

/**
 * The operator's verbs: each one call (restart: two) of the same API the provider uses, so the
 * same rules and per-VM locks apply, and hostd records each in its events with the caller's uid.
 */
const VM_ACTIONS = {
  start: "starting",
  stop: "stopping",
  restart: "restarting",
  kill: "killing",
  set: "changing",
} as const;

type CliValues = { json: boolean; vcpus?: string; memory?: string; running?: string; timeout?: string };

/** A usage mistake: said at once, exit code 2, nothing sent to hostd. */
class UsageError extends Error {}

function wholeNumber(flag: string, v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} takes ${what}, got "${v}"`);
  return Number(v);
}

/** Runs one operator command; a hostd error names the object and how to go on. */
async function operatorCall<T>(what: string, kind: "VM" | "Disk", name: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (e instanceof KvmError) {
      const fix = e.code === "not_found" ? ` \`hostd ${kind.toLowerCase()} list\` shows the ${kind === "VM" ? "VMs" : "Disks"} on this host.` : "";
      throw new KvmError(e.code, `${what} ${kind} "${name}": ${e.message}${fix}`, e.details, e.requestId);
    }
    throw e;
  }
}

async function vmAction(socketPath: string, action: keyof typeof VM_ACTIONS, name: string | undefined, v: CliValues): Promise<number> {
  if (!name) {
    process.stderr.write(`hostd vm ${action}: name the VM: hostd vm ${action} NAME (\`hostd vm list\` shows them)\n`);
    return 2;
  }
  let timeoutSeconds: number | undefined;
  let update: { vcpus?: number; memoryMiB?: number; running?: boolean } = {};
  try {
    timeoutSeconds = wholeNumber("--timeout", v.timeout, "seconds (a whole number)");
    if (action === "set") {
      if (v.running !== undefined && v.running !== "true" && v.running !== "false") throw new UsageError(`--running takes true or false, got "${v.running}"`);
      update = {
        ...(v.vcpus !== undefined && { vcpus: wholeNumber("--vcpus", v.vcpus, "a whole number of vCPUs") }),
        ...(v.memory !== undefined && { memoryMiB: wholeNumber("--memory", v.memory, "MiB (a whole number)") }),
        ...(v.running !== undefined && { running: v.running === "true" }),
      };
      if (Object.keys(update).length === 0) throw new UsageError("say what to change: --vcpus N, --memory MiB and/or --running true|false");
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`hostd vm ${action} ${name}: ${e.message}\n`);
    return 2;
  }
  const client = new HostClient(new LocalTransport(socketPath));
  const stop = (force: boolean) => client.vm.stop({ name, force, timeoutSeconds: force ? 0 : (timeoutSeconds ?? 60) });
  const done = await operatorCall(VM_ACTIONS[action], "VM", name, async () => {
    switch (action) {
      case "start":
        return { vm: await client.vm.start(name) };
      case "stop":
        return { vm: await stop(false) };
      case "kill":
        return { vm: await stop(true) };
      case "restart":
        await stop(false);
        return { vm: await client.vm.start(name), restarted: true };
      case "set":
        return client.vm.update({ name, ...update, ...(timeoutSeconds !== undefined && { stopTimeoutSeconds: timeoutSeconds }) });
    }
  });
  if (v.json) {
    process.stdout.write(JSON.stringify(done, null, 2) + "\n");
    return 0;
  }
  const vm = done.vm;
  const rows = [
    ["NAME", "STATE", "VCPUS", "MEMORY", "PID", "RESTARTED", "LAST EXIT"],
    [vm.name, vm.state, String(vm.spec.vcpus), `${vm.spec.memoryMiB} MiB`, vm.pid ? String(vm.pid) : "-", "restarted" in done && done.restarted ? "yes" : "no", vm.lastExit?.reason ?? "-"],
  ];
  printTable(rows);
  return 0;
}

/** `hostd disk resize NAME SIZE`: SIZE in GiB, "20", "20G" or "20GiB". */
async function diskResize(socketPath: string, name: string | undefined, sizeArg: string | undefined, json: boolean): Promise<number> {
  const m = sizeArg === undefined ? null : /^(\d+)\s*(g|gib|gb)?$/i.exec(sizeArg);
  if (!name || !m) {
    process.stderr.write(`hostd disk resize: usage: hostd disk resize NAME SIZE, SIZE in GiB ("20", "20G" or "20GiB")${sizeArg ? `, got "${sizeArg}"` : ""}\n`);
    return 2;
  }
  const client = new HostClient(new LocalTransport(socketPath));
  const r = await operatorCall("resizing", "Disk", name, () => client.disk.update({ name, sizeGiB: Number(m[1]) }));
  if (json) {
    process.stdout.write(JSON.stringify(r, null, 2) + "\n");
    return 0;
  }
  printTable([
    ["NAME", "SIZE", "ONLINE", "ATTACHED TO"],
    [r.disk.name, size(r.disk.virtualSizeBytes), r.online ? "yes (its VM's QEMU grew it)" : "no", r.disk.attachedTo ?? "-"],
  ]);
  return 0;
}

/** Recent events; with --follow, then every new one as it is recorded (one JSON object a line with --json). */
async function eventsCommand(socketPath: string, object: string | undefined, limit: string | undefined, follow: boolean, json: boolean): Promise<number> {
  const client = new HostClient(new LocalTransport(socketPath));
  const base = { ...(object && { object }), ...(limit && { limit: Number(limit) }) };
  const print = (events: HostEvent[]) => {
    for (const e of events) {
      if (json) {
        process.stdout.write(JSON.stringify(e) + "\n");
        continue;
      }
      const extra = Object.entries(e.details)
        .filter(([k]) => !["id"].includes(k))
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      const who = e.uid !== undefined ? `  by uid ${e.uid}` : "";
      const req = e.requestId ? ` req=${e.requestId}` : "";
      process.stdout.write(`${e.at}  ${e.level.padEnd(5)}  ${e.kind} ${e.object}: ${e.message}${who}${extra || req ? `  (${[extra, req.trim()].filter(Boolean).join(" ")})` : ""}\n`);
    }
  };
  const { events } = await client.events(base);
  if (!follow) {
    if (json) process.stdout.write(JSON.stringify(events, null, 2) + "\n");
    else print(events);
    return 0;
  }
  // Following: one event a line (JSON lines with --json), then whatever comes after the last one seen.
  print(events);
  // No event of the object yet: every event of it that comes is after seq 0.
  let after = events.at(-1)?.seq ?? 0;
  for (;;) {
    await new Promise((res) => setTimeout(res, 500));
    const { events: fresh } = await client.events({ ...(object && { object }), after, limit: 1000 });
    print(fresh);
    after = fresh.at(-1)?.seq ?? after;
  }
}

/** Prints the end of the serial log; with --follow, keeps printing what comes (polling hostd once a second). */
async function vmLog(socketPath: string, name: string, bytes: string | undefined, follow: boolean): Promise<number> {
  const client = new HostClient(new LocalTransport(socketPath));
  let r = await client.vm.serialLog({ name, ...(bytes && { bytes: Number(bytes) }) });
  process.stdout.write(r.text);
  if (!follow) return 0;
  let seen = r.text;
  for (;;) {
    await new Promise((res) => setTimeout(res, 1000));
    r = await client.vm.serialLog({ name, bytes: 1024 * 1024 });
    // Print only what follows the text already shown (the log only grows while the VM runs).
    const at = seen.length > 0 ? r.text.lastIndexOf(seen.slice(-256)) : -1;
    const fresh = at >= 0 ? r.text.slice(at + Math.min(256, seen.length)) : r.text;
    if (fresh) process.stdout.write(fresh);
    seen = r.text;
  }
}

/** Attaches the terminal to the VM's serial console through hostd; Ctrl-] detaches. */
async function vmConsole(socketPath: string, name: string): Promise<number> {
  let sock: Duplex;
  try {
    sock = await new HostClient(new LocalTransport(socketPath)).openStream(P.vmConsole, { name });
  } catch (e) {
    if (!(e instanceof KvmError)) throw e;
    process.stderr.write(`hostd: [${e.code}] ${e.message}\n`);
    return 1;
  }
  process.stderr.write(`attached to the console of VM "${name}"; Ctrl-] detaches\n`);
  const stdin = process.stdin;
  if (stdin.isTTY) stdin.setRawMode(true);
  return new Promise<number>((resolve) => {
    const done = () => {
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      sock.destroy();
      process.stderr.write("\ndetached\n");
      resolve(0);
    };
    stdin.on("data", (d: Buffer) => {
      const i = d.indexOf(0x1d);
      if (i >= 0) {
        if (i > 0) sock.write(d.subarray(0, i));
        done();
      } else sock.write(d);
    });
    stdin.on("end", done);
    sock.on("data", (d: Buffer) => process.stdout.write(d));
    // openStream hands the stream over paused (what came after the reply waits in it).
    sock.resume();
    sock.on("close", done);
  });
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd() + "\n");
}

function size(bytes: number | null): string {
  if (bytes === null) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

async function diskCommand(socketPath: string, sub: string | undefined, json: boolean): Promise<number> {
  if (sub !== "list") {
    process.stderr.write(`hostd disk: use "list"\n`);
    return 2;
  }
  const { disks } = await new HostClient(new LocalTransport(socketPath)).disk.list();
  if (json) {
    process.stdout.write(JSON.stringify(disks, null, 2) + "\n");
    return 0;
  }
  const rows = [["NAME", "STATE", "FORMAT", "SIZE", "ON HOST", "ATTACHED TO", "BASE", "OWNER"]];
  for (const d of disks) {
    rows.push([d.name, d.problem ? "MISSING FILE" : "ok", d.format, size(d.virtualSizeBytes), size(d.actualSizeBytes), d.attachedTo ?? "-", d.backingFile ? "clone" : "-", d.owner ?? "-"]);
  }
  printTable(rows);
  for (const d of disks) if (d.problem) process.stdout.write(`disk ${d.name}: ${d.problem}\n`);
  return 0;
}

async function networkCommand(socketPath: string, sub: string | undefined, name: string | undefined, json: boolean): Promise<number> {
  const client = new HostClient(new LocalTransport(socketPath));
  if (sub === "list") {
    const { networks } = await client.network.list();
    if (json) {
      process.stdout.write(JSON.stringify(networks, null, 2) + "\n");
      return 0;
    }
    const rows = [["NAME", "MODE", "BRIDGE", "SUBNET", "GATEWAY", "STATE", "VMS", "LEASES", "OWNER"]];
    for (const n of networks) {
      rows.push([n.name, n.spec.mode, n.bridge, n.ipv4?.cidr ?? "-", n.ipv4?.gateway ?? "-", n.problems.length ? `degraded: ${n.problems.join("; ")}` : n.state, String(n.vms.length), String(n.leases.length), n.owner ?? "-"]);
    }
    printTable(rows);
    return 0;
  }
  if (sub === "show" && name) {
    process.stdout.write(JSON.stringify(await client.network.get(name), null, 2) + "\n");
    return 0;
  }
  process.stderr.write(`hostd network: use "list" or "show NAME"\n`);
  return 2;
}

async function imageCommand(socketPath: string, sub: string | undefined, sha: string | undefined, json: boolean): Promise<number> {
  const client = new HostClient(new LocalTransport(socketPath));
  if (sub === "list") {
    const r = await client.image.list();
    if (json) {
      process.stdout.write(JSON.stringify(r, null, 2) + "\n");
      return 0;
    }
    const rows = [["SHA256", "FORMAT", "SIZE", "USED BY", "URL"]];
    for (const i of r.images) rows.push([i.sha256.slice(0, 16), i.format, size(i.sizeBytes), i.usedBy.join(",") || "-", i.url]);
    printTable(rows);
    for (const d of r.downloads) {
      const pct = d.totalBytes ? ` (${Math.floor((100 * d.bytes) / d.totalBytes)}%)` : "";
      process.stdout.write(`downloading ${d.sha256.slice(0, 16)}: ${size(d.bytes)}${d.totalBytes ? ` of ${size(d.totalBytes)}` : ""}${pct} from ${d.url}\n`);
    }
    return 0;
  }
  if (sub === "prune") {
    const { removed } = await client.image.prune(sha);
    process.stdout.write(removed.length ? `removed ${removed.join(" ")}\n` : "nothing to prune\n");
    return 0;
  }
  process.stderr.write(`hostd image: use "list" or "prune [SHA256]"\n`);
  return 2;
}

// `hostd --version` is `hostd version`, as most commands have it.
main(process.argv.slice(2).map((a, i) => (i === 0 && a === "--version" ? "version" : a))).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof KvmError) process.stderr.write(`hostd: ${e.toString()}\n`);
    else process.stderr.write(`hostd: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
