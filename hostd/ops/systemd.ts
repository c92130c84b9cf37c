/**
 * What `hostd install` writes, as pure functions: the systemd unit (with the
 * install manifest in a comment, so `hostd uninstall` knows exactly what to
 * undo), the tmpfiles.d entry, and systemd's command-line quoting.
 */

export const UNIT_NAME = "hostd.service";
export const UNIT_DIR = "/etc/systemd/system";
export const WANTED_BY = "multi-user.target";
export const TMPFILES_PATH = "/etc/tmpfiles.d/hostd.conf";
export const MANIFEST_PREFIX = "# hostd-install-manifest: ";
export const MARKER = "# Installed by `hostd install` (pulumi-kvm); `hostd uninstall` removes it.";

/** What one install did, kept in the unit file so uninstall undoes exactly that. */
export interface InstallManifest {
  version: 1;
  /** The socket group and its gid at install time. */
  group: string;
  gid: number;
  /** The group did not exist before: uninstall deletes it. */
  createdGroup: boolean;
  stateDir: string;
  socket: string;
  /** The socket's directory (the tmpfiles.d entry). */
  runtimeDir: string;
  /** Directories install created (by this and earlier installs), for uninstall to remove. */
  created: CreatedDir[];
}

/**
 * A directory install made: `dir`, and `top`, the topmost directory mkdir -p
 * made for it. State and socket directories, and configuration directories
 * (tmpfiles.d, the unit directory, the target's .wants) that were missing.
 */
export interface CreatedDir {
  kind: "state" | "runtime" | "config";
  dir: string;
  top: string;
}

/** Quotes one word for an Exec= line: `%` and `$` are escaped, anything with blanks or quotes is double-quoted. */
export function systemdQuote(word: string): string {
  const escaped = word.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  if (escaped !== "" && !/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** Paths that go into the unit and tmpfiles.d unquoted must be absolute and plain. */
export function checkPlainAbsolute(what: string, p: string): string | undefined {
  if (!p.startsWith("/")) return `${what} must be an absolute path (got ${JSON.stringify(p)})`;
  if (/[\s"'\\%$;]/.test(p) || /[\x00-\x1f\x7f]/.test(p)) return `${what} must not contain blanks, quotes, backslashes, %, $ or ; (got ${JSON.stringify(p)})`;
  return undefined;
}

export interface UnitParams {
  node: string;
  cli: string;
  manifest: InstallManifest;
  /** systemd's version here (`systemctl --version`), if known: DelegateSubgroup= needs 254. */
  systemdVersion?: number;
}

/** systemd learnt DelegateSubgroup= in version 254. */
export const DELEGATE_SUBGROUP_SINCE = 254;

/** The version number in `systemctl --version` output ("systemd 252 (252.39-1~deb12u2)" → 252). */
export function parseSystemdVersion(output: string): number | undefined {
  const m = /^systemd (\d+)/m.exec(output);
  return m ? Number(m[1]) : undefined;
}

export function renderUnit({ node, cli, manifest: m, systemdVersion }: UnitParams): string {
  const subgroup = systemdVersion !== undefined && systemdVersion >= DELEGATE_SUBGROUP_SINCE;
  const exec = [node, cli, "serve", "--socket", m.socket, "--state-dir", m.stateDir, "--socket-group", String(m.gid)].map(systemdQuote).join(" ");
  return `${MARKER}
${MANIFEST_PREFIX}${JSON.stringify(m)}
[Unit]
Description=hostd: QEMU/KVM virtual machines for pulumi-kvm
After=network.target

[Service]
Type=simple
# As root: hostd makes bridges, taps and nftables rules, and starts each VM's
# QEMU through setpriv as an unprivileged user of its own. The socket is
# ${m.socket} (mode 0660, group ${m.group}, gid ${m.gid}).
ExecStart=${exec}
# VMs must outlive hostd. Each QEMU (and each network's dnsmasq) runs in a
# session of its own, but stays inside this service's cgroup, and systemd's default
# KillMode=control-group would signal every process of that cgroup, so every
# VM, on "systemctl stop" or "restart". With KillMode=process only hostd itself
# is signalled; the VMs keep running and the next hostd reattaches to them.
# (On the next start systemd notes the "left-over" QEMU processes: expected.)
KillMode=process
# hostd puts every QEMU into a cgroup of its own, so busy guests together weigh
# as much as hostd and cannot starve it of CPU (hostd/drivers/cgroup.ts).
# Delegate=yes hands this unit's cgroup to hostd to arrange. cgroup v2 lets only
# leaves hold processes, so hostd itself must start in a leaf: DelegateSubgroup=
# (systemd ${DELEGATE_SUBGROUP_SINCE} or later).
${subgroup ? "" : `# systemd ${systemdVersion ?? "(version unknown)"} here has no DelegateSubgroup=, so on cgroup v2 the VMs
# share hostd's cgroup ("hostd doctor" says so).
`}Delegate=yes
${subgroup ? "DelegateSubgroup=hostd\n" : ""}Restart=on-failure
RestartSec=2s

[Install]
WantedBy=${WANTED_BY}
`;
}

export function renderTmpfiles(runtimeDir: string): string {
  return `${MARKER}
# The directory of hostd's socket, made again at every boot.
d ${runtimeDir} 0755 root root -
`;
}

/** The manifest in a unit file's text, if it is one `hostd install` wrote. */
export function parseManifest(unitText: string): InstallManifest | undefined {
  const line = unitText.split("\n").find((l) => l.startsWith(MANIFEST_PREFIX));
  if (!line) return undefined;
  try {
    const m = JSON.parse(line.slice(MANIFEST_PREFIX.length)) as Partial<InstallManifest>;
    if (
      m.version !== 1 ||
      typeof m.group !== "string" ||
      typeof m.gid !== "number" ||
      typeof m.createdGroup !== "boolean" ||
      typeof m.stateDir !== "string" ||
      typeof m.socket !== "string" ||
      typeof m.runtimeDir !== "string" ||
      !Array.isArray(m.created) ||
      !m.created.every((d) => (d.kind === "state" || d.kind === "runtime" || d.kind === "config") && typeof d.dir === "string" && typeof d.top === "string")
    ) {
      return undefined;
    }
    return m as InstallManifest;
  } catch {
    return undefined;
  }
}
