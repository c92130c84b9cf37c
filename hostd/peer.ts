/**
 * Who is on the other end of a connection to hostd's socket. The socket file
 * is 0660 root:<hostd group>, so the kernel already refuses anyone else at
 * connect(2); hostd also asks the kernel who connected (SO_PEERCRED and
 * SO_PEERGROUPS, through the small native module in hostd/native) and
 * refuses anyone who is not root, hostd's own user or in its group, so a
 * loosened file mode or an fd handed to another process does not open it up.
 */
import type * as net from "node:net";
import { loadNative } from "./addon";

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
  /** Supplementary groups (SO_PEERGROUPS). */
  groups: number[];
}

export interface PeerPolicy {
  /** Users always allowed: root and hostd's own. */
  uids: number[];
  /** Members of this group are allowed (the socket's group). */
  gid?: number;
}

/** Whether `cred` may drive hostd; a sentence why not when it may not. */
export function checkPeer(cred: PeerCred, policy: PeerPolicy): string | undefined {
  if (policy.uids.includes(cred.uid)) return undefined;
  if (policy.gid !== undefined && (cred.gid === policy.gid || cred.groups.includes(policy.gid))) return undefined;
  return `uid ${cred.uid} (pid ${cred.pid}) is neither root nor in hostd's group${policy.gid !== undefined ? ` (gid ${policy.gid})` : ""}`;
}

type PeerCredFn = (fd: number) => PeerCred;

/** The native SO_PEERCRED reader, or null when it was not built (then only the socket's file mode protects hostd). */
export function peerCredReader(): PeerCredFn | null {
  return loadNative("peercred")?.peerCred ?? null;
}

/** The credentials of a connected unix socket's peer. */
export function peerOf(sock: net.Socket, read: PeerCredFn): PeerCred {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) throw new Error("the connection has no file descriptor");
  return read(fd);
}
