/**
 * A VM's files on the host: its directory under `<stateDir>/vms/<id>/` with
 * QEMU's sockets, pidfile and logs, the cloud-init seed, the UEFI NVRAM, and
 * the ownership of what QEMU opens read-write (the VM's own user, so no other
 * VM can read them).
 */
import { createHash } from "node:crypto";
import { type Stats, chmodSync, chownSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { KvmError } from "../../sdk/errors";
import type { VmSpec } from "../../sdk/protocol";
import { buildSeed, renderMetaData } from "../drivers/cloud-init";
import type { QemuPaths } from "../drivers/qemu-argv";
import type { RunAs } from "../drivers/qemu";

/** The UEFI firmware hostd gives `firmware: uefi` VMs: Debian's ovmf package (the one place these paths are named). */
export const OVMF = { code: "/usr/share/OVMF/OVMF_CODE_4M.fd", vars: "/usr/share/OVMF/OVMF_VARS_4M.fd" };

/** The first of the firmware's files that is not there, or undefined when UEFI VMs can start. */
export function ovmfMissing(firmware: { code: string; vars: string } = OVMF): string | undefined {
  return [firmware.code, firmware.vars].find((f) => !existsSync(f));
}

export class VmFiles {
  constructor(
    private readonly stateDir: string,
    private readonly firmware: { code: string; vars: string } = OVMF,
  ) {}

  /** Makes `<stateDir>/vms`: traversable (not listable), so each VM's QEMU reaches its own directory inside. */
  init(): void {
    const root = path.join(this.stateDir, "vms");
    mkdirSync(root, { recursive: true, mode: 0o711 });
    chmodSync(root, 0o711);
  }

  dir(id: string): string {
    return path.join(this.stateDir, "vms", id);
  }

  /** Makes the VM's directory (owner only); true when it was not there. */
  ensureDir(id: string): boolean {
    const made = !existsSync(this.dir(id));
    mkdirSync(this.dir(id), { recursive: true, mode: 0o700 });
    return made;
  }

  /** Removes the VM's directory and everything in it. */
  remove(id: string): void {
    keepForTests(this.paths(id).serialLog, `${id}.serial.log`);
    keepForTests(this.paths(id).log, `${id}.qemu.log`);
    rmSync(this.dir(id), { recursive: true, force: true });
  }

  paths(id: string): QemuPaths {
    const dir = this.dir(id);
    return {
      qmp: path.join(dir, "qmp.sock"),
      opsQmp: path.join(dir, "qmp-ops.sock"),
      pidfile: path.join(dir, "qemu.pid"),
      serialSocket: path.join(dir, "serial.sock"),
      serialLog: path.join(dir, "serial.log"),
      guestAgent: path.join(dir, "qga.sock"),
      log: path.join(dir, "qemu.log"),
    };
  }

  /**
   * The unix sockets of a move (vm-migration.ts): `ram` QEMU's migration stream, `nbd` the
   * destination's NBD server, `disk<i>` the source's end of disk i's mirror. All in the VM's
   * directory, none longer than qmp-ops.sock (the socket length check counts on it).
   */
  migrationSocket(id: string, which: "ram" | "nbd" | { disk: number }): string {
    return path.join(this.dir(id), typeof which === "string" ? `mig-${which}.sock` : `mig-d${which.disk}.sock`);
  }

  seedPath(id: string): string {
    return path.join(this.dir(id), "seed.iso");
  }

  /** The VM's own copy of the UEFI variable store. */
  nvramPath(id: string): string {
    return path.join(this.dir(id), "OVMF_VARS.fd");
  }

  /** The OVMF firmware for `firmware: uefi`; a clear error when the host lacks it. */
  ovmf(): { code: string; vars: string } {
    const missing = ovmfMissing(this.firmware);
    if (missing) throw new KvmError("unsupported", `UEFI firmware is not installed on this host (${missing}): install the ovmf package.`);
    return this.firmware;
  }

  /** The VM's NVRAM: created once, kept across restarts, removed with the VM. True when it was made now. */
  ensureNvram(id: string): boolean {
    const vars = this.nvramPath(id);
    if (existsSync(vars)) return false;
    // 0600 from the start (a copy would take the template's 0644): the VM's NVRAM is its own.
    writeFileSync(vars, readFileSync(this.ovmf().vars), { mode: 0o600, flag: "wx" });
    return true;
  }

  /** Hashes of seed files by path, kept while the file's size and mtime stay the same (vm.list hashes no unchanged seed). */
  private readonly seedHashes = new Map<string, { size: number; mtimeMs: number; sha256: string }>();

  /** sha256 of the VM's seed file as it is now, or null when there is none. */
  seedSha256(id: string): string | null {
    const file = this.seedPath(id);
    let st: Stats;
    try {
      st = statSync(file);
    } catch {
      this.seedHashes.delete(file);
      return null;
    }
    const kept = this.seedHashes.get(file);
    if (kept && kept.size === st.size && kept.mtimeMs === st.mtimeMs) return kept.sha256;
    const sha256 = createHash("sha256").update(readFileSync(file)).digest("hex");
    this.seedHashes.set(file, { size: st.size, mtimeMs: st.mtimeMs, sha256 });
    return sha256;
  }

  /** (Re)builds the VM's cloud-init seed, or removes it when the spec has no cloud-init. */
  async writeSeed(vm: { id: string; name: string; spec: VmSpec }): Promise<void> {
    const ci = vm.spec.cloudInit;
    const seed = this.seedPath(vm.id);
    if (!ci) {
      rmSync(seed, { force: true });
      return;
    }
    // instance-id and local-hostname come from hostd unless the user's meta-data sets them.
    const user = ci.metaData ?? "";
    const ours = renderMetaData({ instanceId: ci.instanceId ?? vm.id, hostname: vm.name })
      .split("\n")
      .filter((line) => line !== "" && !new RegExp(`^${line.split(":")[0]}\\s*:`, "m").test(user));
    const metaData = [...ours, user].filter((x) => x !== "").join("\n") + "\n";
    this.ensureDir(vm.id);
    try {
      await buildSeed(seed, { userData: ci.userData, metaData, networkConfig: ci.networkConfig });
    } catch (e) {
      throw new KvmError("qemu_failed", `Could not build the cloud-init seed of VM "${vm.name}": ${(e as Error).message}`, { vm: vm.name });
    }
  }

  /**
   * Gives the VM's user its directory and the files QEMU opens read-write
   * (disks, NVRAM, seed): owner only, so no other VM can read them. Returns
   * each file's owner and mode from before, for {@link restore}.
   */
  grant(id: string, disks: string[], as: RunAs): FileOwnership[] {
    const before: FileOwnership[] = [];
    for (const f of [this.dir(id), ...disks, this.nvramPath(id), this.seedPath(id)]) {
      if (!existsSync(f)) continue;
      const st = statSync(f);
      before.push({ file: f, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 });
      chownSync(f, as.uid, as.gid);
      chmodSync(f, f === this.dir(id) ? 0o700 : 0o600);
    }
    return before;
  }

  /** Puts files back as {@link grant} found them (a file gone meanwhile is skipped). */
  restore(owners: FileOwnership[]): void {
    for (const o of owners) {
      if (!existsSync(o.file)) continue;
      chownSync(o.file, o.uid, o.gid);
      chmodSync(o.file, o.mode);
    }
  }

  /** Disk files that left a VM go back to root (a Disk outlives the VM that used it). */
  release(disks: string[]): FileOwnership[] {
    const before: FileOwnership[] = [];
    for (const f of disks) {
      if (!existsSync(f)) continue;
      const st = statSync(f);
      before.push({ file: f, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 });
      chownSync(f, 0, 0);
    }
    return before;
  }

  /** A file's content, owner and mode now (undefined: no such file), for {@link putBack}. */
  snapshot(file: string): FileSnapshot {
    if (!existsSync(file)) return { file };
    const st = statSync(file);
    return { file, content: readFileSync(file), owner: { file, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 } };
  }

  /** Puts a file back as {@link snapshot} found it: same content, owner and mode, or no file. */
  putBack(s: FileSnapshot): void {
    if (s.content === undefined) {
      rmSync(s.file, { force: true });
      return;
    }
    writeFileSync(s.file, s.content);
    this.restore([s.owner!]);
  }

  /**
   * The files a QEMU launch makes in the VM's directory (sockets, pidfile,
   * logs), as they are now; {@link putBackQemuFiles} removes those that were
   * not there and puts QEMU's start-up log back.
   */
  qemuFiles(id: string): { made: string[]; log: FileSnapshot } {
    const p = this.paths(id);
    return { made: [p.qmp, p.opsQmp, p.pidfile, p.serialSocket, p.serialLog, p.guestAgent].filter((f) => !existsSync(f)), log: this.snapshot(p.log) };
  }

  putBackQemuFiles(before: { made: string[]; log: FileSnapshot }): void {
    for (const f of before.made) rmSync(f, { force: true });
    this.putBack(before.log);
  }

  /** The last `bytes` of what the guest printed on its serial console. */
  serialLog(id: string, bytes: number): { text: string; truncated: boolean } {
    const file = this.paths(id).serialLog;
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return { text: "", truncated: false };
    }
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    const fd = openSync(file, "r");
    try {
      readSync(fd, buf, 0, buf.length, start);
    } finally {
      closeSync(fd);
    }
    return { text: buf.toString("utf8"), truncated: start > 0 };
  }
}

/** A file's owner and mode, as they were before hostd handed it to a VM's user. */
export interface FileOwnership {
  file: string;
  uid: number;
  gid: number;
  mode: number;
}

/** A file as it was: its content, owner and mode, or that there was none. */
export interface FileSnapshot {
  file: string;
  content?: Buffer;
  owner?: FileOwnership;
}

/**
 * HOSTD_TRACE_DIR=DIR (set by the test fixtures, never in production): what a failing test needs to
 * read after its VMs are gone is kept there — each VM's QMP exchange (vm-monitor.ts) and, as the VM
 * is deleted, its serial log and QEMU's own output.
 */
function keepForTests(file: string, as: string): void {
  const dir = process.env.HOSTD_TRACE_DIR;
  if (!dir || !existsSync(file)) return;
  try {
    copyFileSync(file, path.join(dir, as));
  } catch {
    /* best effort: a trace, not state */
  }
}
