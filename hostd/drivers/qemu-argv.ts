/**
 * Builds QEMU's argv from a VM's configuration. A pure function: no I/O, so
 * every flag (KVM path included, which these machines cannot run) is unit
 * tested. It sees hostd's own VM config, never wire types.
 */
import { AcceleratorKind } from "./accel";

export interface QemuPaths {
  /** hostd's QMP socket (hostd holds the one connection to it). */
  qmp: string;
  /** A second QMP socket for operators and tests (one client per socket). */
  opsQmp: string;
  pidfile: string;
  /** Serial console: a socket to attach to, mirrored into a log file. */
  serialSocket: string;
  serialLog: string;
}

export interface QemuVmConfig {
  uuid: string;
  name: string;
  vcpus: number;
  memoryMiB: number;
  accel: AcceleratorKind;
  kernel: { path: string; initrd?: string; cmdline?: string };
  paths: QemuPaths;
}

/** QEMU option values use ',' as separator; a literal comma is written ',,'. */
export function optValue(s: string): string {
  return s.replace(/,/g, ",,");
}

export function buildQemuArgv(c: QemuVmConfig): string[] {
  const p = c.paths;
  const argv = [
    "-name", `guest=${c.name},debug-threads=on`,
    "-uuid", c.uuid,
    "-machine", "q35",
    ...(c.accel === "kvm" ? ["-accel", "kvm", "-cpu", "host"] : ["-accel", "tcg", "-cpu", "max"]),
    "-smp", String(c.vcpus),
    "-m", `${c.memoryMiB}M`,
    // Nothing implicit: every device is one hostd asked for.
    "-nodefaults", "-no-user-config",
    "-display", "none",
    "-chardev", `socket,id=serial0,path=${optValue(p.serialSocket)},server=on,wait=off,logfile=${optValue(p.serialLog)},logappend=on`,
    "-serial", "chardev:serial0",
    "-chardev", `socket,id=qmp,path=${optValue(p.qmp)},server=on,wait=off`,
    "-mon", "chardev=qmp,mode=control",
    "-chardev", `socket,id=qmp-ops,path=${optValue(p.opsQmp)},server=on,wait=off`,
    "-mon", "chardev=qmp-ops,mode=control",
    "-pidfile", p.pidfile,
    // Own session, detached from hostd: stopping or crashing hostd never stops a VM.
    "-daemonize",
    "-msg", "timestamp=on",
    "-kernel", c.kernel.path,
  ];
  if (c.kernel.initrd) argv.push("-initrd", c.kernel.initrd);
  if (c.kernel.cmdline) argv.push("-append", c.kernel.cmdline);
  return argv;
}
