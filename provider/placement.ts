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
import { isKvmError, KvmError } from "../sdk/errors";
import { HostClient } from "../sdk/client";
import { clientFor, ConnectionSettings, targetOf } from "./connection";
import { hasUnknown, same, settingsFor } from "./common";

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
}

/** What the provider keeps of a resource that matters here (its outputs, from older versions too). */
interface Placed {
  name: string;
  hostId?: string;
  host?: string;
  route?: Route;
  connection?: ConnectionSettings;
}

export function routeOf(s: ConnectionSettings): Route {
  const r: Route = {};
  for (const k of ["transport", "host", "port", "user", "socketPath"] as const) {
    if (s[k] !== undefined) (r as Record<string, unknown>)[k] = s[k];
  }
  return r;
}

export function placementOf(settings: ConnectionSettings, hostId: string): Placement {
  return { hostId, host: targetOf(settings), route: routeOf(settings) };
}

/** The id of the host these settings reach now. */
export async function hostIdOf(client: HostClient): Promise<string> {
  return (await client.helloOnce()).hostId;
}

/**
 * The diff's question: does a change in how the host is reached move the
 * resource? `changed` says the connection is to be recorded anew (in place);
 * `replace` that it now reaches another host.
 */
export async function routeChange(kind: string, olds: Placed, news: { connection?: ConnectionSettings }): Promise<{ changed: boolean; replace: boolean }> {
  const inputChanged = !same(olds.connection, news.connection);
  // Not known until apply: the update checks the host id before it touches anything.
  if (hasUnknown(news.connection)) return { changed: inputChanged, replace: false };
  const now = settingsFor(news);
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
    id = await hostIdOf(clientFor(now, 30_000));
  } catch (e) {
    const why = isKvmError(e) ? e.toString() : (e as Error).message;
    throw new KvmError(
      isKvmError(e) ? e.code : "connect_failed",
      `${kind} "${olds.name}": the connection changed to ${targetOf(now)}, and that host could not be asked for its id (${why}). ` +
        "Nothing is planned until it answers: whether this is the same host decides between recording the new connection and replacing the resource.",
    );
  }
  if (id === olds.hostId) {
    console.log(`kvm: ${kind} "${olds.name}": ${targetOf(now)} reaches the same host (id ${id}) as ${olds.host}: only the new connection is recorded; nothing changes on the host.`);
    return { changed: true, replace: false };
  }
  console.log(`kvm: ${kind} "${olds.name}": ${targetOf(now)} reaches ANOTHER host (id ${id}; the ${kind.toLowerCase()} is on host ${olds.hostId}): this REPLACES the ${kind.toLowerCase()} (created on the new host, deleted on the old one).`);
  return { changed: true, replace: true };
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
  const now = settingsFor(props);
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
export function ownerOf(inputs: { nameSeed?: string }): string | undefined {
  return inputs.nameSeed === undefined ? undefined : `pulumi:${inputs.nameSeed}`;
}
