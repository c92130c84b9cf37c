/**
 * Where a resource lives, decided by identity and never by route.
 *
 * A host is its host id (made once by hostd, see hostd/host-id.ts); the
 * address, port, user and socket path that reach it are only routes. Every
 * resource records the `hostId` it was made on. When the route changes, the
 * diff asks the host it now reaches for its id: the same id is an in-place
 * update that only records the new route; another id is another host; a host
 * that cannot be reached fails the preview instead of planning anything.
 * Reads and deletes check the id too, so a route that now leads elsewhere
 * never drops a resource from state or deletes a namesake.
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { isKvmError, KvmError } from "../sdk/errors";
import { HostClient } from "../sdk/client";
import { stableJson } from "../sdk/protocol/fields";
import { clientFor, ConnectionSettings, HostRef, targetOf } from "./connection";
import { hasUnknown, hostRefOf, same, settingsFor, UNKNOWN } from "./common";

/** The non-secret part of the connection: enough to reach the host again (keys come from the settings of the day). */
export type Route = Pick<ConnectionSettings, "transport" | "host" | "port" | "user" | "socketPath">;

/** What every resource's outputs record about its host. */
export interface Placement {
  /** The host's id, from `host.hello`. */
  hostId: string;
  /** Display form of the route, e.g. `root@10.0.0.5:22`. */
  host: string;
  /** The route it was last reached by. */
  route: Route;
  /** The kvm.Host it is on, as its `host` input gave it (absent: the stack's default host). Secret: it holds the connection. */
  hostRef?: HostRef;
  /** That Host's name (absent: the stack's default host). */
  hostName?: string;
}

/** What the provider keeps of a resource that matters here (its outputs, from older versions too). */
interface Placed {
  name: string;
  hostId?: string;
  host?: string;
  route?: Route;
  connection?: ConnectionSettings;
  hostRef?: HostRef;
}

/** Where inputs put a resource: its `host` and `connection` (either may be unknown at preview). */
interface Wanted {
  host?: unknown;
  connection?: ConnectionSettings;
}

export function routeOf(s: ConnectionSettings): Route {
  const r: Route = {};
  for (const k of ["transport", "host", "port", "user", "socketPath"] as const) {
    if (s[k] !== undefined) (r as Record<string, unknown>)[k] = s[k];
  }
  return r;
}

export function placementOf(settings: ConnectionSettings, hostId: string, ref?: HostRef): Placement {
  return { hostId, host: targetOf(settings), route: routeOf(settings), ...(ref && { hostRef: ref, hostName: ref.name }) };
}

/** The id of the host these settings reach now. */
export async function hostIdOf(client: HostClient): Promise<string> {
  return (await client.helloOnce()).hostId;
}

/**
 * The id of the host these settings reach, asked once per provider process
 * (one Pulumi operation) however many resources name that host; a failed
 * ask is not kept, so the next one asks again.
 */
const idsBySettings = new Map<string, Promise<string>>();
export function hostIdAt(settings: ConnectionSettings, timeoutMs = 30_000): Promise<string> {
  const key = stableJson(settings);
  let id = idsBySettings.get(key);
  if (!id) {
    id = hostIdOf(clientFor(settings, timeoutMs));
    idsBySettings.set(key, id);
    id.catch(() => idsBySettings.delete(key));
  }
  return id;
}

/** A host in words: `host "b" (id 7c1e…)`, or the stack's default host. */
export function hostLabel(ref: { name?: string } | undefined, hostId: string | undefined): string {
  const id = hostId && hostId !== UNKNOWN ? ` (id ${hostId})` : "";
  return ref?.name ? `host "${ref.name}"${id}` : `the stack's default host (kvm:*)${id}`;
}

/** Where a route change leads: recorded in place, a replacement, or a move to another host (a changed `host`). */
export interface RouteChange {
  /** The connection or host is to be recorded anew. */
  changed: boolean;
  /** The resource is to be made anew on the other host (a changed `connection` that reaches another host). */
  replace: boolean;
  /** The resource's `host` now names another host: the provider moves it there (a Network is replaced). */
  moveTo?: { hostId: string; label: string };
}

/**
 * The diff's question: does a change in how the host is reached move the
 * resource? `changed` says the connection is to be recorded anew (in place);
 * `replace` that a changed `connection` now reaches another host; `moveTo`
 * that the `host` input names another host.
 */
export async function routeChange(kind: string, olds: Placed, news: Wanted): Promise<RouteChange> {
  const newRef = hostRefOf(news);
  const hostChanged = !same(olds.hostRef, newRef);
  const inputChanged = !same(olds.connection, news.connection) || hostChanged;
  const now = settingsFor(news);
  // Not known until apply: the update checks the host id before it touches anything. (A Host whose
  // id alone is unknown, being read anew, has a known route: that is asked below.)
  if (news.host === UNKNOWN || hasUnknown(now)) return { changed: inputChanged, replace: false };
  const routeChanged = olds.host !== undefined && targetOf(now) !== olds.host;
  if (!routeChanged) return { changed: inputChanged, replace: false };
  if (olds.hostId === undefined) {
    throw new KvmError(
      "invalid_state",
      `${kind} "${olds.name}" was recorded before host ids existed, so its state cannot tell whether ${targetOf(now)} is the same host as ${olds.host}. ` +
        "Run `pulumi refresh` first (it records the host's id), then run this again.",
    );
  }
  let id: string;
  try {
    id = await hostIdAt(now);
  } catch (e) {
    const why = isKvmError(e) ? e.toString() : (e as Error).message;
    throw new KvmError(
      isKvmError(e) ? e.code : "connect_failed",
      `${kind} "${olds.name}": the connection changed to ${targetOf(now)}, and that host could not be asked for its id (${why}). ` +
        "Nothing is planned until it answers: whether this is the same host decides between recording the new connection and " +
        (hostChanged ? "moving the resource." : "replacing the resource."),
    );
  }
  if (id === olds.hostId) {
    console.log(`kvm: ${kind} "${olds.name}": ${targetOf(now)} reaches the same host (id ${id}) as ${olds.host}: only the new connection is recorded; nothing changes on the host.`);
    return { changed: true, replace: false };
  }
  if (hostChanged) return { changed: true, replace: false, moveTo: { hostId: id, label: hostLabel(newRef, id) } };
  console.log(`kvm: ${kind} "${olds.name}": ${targetOf(now)} reaches ANOTHER host (id ${id}; the ${kind.toLowerCase()} is on host ${olds.hostId}): this REPLACES the ${kind.toLowerCase()} (created on the new host, deleted on the old one).`);
  return { changed: true, replace: true };
}

/** A Disk or Network a VM uses, and where the program puts it (its `host` and `connection` inputs, from the Vm class). */
export interface Use {
  kind: "Disk" | "Network";
  name: string;
  host?: HostRef;
  connection?: ConnectionSettings;
}

/** The Host named and the settings that reach it; undefined while a part is not known (preview). */
function whereIs(x: { host?: unknown; connection?: ConnectionSettings }): { ref?: HostRef; settings: ConnectionSettings } | undefined {
  if (x.host === UNKNOWN || hasUnknown(x.connection)) return undefined;
  const ref = x.host !== null && typeof x.host === "object" ? (x.host as HostRef) : undefined;
  if (hasUnknown(ref?.name) || hasUnknown(ref?.connection)) return undefined;
  return { ref, settings: settingsFor({ host: ref, connection: x.connection }) };
}

/**
 * A VM may use only Disks and Networks of its own host: each `use` on another
 * host is a check failure naming both hosts, by name and id. What is not known
 * yet (a Host or Disk made in this same run, with unknown parts) is checked
 * again at apply time, before anything is made.
 */
export async function sameHostFailures(kind: string, name: string, self: { host?: unknown; connection?: ConnectionSettings }, uses: Use[] | undefined): Promise<dynamic.CheckFailure[]> {
  const me = whereIs(self);
  if (!me || !Array.isArray(uses)) return [];
  const failures: dynamic.CheckFailure[] = [];
  for (const u of uses) {
    if (hasUnknown(u.name)) continue;
    const it = whereIs(u);
    if (!it) continue;
    // The same route is the same host: no need to ask.
    if (same(me.settings, it.settings)) continue;
    let mine: string;
    let theirs: string;
    try {
      [mine, theirs] = await Promise.all([hostIdAt(me.settings), hostIdAt(it.settings)]);
    } catch (e) {
      failures.push({
        property: u.kind === "Disk" ? "disks" : "networkInterfaces",
        reason: `[${isKvmError(e) ? e.code : "connect_failed"}] ${kind} "${name}" uses ${u.kind} "${u.name}", and a host could not be asked for its id (${isKvmError(e) ? e.message : (e as Error).message}); whether both are on one host cannot be told.`,
      });
      continue;
    }
    if (mine === theirs) continue;
    failures.push({
      property: u.kind === "Disk" ? "disks" : "networkInterfaces",
      reason:
        `[wrong_host] ${kind} "${name}" is on ${hostLabel(me.ref, mine)}, but the ${u.kind} "${u.name}" it uses is on ${hostLabel(it.ref, theirs)}: ` +
        `a VM can only use ${u.kind === "Disk" ? "disks" : "networks"} of its own host. Give both the same \`host\` (to move a VM, move its disks with it).`,
    });
  }
  return failures;
}

/** Refuses to go on when `client` reaches another host than the one the resource is on. */
export async function mustBeOnHost(kind: string, name: string, client: HostClient, hostId: string | undefined): Promise<string> {
  const id = await hostIdOf(client);
  if (hostId !== undefined && id !== hostId) {
    throw new KvmError(
      "wrong_host",
      `${kind} "${name}" is on host ${hostId}, but ${client.transport.target} reaches host ${id}: nothing was read or changed. Point the connection back at the ${kind.toLowerCase()}'s host.`,
      { expectedHostId: hostId, hostId: id },
    );
  }
  return id;
}

/**
 * Runs a delete on the resource's own host: through today's settings, and if
 * those now reach another host (hostd refuses with `wrong_host`) through the
 * route the resource was last reached by, as after a replacement onto
 * another host.
 */
export async function onItsHost(props: Placed, timeoutMs: number, del: (client: HostClient) => Promise<unknown>): Promise<void> {
  const now = settingsFor({ hostRef: props.hostRef, connection: props.connection });
  try {
    await del(clientFor(now, timeoutMs));
  } catch (e) {
    if (!isKvmError(e, "wrong_host") || props.route === undefined) throw e;
    const recorded = { ...now, ...props.route };
    if (same(routeOf(now), routeOf(recorded))) throw e;
    await del(clientFor(recorded, timeoutMs));
  }
}

/** The owner hostd records: who declared the object (`pulumi:<project>/<stack>/<type>/<name>`). */
export function ownerOf(inputs: { nameSeed?: string; owner?: string }): string | undefined {
  // The Terraform face names its owner itself (provider/terraform/resources.ts): Terraform tells a provider no resource address.
  if (inputs.owner !== undefined) return inputs.owner;
  return inputs.nameSeed === undefined ? undefined : `pulumi:${inputs.nameSeed}`;
}
