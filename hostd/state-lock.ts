/**
 * One hostd per state directory: `<stateDir>/hostd.lock`, flock'ed for
 * hostd's whole life (hostd/flock.ts). Two hostds on one state directory
 * would each believe they own its VMs, disks and networks (racing creates,
 * doubled QEMUs); the second is refused at start, told who holds it.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { KvmError } from "../sdk/errors";
import { FileLock } from "./flock";

/** What the holder writes into the lock file, for whoever finds it taken. */
export interface StateDirHolder {
  pid: number;
  socket: string;
  hostId: string;
  startedAt: string;
}

export function stateLockPath(stateDir: string): string {
  return path.join(stateDir, "hostd.lock");
}

/** The holder as written in the lock file; undefined when it is empty or unreadable (a hostd still starting). */
export function readStateDirHolder(stateDir: string): StateDirHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(stateLockPath(stateDir), "utf8")) as StateDirHolder;
    return typeof h.pid === "number" ? h : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the state directory's lock for this process's life, or throws `conflict` naming the hostd that holds it. */
export function lockStateDir(stateDir: string, me: Omit<StateDirHolder, "pid" | "startedAt">): FileLock {
  const file = stateLockPath(stateDir);
  // 0600: a lock others cannot open is a lock others cannot hold to keep hostd from starting.
  const lock = FileLock.tryTake(file, 0o600);
  if (!lock) {
    const h = readStateDirHolder(stateDir);
    const who = h ? `hostd pid ${h.pid}, serving ${h.socket}, started ${h.startedAt}, host id ${h.hostId}` : "a hostd that is still starting";
    throw new KvmError(
      "conflict",
      `State directory ${stateDir} is in use by another hostd (${who}): one state directory belongs to one hostd. Stop that hostd first, or give this one a --state-dir of its own.`,
      { stateDir, holder: h },
    );
  }
  const holder: StateDirHolder = { pid: process.pid, socket: me.socket, hostId: me.hostId, startedAt: new Date().toISOString() };
  lock.write(JSON.stringify(holder) + "\n");
  return lock;
}
