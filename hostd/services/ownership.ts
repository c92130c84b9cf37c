/**
 * Who may take and who may delete an object, the same rule for VMs, Disks and
 * Networks. Names are routes, not identity: an object records the owner that
 * declared it, a create finds the caller's own object again (a retry after an
 * interrupted run) but never adopts someone else's, and a delete removes only
 * what the caller owns. Taking over an object is only ever explicit.
 */
import { KvmError } from "../../sdk/errors";

export interface Owned {
  id: string;
  name: string;
  owner: string | null;
}

/**
 * A create whose name is taken by `existing`: returns normally when it is the
 * caller's own object with the same spec (the create is a retry), throws
 * otherwise with the holder named.
 */
export function retryOfOwnCreate(kind: string, existing: Owned, owner: string | undefined, sameSpec: boolean): void {
  const mine = (existing.owner ?? undefined) === owner;
  if (mine && sameSpec) return;
  if (!mine) {
    throw new KvmError(
      "not_owner",
      `${kind} "${existing.name}" already exists on this host and belongs to ${holder(existing.owner)}, not to ${holder(owner ?? null)}. ` +
        `Pick another name; taking over an existing ${kind.toLowerCase()} is never implicit.`,
      { kind, name: existing.name, id: existing.id, holder: existing.owner, caller: owner ?? null },
    );
  }
  throw new KvmError(
    "already_exists",
    `${kind} "${existing.name}" already exists with a different spec. Pick another name, or update or delete the existing ${kind.toLowerCase()}.`,
    { kind, name: existing.name, id: existing.id },
  );
}

/**
 * Whether a delete of `rec` by `owner` may go ahead. An object made without
 * an owner (before owners existed, or by hand) may be deleted by a caller who
 * names its id: the id proves the caller made it. Anything else held by
 * another owner is refused.
 */
export function checkDeletable(kind: string, rec: Owned, p: { id?: string; owner?: string }): void {
  if (p.owner === undefined || rec.owner === p.owner) return;
  if (rec.owner === null && p.id === rec.id) return;
  throw new KvmError(
    "not_owner",
    `${kind} "${rec.name}" belongs to ${holder(rec.owner)}, not to ${holder(p.owner)}: hostd deletes only the caller's own objects.`,
    { kind, name: rec.name, id: rec.id, holder: rec.owner, caller: p.owner },
  );
}

function holder(owner: string | null): string {
  return owner === null ? "no stack (it was made without an owner, e.g. by hand)" : `"${owner}"`;
}
