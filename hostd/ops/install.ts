/**
 * `hostd install` and `hostd uninstall`: the socket group, the state and
 * socket directories, a tmpfiles.d entry and a systemd unit, enabled. Install
 * is idempotent and records what it made in the unit (see systemd.ts), and
 * uninstall undoes exactly that, keeping a state directory that still holds
 * VMs, disks or networks. Every program runs through exec.ts (no shell);
 * the machine is reached through {@link OpsSystem} so tests can use a scratch
 * root and a fake `run`.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { ExecResult, run } from "../exec";
import { socketLive } from "../server";
import { checkPlainAbsolute, CreatedDir, InstallManifest, MARKER, parseManifest, parseSystemdVersion, renderTmpfiles, renderUnit, TMPFILES_PATH, UNIT_DIR, UNIT_NAME, WANTED_BY } from "./systemd";

export const DEFAULT_GROUP = "hostd";

/**
 * `hostd` on every login shell's PATH: a script that runs this cli.js on the Node
 * that ran install (checked to have node:sqlite), whatever `node` the PATH finds.
 */
export const COMMAND_PATH = "/usr/local/bin/hostd";
const COMMAND_MARKER = "# written by hostd install";

export function renderCommand(node: string, cli: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `#!/bin/sh\n${COMMAND_MARKER}: the Node it runs on has node:sqlite; hostd uninstall removes this file\nexec ${q(node)} ${q(cli)} "$@"\n`;
}

/** The machine, as install and uninstall see it. */
export interface OpsSystem {
  /** Prefix of every file path ("/" on a real machine). */
  root: string;
  run(cmd: string, args: readonly string[]): Promise<ExecResult>;
  /** systemd is PID 1 (sd_booted: /run/systemd/system exists). */
  systemdRunning(): boolean;
  /** Something accepts connections on this unix socket. */
  socketLive(p: string): Promise<boolean>;
}

export function realSystem(): OpsSystem {
  return {
    root: "/",
    run: (cmd, args) => run(cmd, args, { timeoutMs: 120_000 }),
    systemdRunning: () => existsSync("/run/systemd/system"),
    socketLive,
  };
}

export interface InstallOptions {
  stateDir: string;
  socket: string;
  /** Node binary for ExecStart (default: this one). */
  node: string;
  /** Absolute path of dist/hostd/cli.js. */
  cli: string;
  group?: string;
}

export interface OpsResult {
  /** What was done, one line each, for the operator. */
  lines: string[];
  /** Something could not be done (said in lines). */
  ok: boolean;
}

/** The unit's path, the wants symlink and the tmpfiles entry, under `root`. */
export function installPaths(root: string) {
  const at = (p: string) => path.join(root, p);
  return {
    unit: at(path.join(UNIT_DIR, UNIT_NAME)),
    wants: at(path.join(UNIT_DIR, `${WANTED_BY}.wants`, UNIT_NAME)),
    tmpfiles: at(TMPFILES_PATH),
    command: at(COMMAND_PATH),
    at,
  };
}

/** gid of `group`, or undefined when it does not exist (getent exits 2). */
async function groupGid(sys: OpsSystem, group: string): Promise<number | undefined> {
  try {
    const { stdout } = await sys.run("getent", ["group", group]);
    const gid = Number.parseInt(stdout.split(":")[2] ?? "", 10);
    return Number.isInteger(gid) ? gid : undefined;
  } catch (e) {
    if ((e as { exitCode?: number }).exitCode === 2) return undefined;
    throw e;
  }
}

function readText(p: string): string | undefined {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return undefined;
  }
}

/** The topmost missing directory on the way to `dir`, or undefined when `dir` exists. */
function topMissing(dir: string): string | undefined {
  if (existsSync(dir)) return undefined;
  let top = dir;
  while (!existsSync(path.dirname(top))) top = path.dirname(top);
  return top;
}

function isSocket(p: string): boolean {
  try {
    return lstatSync(p).isSocket();
  } catch {
    return false;
  }
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Writes `text` unless the file already says exactly that; tells which. */
function writeIfChanged(p: string, text: string): "created" | "updated" | "unchanged" {
  const old = readText(p);
  if (old === text) return "unchanged";
  mkdirSync(path.dirname(p), { recursive: true, mode: 0o755 });
  writeFileSync(p, text, { mode: 0o644 });
  chmodSync(p, 0o644);
  return old === undefined ? "created" : "updated";
}

function systemctlArgs(sys: OpsSystem, args: string[]): string[] {
  return sys.root === "/" ? args : [`--root=${sys.root}`, ...args];
}

function why(e: unknown): string {
  return (e as Error).message.split("\n")[0] ?? String(e);
}

function pid1(sys: OpsSystem): string {
  return readText(path.join(sys.root, "proc/1/comm"))?.trim() || "not systemd";
}

export async function install(sys: OpsSystem, o: InstallOptions): Promise<OpsResult> {
  const lines: string[] = [];
  const say = (l: string) => lines.push(l);
  const group = o.group ?? DEFAULT_GROUP;
  const stateDir = path.resolve(o.stateDir);
  const runtimeDir = path.dirname(o.socket);
  for (const [what, p] of [["--state-dir", stateDir], ["--socket", o.socket], ["node", o.node], ["hostd cli", o.cli]] as const) {
    const bad = checkPlainAbsolute(what, p);
    if (bad) return { lines: [`not installed: ${bad}`], ok: false };
  }
  if (!/^[a-z_][a-z0-9_-]*$/.test(group)) return { lines: [`not installed: bad group name ${JSON.stringify(group)}`], ok: false };
  const P = installPaths(sys.root);
  if (!existsSync(P.at(o.cli))) return { lines: [`not installed: ${o.cli} does not exist (run npm run build first)`], ok: false };

  const previousText = readText(P.unit);
  const previous = previousText === undefined ? undefined : parseManifest(previousText);
  if (previousText !== undefined && !previous) {
    return { lines: [`not installed: ${P.unit} exists and was not written by hostd install; move it away first`], ok: false };
  }

  // 1. The socket group.
  let gid = await groupGid(sys, group);
  let createdGroup = previous?.group === group && previous.createdGroup;
  if (gid === undefined) {
    await sys.run("groupadd", ["--system", group]);
    gid = await groupGid(sys, group);
    if (gid === undefined) return { lines: [...lines, `not installed: groupadd --system ${group} succeeded but getent does not find the group`], ok: false };
    createdGroup = true;
    say(`group ${group}: created (gid ${gid}); its members may use hostd's socket`);
  } else {
    say(`group ${group}: exists (gid ${gid})${createdGroup ? ", made by an earlier hostd install" : ", kept as it is by uninstall"}`);
  }

  // 2. Directories: state (0711: dnsmasq, after dropping root, must traverse it) and the socket's.
  const created = new Map((previous?.created ?? []).map((c) => [`${c.kind}:${c.dir}`, c]));
  const unroot = (p: string) => path.join("/", path.relative(sys.root, p));
  const made = mkdirSync(P.at(stateDir), { recursive: true, mode: 0o711 });
  chmodSync(P.at(stateDir), 0o711);
  if (made !== undefined) created.set(`state:${stateDir}`, { kind: "state", dir: stateDir, top: unroot(made) });
  say(`state directory ${stateDir}: ${made !== undefined ? "created (mode 0711)" : "exists (mode set to 0711)"}`);
  const madeRun = mkdirSync(P.at(runtimeDir), { recursive: true, mode: 0o755 });
  if (madeRun !== undefined) created.set(`runtime:${runtimeDir}`, { kind: "runtime", dir: runtimeDir, top: unroot(madeRun) });
  say(`socket directory ${runtimeDir}: ${madeRun !== undefined ? "created" : "exists"}`);

  // Configuration directories that are missing (present on any systemd host, but not everywhere).
  for (const f of [P.tmpfiles, P.unit, P.wants, P.command]) {
    const top = topMissing(path.dirname(f));
    if (top !== undefined) created.set(`config:${unroot(path.dirname(f))}`, { kind: "config", dir: unroot(path.dirname(f)), top: unroot(top) });
  }

  // 3. tmpfiles.d entry: the socket directory again after every boot (/run is a tmpfs).
  say(`${P.tmpfiles}: ${writeIfChanged(P.tmpfiles, renderTmpfiles(runtimeDir))}`);

  // 4. The unit.
  const manifest: InstallManifest = {
    version: 1,
    group,
    gid,
    createdGroup,
    stateDir,
    socket: o.socket,
    runtimeDir,
    created: [...created.values()],
  };
  const systemdVersion = await sys.run("systemctl", ["--version"]).then((r) => parseSystemdVersion(r.stdout), () => undefined);
  const unitState = writeIfChanged(P.unit, renderUnit({ node: o.node, cli: o.cli, manifest, systemdVersion }));
  say(`${P.unit}: ${unitState} (ExecStart: ${o.node} ${o.cli} serve --socket ${o.socket} --state-dir ${stateDir} --socket-group ${gid}; KillMode=process, Restart=on-failure)`);

  // 4b. The command, on the PATH of every login shell.
  const prior = readText(P.command);
  if (prior !== undefined && !prior.includes(COMMAND_MARKER)) {
    say(`${COMMAND_PATH}: left as it is (not written by hostd install); run ${o.node} ${o.cli} instead`);
  } else {
    mkdirSync(path.dirname(P.command), { recursive: true, mode: 0o755 });
    say(`${COMMAND_PATH}: ${writeIfChanged(P.command, renderCommand(o.node, o.cli))} (runs ${o.cli} on ${o.node})`);
    chmodSync(P.command, 0o755);
  }

  // 5. Enable (and start where systemd runs).
  let ok = true;
  const running = sys.systemdRunning();
  if (running) {
    try {
      await sys.run("systemctl", ["daemon-reload"]);
      await sys.run("systemctl", ["enable", UNIT_NAME]);
      say(`enabled: systemctl enable ${UNIT_NAME}`);
      let active = false;
      try {
        await sys.run("systemctl", ["is-active", "--quiet", UNIT_NAME]);
        active = true;
      } catch {
        active = false;
      }
      if (active && unitState !== "unchanged") {
        await sys.run("systemctl", ["restart", UNIT_NAME]);
        say(`restarted ${UNIT_NAME} for the new unit (VMs keep running: KillMode=process)`);
      } else if (active) {
        say(`${UNIT_NAME} is already running`);
      } else {
        await sys.run("systemctl", ["start", UNIT_NAME]);
        say(`started ${UNIT_NAME}`);
      }
    } catch (e) {
      ok = false;
      say(`FAILED to enable or start ${UNIT_NAME}: ${why(e)}`);
    }
  } else {
    let how: string;
    try {
      await sys.run("systemctl", systemctlArgs(sys, ["enable", UNIT_NAME]));
      how = `by systemctl enable, offline`;
    } catch (e) {
      if (!isSymlink(P.wants)) {
        mkdirSync(path.dirname(P.wants), { recursive: true, mode: 0o755 });
        symlinkSync(path.join(UNIT_DIR, UNIT_NAME), P.wants);
      }
      how = `wants symlink made by hand, systemctl enable failed: ${why(e)}`;
    }
    say(`enabled for the next boot with systemd: ${P.wants} (${how})`);
    say(`NOT started: systemd is not running on this machine (PID 1 is ${pid1(sys)}); run hostd by hand here: ${o.node} ${o.cli} serve --socket ${o.socket} --state-dir ${stateDir} --socket-group ${gid}`);
  }
  if (!isSymlink(P.wants)) {
    ok = false;
    say(`FAILED: ${P.wants} is missing after enabling`);
  }
  return { lines, ok };
}

/** VMs, disks and networks left in a state directory: reasons to keep it. */
export function stateContents(dir: string): { vms: number; disks: number; networks: number } {
  const count = (sub: string) => {
    try {
      return readdirSync(path.join(dir, sub)).length;
    } catch {
      return 0;
    }
  };
  return { vms: count("vms"), disks: count("disks"), networks: count("networks") };
}

/** Removes the empty directories from `from` up to and including `top`, stopping at the first that is not empty. */
function rmdirUpTo(from: string, top: string): void {
  for (let d = from; isWithin(d, top); d = path.dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
    if (d === top) return;
  }
}

function isWithin(dir: string, top: string): boolean {
  const r = path.relative(top, dir);
  return r === "" || (!r.startsWith("..") && !path.isAbsolute(r));
}

export async function uninstall(sys: OpsSystem): Promise<OpsResult> {
  const lines: string[] = [];
  const say = (l: string) => lines.push(l);
  const P = installPaths(sys.root);
  const text = readText(P.unit);
  const m = text === undefined ? undefined : parseManifest(text);
  if (text !== undefined && !m) {
    return { lines: [`not uninstalled: ${P.unit} was not written by hostd install; left as it is`], ok: false };
  }
  let ok = true;
  const running = sys.systemdRunning();

  // 1. Stop, then make sure no hostd serves on the socket (it would lose its state directory).
  if (m && running) {
    try {
      await sys.run("systemctl", ["stop", UNIT_NAME]);
      say(`stopped ${UNIT_NAME} (VMs keep running: KillMode=process)`);
    } catch (e) {
      say(`systemctl stop ${UNIT_NAME} failed: ${why(e)}`);
    }
  }
  if (m && (await sys.socketLive(P.at(m.socket)))) {
    say(`a hostd is still serving on ${m.socket}${running ? "" : " (systemd is not running here, so it was started by hand)"}: stop it, then run hostd uninstall again; nothing was removed`);
    return { lines, ok: false };
  }

  // 2. Disable.
  if (m || isSymlink(P.wants)) {
    const hadWants = isSymlink(P.wants);
    try {
      await sys.run("systemctl", running ? ["disable", UNIT_NAME] : systemctlArgs(sys, ["disable", UNIT_NAME]));
      say(`disabled ${UNIT_NAME}${hadWants && !isSymlink(P.wants) ? `: removed ${P.wants}` : ""}${running ? "" : " (systemctl disable, offline: systemd is not running here)"}`);
    } catch (e) {
      say(`systemctl disable failed (${why(e)}); removing the wants symlink by hand`);
    }
    if (isSymlink(P.wants)) {
      const target = readlinkSync(P.wants);
      if (target.endsWith(`/${UNIT_NAME}`)) {
        rmSync(P.wants, { force: true });
        say(`removed ${P.wants}`);
      }
    }
    if (isSymlink(P.wants)) {
      ok = false;
      say(`FAILED: ${P.wants} is still there`);
    }
  }

  // 3. tmpfiles entry (only ours).
  const tmp = readText(P.tmpfiles);
  if (tmp !== undefined) {
    if (tmp.startsWith(MARKER)) {
      rmSync(P.tmpfiles, { force: true });
      say(`removed ${P.tmpfiles}`);
    } else {
      say(`left ${P.tmpfiles}: not written by hostd install`);
    }
  }

  // 3b. The command (only ours).
  if (readText(P.command)?.includes(COMMAND_MARKER)) {
    rmSync(P.command, { force: true });
    say(`removed ${COMMAND_PATH}`);
  }

  if (!m) {
    say(`hostd is not installed: no ${P.unit}`);
    return { lines, ok };
  }

  // 4. Directories install made (state directories of earlier installs too).
  if (isSocket(P.at(m.socket))) rmSync(P.at(m.socket), { force: true }); // stale: no one serves on it
  const made = (kind: CreatedDir["kind"], dir: string) => m.created.some((c) => c.kind === kind && c.dir === dir);
  if (!made("state", m.stateDir)) say(`state directory ${m.stateDir}: existed before hostd install; left as it is`);
  if (!made("runtime", m.runtimeDir)) say(`socket directory ${m.runtimeDir}: existed before hostd install; left as it is`);
  for (const c of m.created.filter((x) => x.kind !== "config")) {
    const dir = P.at(c.dir);
    const what = c.kind === "state" ? "state directory" : "socket directory";
    if (!existsSync(dir)) {
      rmdirUpTo(path.dirname(dir), P.at(c.top));
      say(`${what} ${c.dir}: already gone`);
      continue;
    }
    if (c.kind === "state") {
      const n = stateContents(dir);
      if (n.vms + n.disks + n.networks > 0) {
        say(`KEPT state directory ${c.dir}: it still holds ${n.vms} VM(s), ${n.disks} disk(s), ${n.networks} network(s); delete them first (or remove the directory by hand)`);
        continue;
      }
      rmSync(dir, { recursive: true, force: true });
      rmdirUpTo(path.dirname(dir), P.at(c.top));
      say(`removed state directory ${c.dir} (no VMs, disks or networks in it)`);
    } else {
      rmdirUpTo(dir, P.at(c.top));
      say(existsSync(dir) ? `KEPT socket directory ${c.dir}: not empty` : `removed socket directory ${c.dir}`);
    }
  }

  // 5. The group, if install made it.
  if (m.createdGroup) {
    try {
      if ((await groupGid(sys, m.group)) !== undefined) await sys.run("groupdel", [m.group]);
      say(`removed group ${m.group}`);
    } catch (e) {
      ok = false;
      say(`FAILED to remove group ${m.group}: ${why(e)}`);
    }
  } else {
    say(`group ${m.group}: existed before hostd install; left as it is`);
  }

  // 6. The unit last: while it exists, uninstall can be run again to finish.
  if (ok) {
    rmSync(P.unit, { force: true });
    say(`removed ${P.unit}`);
    // Configuration directories install made, if nothing else has been put there; deepest first.
    for (const c of m.created.filter((x) => x.kind === "config").sort((a, b) => b.dir.length - a.dir.length)) {
      rmdirUpTo(P.at(c.dir), P.at(c.top));
      if (!existsSync(P.at(c.dir))) say(`removed ${c.dir} (made by hostd install, now empty)`);
    }
    if (running) {
      try {
        await sys.run("systemctl", ["daemon-reload"]);
      } catch (e) {
        say(`systemctl daemon-reload failed: ${why(e)}`);
      }
    }
  } else {
    say(`kept ${P.unit} so that hostd uninstall can be run again once the failures above are fixed`);
  }
  return { lines, ok };
}
