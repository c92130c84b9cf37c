/**
 * `preview` contacts each host it would touch: a green preview means the
 * connection works and reaches the host the state says, instead of finding
 * out at `up`. One `host.hello` per host and provider process (all resources
 * of a run share this module, required by path), so a stack of many
 * resources on one host costs one call.
 */
import { isKvmError, KvmError } from "../sdk/errors";
import { hasUnknown } from "./common";
import { clientFor, ConnectionSettings, targetOf } from "./connection";

const asked = new Map<string, Promise<string>>();

/** The host id `settings` reach, asked once per target. */
function hostIdAt(settings: ConnectionSettings): Promise<string> {
  const target = targetOf(settings);
  let p = asked.get(target);
  if (!p) {
    p = (async () => {
      const client = clientFor(settings, 30_000);
      try {
        return (await client.helloOnce()).hostId;
      } finally {
        await client.close().catch(() => undefined);
      }
    })();
    asked.set(target, p);
  }
  return p;
}

/**
 * Fails when the host cannot be reached (the connection's own error, named for
 * the resource), or when `expectedHostId` is given and the host is another one.
 * Connections not known until apply are checked then.
 */
export async function mustReach(kind: string, name: string, settings: ConnectionSettings, expectedHostId?: string): Promise<void> {
  if (hasUnknown(settings)) return;
  let id: string;
  try {
    id = await hostIdAt(settings);
  } catch (e) {
    const why = isKvmError(e) ? e.toString() : (e as Error).message;
    throw new KvmError(
      isKvmError(e) ? e.code : "connect_failed",
      `${kind} "${name}": cannot reach hostd at ${targetOf(settings)} (${why}). Nothing is planned until it answers: check the kvm:* connection settings and that hostd runs there.`,
    );
  }
  if (expectedHostId !== undefined && id !== expectedHostId) {
    throw new KvmError(
      "wrong_host",
      `${kind} "${name}" is on host ${expectedHostId}, but ${targetOf(settings)} reaches host ${id}: nothing is planned. Point the connection back at the ${kind.toLowerCase()}'s host, or run \`pulumi refresh\` if that host was reinstalled.`,
      { expectedHostId, hostId: id },
    );
  }
}
