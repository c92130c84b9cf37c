/**
 * Host paths a caller names (a Disk's source, a VM's kernel, initrd and
 * cdrom, and whatever comes later) are used with the caller's rights, not
 * hostd's: hostd runs as root for every member of its group, so a path is
 * taken only if the caller could open it themselves.
 *
 * For a caller other than root (or hostd's own user) the kernel decides: the
 * native `openAs` resolves the path and opens it in a thread that carries
 * the caller's uid, gid and groups and no capabilities, so every directory
 * on the way must be searchable and the file readable for that user (ACLs
 * and LSMs included). Symlinks and ".." are resolved first; the resolved
 * path is opened with O_NOFOLLOW and must be the same inode as the one
 * looked at. hostd then works from that descriptor (children reach it as
 * /proc/<hostd>/fd/<n>, never by name) or, for files another process opens
 * later (QEMU's kernel, initrd, cdrom), from the resolved path, checked
 * again before each use.
 *
 * Only regular files are taken; block devices only from root and only when
 * asked for; FIFOs, sockets, character devices, directories and the
 * kernel's own interface files (/proc, /sys, ...) never. An operator may
 * confine host paths to directories (`hostd serve --host-path-root`).
 *
 * A caller hostd cannot check as itself — unknown (the peer-credential
 * module is missing) or one hostd cannot switch to (hostd is not root, or
 * `openAs` is missing) — is treated as a stranger: only files every user
 * may read are taken.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, realpathSync, statfsSync, statSync } from "node:fs";
import { constants as osConstants } from "node:os";
import * as path from "node:path";
import { KvmError } from "../sdk/errors";
import { whyNotWorldReadable } from "./files";
import { loadNative } from "./addon";

/** Who asks (hostd/peer.ts's PeerCred fits). */
export interface Caller {
  uid: number;
  gid: number;
  /** Supplementary groups. */
  groups: number[];
}

export interface HostPathUse {
  /** What the path is, for messages: `the source of disk "web"`, `the kernel of VM "a"`. */
  what: string;
  /** The caller asked for a block device explicitly (taken from root callers only). */
  blockDevice?: boolean;
  /** How a caller asks for a block device here (e.g. `source.blockDevice: true`); absent: never taken. */
  blockDeviceOption?: string;
}

/** A host path as it was checked: where it really is and which file it was. */
export interface HostFile {
  /** As the caller gave it. */
  asked: string;
  /** Resolved (no symlinks, no ".."): the name hostd uses from here on. */
  path: string;
  kind: "file" | "block";
  /** Device and inode, decimal, to tell the file from one put in its place later. */
  dev: string;
  ino: string;
}

/** A host path opened for hostd: close it when done. */
export interface OpenHostFile extends HostFile {
  fd: number;
  /** The open file for hostd's child processes (qemu-img run by hostd's user): the same inode, never a fresh path walk. */
  fdPath: string;
  /** Bytes (0 for a block device: ask qemu-img). */
  size: number;
  close(): void;
}

type OpenAsResult = { path: string; mode: number; fd: number } | { errno: number; syscall: string };
export type OpenAs = (path: string, uid: number, gid: number, groups: number[]) => OpenAsResult;

export interface HostPathsOptions {
  /** Directories host paths must lie in (after resolving); none: anywhere. */
  roots?: string[];
  /** The native opener; null: none (callers are then checked as strangers). Default: dist/native/openas.node. */
  openAs?: OpenAs | null;
  /** hostd's own uid (default: the process's). */
  selfUid?: number;
}

/** Filesystems whose "files" are kernel interfaces, not data (statfs f_type). */
const KERNEL_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, "proc"],
  [0x62656572, "sysfs"],
  [0x64626720, "debugfs"],
  [0x74726163, "tracefs"],
  [0x73636673, "securityfs"],
  [0x62656570, "configfs"],
  [0xde5e81e4, "efivarfs"],
  [0xcafe4a11, "bpf"],
  [0x27e0eb, "cgroup"],
  [0x63677270, "cgroup2"],
]);

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

export class HostPaths {
  /** The configured roots, resolved. */
  readonly roots: string[];
  private readonly openAs: OpenAs | null;
  private readonly selfUid: number;

  constructor(o: HostPathsOptions = {}) {
    this.roots = (o.roots ?? []).map((r) => {
      let real: string;
      try {
        real = realpathSync(r);
      } catch (e) {
        throw new KvmError("invalid_params", `Host path root ${r} cannot be used: ${(e as Error).message}.`);
      }
      if (!statSync(real).isDirectory()) throw new KvmError("invalid_params", `Host path root ${r} is not a directory.`);
      return real;
    });
    this.openAs = o.openAs === undefined ? nativeOpenAs() : o.openAs;
    this.selfUid = o.selfUid ?? process.getuid?.() ?? 0;
  }

  /**
   * Opens `asked` for reading as `caller` would, or throws a KvmError that
   * says why not (`permission_denied`: the caller cannot read it;
   * `invalid_params`: a kind or place hostd never takes; `conflict`: it does
   * not exist). Nothing is created either way.
   */
  open(asked: string, caller: Caller | undefined, use: HostPathUse): OpenHostFile {
    const as = this.howToCheck(caller);
    const opened = as.kind === "kernel" ? this.openAsCaller(asked, as.caller, use) : openHere(asked, use);
    try {
      if (as.kind === "stranger") {
        const why = whyNotWorldReadable(opened.path);
        if (why) throw refusal("permission_denied", use, asked, opened.path, `${as.why}, so it takes only files every user may read, and this one is not: ${why}`, caller);
      }
      return this.accept(asked, opened, caller, use);
    } catch (e) {
      if (opened.fd >= 0) closeSync(opened.fd);
      throw e;
    }
  }

  /** Checks `asked` as `open` does and lets go of it: for files another process opens later by their resolved path. */
  check(asked: string, caller: Caller | undefined, use: HostPathUse): HostFile {
    const f = this.open(asked, caller, use);
    f.close();
    return { asked: f.asked, path: f.path, kind: f.kind, dev: f.dev, ino: f.ino };
  }

  /**
   * Before hostd hands a checked path to a process again (QEMU starting,
   * perhaps long after the check): it must still name the same file — not
   * a symlink or another file put in its place — and still be allowed here.
   */
  verify(f: HostFile, use: HostPathUse): void {
    let fd: number;
    try {
      // Looked at before it is opened: whatever is there now may be a FIFO or a device.
      const kind = kindOf(Number(lstatSync(f.path).mode));
      if (kind !== f.kind) throw changed(use, f, kind === "file" || kind === "block" ? "another file is there now" : `it is ${kind} now`);
      fd = openSync(f.path, OPEN_FLAGS);
    } catch (e) {
      if (e instanceof KvmError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ELOOP") throw changed(use, f, "it is a symlink now");
      if (code === "ENOENT" || code === "ENOTDIR") throw changed(use, f, "it is gone");
      throw changed(use, f, `it cannot be opened (${code ?? (e as Error).message})`);
    }
    try {
      const st = fstatSync(fd, { bigint: true });
      if (String(st.dev) !== f.dev || String(st.ino) !== f.ino) throw changed(use, f, "another file is there now");
      this.inRoots(f.asked, f.path, use);
    } finally {
      closeSync(fd);
    }
  }

  /** Whether hostd can ask the kernel as this caller, or must treat them as a stranger. */
  private howToCheck(caller: Caller | undefined): { kind: "self" } | { kind: "kernel"; caller: Caller } | { kind: "stranger"; why: string } {
    if (!caller) return { kind: "stranger", why: "hostd cannot tell who is calling (its peer-credential module, dist/native/peercred.node, is missing)" };
    // Root may read anything hostd's user can; hostd's own user is hostd.
    if (caller.uid === 0 || caller.uid === this.selfUid) return { kind: "self" };
    if (this.selfUid !== 0) return { kind: "stranger", why: `hostd is not root, so it cannot check host paths as uid ${caller.uid}` };
    if (!this.openAs) return { kind: "stranger", why: `hostd cannot check host paths as uid ${caller.uid} (its native module, dist/native/openas.node, is missing)` };
    return { kind: "kernel", caller };
  }

  private openAsCaller(asked: string, caller: Caller, use: HostPathUse): Opened {
    const r = this.openAs!(asked, caller.uid, caller.gid, caller.groups);
    if ("errno" in r) throw openError(errnoName(r.errno), r.syscall, use, asked, caller);
    return { path: r.path, mode: r.mode, fd: r.fd };
  }

  /** The checks on what was opened: kind, filesystem, place. */
  private accept(asked: string, o: Opened, caller: Caller | undefined, use: HostPathUse): OpenHostFile {
    const kind = kindOf(o.mode);
    if (kind === "block") {
      if (!use.blockDevice) {
        const how = use.blockDeviceOption ? `: root callers may ask for one with ${use.blockDeviceOption}` : "";
        throw refusal("invalid_params", use, asked, o.path, `it is a block device, and hostd takes block devices only when asked for explicitly${how}`, caller);
      }
      if (caller?.uid !== 0) {
        throw refusal("permission_denied", use, asked, o.path, `it is a block device, and hostd takes block devices only from root callers`, caller);
      }
    } else if (kind !== "file") {
      throw refusal("invalid_params", use, asked, o.path, `it is ${kind}; hostd takes only regular files${use.blockDeviceOption ? ` (and block devices, with ${use.blockDeviceOption})` : ""}`, caller);
    }
    const fdPath = `/proc/${process.pid}/fd/${o.fd}`;
    const fs = KERNEL_FILESYSTEMS.get(Number(statfsSync(fdPath).type));
    if (fs) throw refusal("invalid_params", use, asked, o.path, `it is a file of the kernel's ${fs} interface, not a file of data`, caller);
    this.inRoots(asked, o.path, use);
    const st = fstatSync(o.fd, { bigint: true });
    let open = true;
    return {
      asked,
      path: o.path,
      kind,
      dev: String(st.dev),
      ino: String(st.ino),
      fd: o.fd,
      fdPath,
      size: Number(st.size),
      close: () => {
        if (open) closeSync(o.fd);
        open = false;
      },
    };
  }

  private inRoots(asked: string, resolved: string, use: HostPathUse): void {
    if (this.roots.length === 0 || this.roots.some((r) => within(resolved, r))) return;
    throw refusal(
      "invalid_params",
      use,
      asked,
      resolved,
      `it is outside the directories this host takes host paths from (hostd serve --host-path-root ${this.roots.join(", ")}): put the file in one of them`,
      undefined,
    );
  }
}

interface Opened {
  path: string;
  mode: number;
  /** -1: not opened (a kind hostd never opens). */
  fd: number;
}

/** hostd's own open, with hostd's rights: resolve, look without opening, open without following, compare. */
function openHere(asked: string, use: HostPathUse): Opened {
  let resolved: string;
  let before;
  try {
    resolved = realpathSync(asked);
    before = lstatSync(resolved, { bigint: true });
  } catch (e) {
    throw openError((e as NodeJS.ErrnoException).code ?? "EIO", "realpath", use, asked, undefined);
  }
  const mode = Number(before.mode);
  // A FIFO or a device may block or act on open: only regular files and block devices are opened.
  const kind = kindOf(mode);
  if (kind !== "file" && kind !== "block") return { path: resolved, mode, fd: -1 };
  let fd: number;
  try {
    fd = openSync(resolved, OPEN_FLAGS);
  } catch (e) {
    throw openError((e as NodeJS.ErrnoException).code ?? "EIO", "open", use, asked, undefined);
  }
  const after = fstatSync(fd, { bigint: true });
  if (after.dev !== before.dev || after.ino !== before.ino) {
    closeSync(fd);
    throw openError("ESTALE", "open", use, asked, undefined);
  }
  return { path: resolved, mode, fd };
}

function kindOf(mode: number): "file" | "block" | string {
  switch (mode & constants.S_IFMT) {
    case constants.S_IFREG:
      return "file";
    case constants.S_IFBLK:
      return "block";
    case constants.S_IFCHR:
      return "a character device";
    case constants.S_IFIFO:
      return "a FIFO";
    case constants.S_IFSOCK:
      return "a socket";
    case constants.S_IFDIR:
      return "a directory";
    case constants.S_IFLNK:
      return "a symlink";
    default:
      return "not a regular file";
  }
}

function within(p: string, root: string): boolean {
  return root === "/" || p === root || p.startsWith(root + path.sep);
}

function errnoName(n: number): string {
  return Object.entries(osConstants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;
}

function who(caller: Caller | undefined): string {
  return caller ? `uid ${caller.uid}` : "an unknown caller";
}

/** `the source of disk "d", /x (resolved: /y), ...` */
function subject(use: HostPathUse, asked: string, resolved?: string): string {
  const what = use.what.charAt(0).toUpperCase() + use.what.slice(1);
  return `${what}, ${asked}${resolved !== undefined && resolved !== asked ? ` (resolved: ${resolved})` : ""}`;
}

function refusal(code: "permission_denied" | "invalid_params", use: HostPathUse, asked: string, resolved: string, why: string, caller: Caller | undefined): KvmError {
  return new KvmError(code, `${subject(use, asked, resolved)}, is refused for ${who(caller)}: ${why}.`, {
    path: asked,
    resolved,
    ...(caller && { uid: caller.uid }),
  });
}

/** A failed resolve or open, in words the caller can act on. */
function openError(code: string, syscall: string, use: HostPathUse, asked: string, caller: Caller | undefined): KvmError {
  const details = { path: asked, ...(caller && { uid: caller.uid }), errno: code };
  switch (code) {
    case "EACCES":
    case "EPERM":
      return new KvmError(
        "permission_denied",
        `${subject(use, asked)}, cannot be read by ${who(caller)}, and hostd uses a host path only if its caller could open it (${syscall}: permission denied). ` +
          `Make it readable by ${who(caller)} (the file readable, every directory on the way searchable), or name a file that user can read.`,
        details,
      );
    case "ENOENT":
    case "ENOTDIR":
      return new KvmError("conflict", `${subject(use, asked)}, does not exist on this host.`, details);
    case "ELOOP":
      return new KvmError("conflict", `${subject(use, asked)}, is a loop of symlinks (or became a symlink while hostd opened it): point it at the file itself.`, details);
    case "ESTALE":
      return new KvmError("conflict", `${subject(use, asked)}, was replaced while hostd opened it; retry once it stays put.`, details);
    case "ENAMETOOLONG":
      return new KvmError("invalid_params", `${subject(use, asked)}, resolves to a path longer than the host allows.`, details);
    default:
      return new KvmError("conflict", `${subject(use, asked)}, cannot be opened (${syscall}: ${code}).`, details);
  }
}

function changed(use: HostPathUse, f: HostFile, how: string): KvmError {
  return new KvmError(
    "conflict",
    `${subject(use, f.asked, f.path)}, is not the file hostd checked: ${how}. Start or update the VM again so hostd checks the path as you.`,
    { path: f.asked, resolved: f.path },
  );
}

/** The native opener (hostd/native/openas.c), or null when it was not built. */
export function nativeOpenAs(): OpenAs | null {
  return loadNative("openas")?.openAs ?? null;
}

