/**
 * File access rules for unprivileged QEMU and dnsmasq: hostd runs as root,
 * but the processes it starts do not, so what they open must be reachable
 * by "other" users or owned by them.
 */
import { statSync } from "node:fs";
import * as path from "node:path";

/** The first directory on the way to `p` that other users cannot traverse (no o+x), if any. */
export function closedAncestor(p: string): string | undefined {
  for (let d = path.dirname(p); ; d = path.dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return d;
    if (d === path.dirname(d)) return undefined;
  }
}

/**
 * Why other users cannot read `file`, or undefined when they can: the file
 * lacks o+r, or a directory on the way lacks o+x.
 */
export function whyNotWorldReadable(file: string): string | undefined {
  const closed = closedAncestor(file);
  if (closed) return `directory ${closed} is not traversable by other users (chmod o+x ${closed})`;
  if ((statSync(file).mode & 0o004) === 0) return `it is not readable by other users (chmod o+r ${file})`;
  return undefined;
}
