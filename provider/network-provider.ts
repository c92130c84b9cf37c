/**
 * The dynamic provider of `kvm.Network` (a module required by path; see vm-provider.ts for why).
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { z } from "zod";
import { NETWORK_FIELDS, NetworkInfo, NetworkSpec, NetworkUpdate } from "../sdk/protocol";
import { overlaps, parseCidr } from "../sdk/ipv4";
import { clientFor, ConnectionSettings, HostRef } from "./connection";
import { classify, inputsSchema, specFromHost, specOf, withDefaults } from "./fields";
import { mustBeOnHost, onItsHost, ownerOf, Placement, placementOf, routeChange } from "./placement";
import { mustReach } from "./reachable";
import { configureFromStack, definedOnly, failuresOf, hasUnknown, hostRefOf, mustOwn, identified, ownedOrGone, ownInputs, same, settingsFor, withoutUnknowns, withUserErrors, CallOptions } from "./common";

/** Inputs after check (defaults filled in from the table). */
export type NetworkInputs = NetworkSpec & {
  namePrefix?: string;
  /** `<project>/<stack>/kvm:Network/<name>`: seeds the generated name and is the owner hostd records. */
  nameSeed?: string;
  connection?: ConnectionSettings;
  /** The kvm.Host it is on (absent: the stack's default host). */
  host?: HostRef;
};

export interface NetworkOutputs extends Omit<NetworkInputs, "host">, Placement {
  networkId: string;
  /** The bridge VMs are attached to (generated for nat/isolated when not given). */
  bridgeName: string;
  gateway: string | null;
  dhcpStart: string | null;
  dhcpEnd: string | null;
  /** `active`, or `degraded` with the reasons in `problems` (read from the host on refresh). */
  state: string;
  problems: string[];
  /** VMs with a NIC on it. */
  vms: string[];
}

/** What a program may give (unknown inputs are refused at preview). */
const Inputs = inputsSchema(NETWORK_FIELDS);

export const configure = configureFromStack;

export async function check(olds: Partial<NetworkInputs>, allNews: Record<string, unknown>): Promise<dynamic.CheckResult> {
  const news = ownInputs(allNews);
  const shape = Inputs.safeParse(withoutUnknowns(news));
  if (!shape.success) return { inputs: news, failures: failuresOf(shape.error) };
  const inputs = withDefaults(NETWORK_FIELDS, identified(olds, news, "net"));
  if (!hasUnknown(specOf(NETWORK_FIELDS, inputs))) {
    // The whole spec with the host's own rules (addressing, bridge mode), so mistakes show at preview.
    const spec = NetworkSpec.safeParse(specOf(NETWORK_FIELDS, inputs));
    if (!spec.success) return { inputs, failures: failuresOf(spec.error) };
    if (spec.data.dhcp) inputs.dhcp = spec.data.dhcp;
  }
  return { inputs, failures: [] };
}

/** What makes it a different network (replace) and what hostd changes in place. */
export async function diff(_id: string, olds: NetworkOutputs, news: NetworkInputs): Promise<dynamic.DiffResult> {
  const replaces: string[] = [];
  const changed: string[] = [];
  for (const k of ["name", "bridge", "ipv4"] as const) if (!same(olds[k], news[k])) replaces.push(k);
  if (!same(olds.mode, news.mode)) {
    // nat <-> isolated is a change of rules; to or from bridge mode is another kind of network.
    if (olds.mode === "bridge" || news.mode === "bridge") replaces.push("mode");
    else changed.push("mode");
  }
  const route = await routeChange("Network", olds, news);
  // Preview contacts the host: reachable, and (unless the route moved: asked above) the one the state says.
  await mustReach("Network", olds.name, settingsFor(news), route.changed ? undefined : olds.hostId);
  // A network does not move: on another host it is another network, made there (its VMs join that one).
  const hostChanged = route.replace || route.moveTo !== undefined;
  if (route.moveTo) {
    replaces.push("host");
    console.log(`kvm: Network "${olds.name}": on ${route.moveTo.label} it is another network: this REPLACES it (made there, then deleted from host ${olds.hostId}).`);
  } else if (route.replace) replaces.push("connection");
  else if (route.changed) changed.push(same(olds.connection, news.connection) ? "host" : "connection");
  for (const k of ["dhcp", "domain", "mtu", "namePrefix"] as const) if (!same(olds[k], news[k])) changed.push(k);
  if (replaces.length > 0 && olds.vms?.length) {
    console.log(`kvm: Network "${olds.name}": changing ${replaces.join(", ")} replaces the network; its VMs (${olds.vms.join(", ")}) must leave it first.`);
  } else if (changed.some((k) => k === "dhcp" || k === "domain" || k === "mode")) {
    console.log(`kvm: Network "${olds.name}": changes in place; its dnsmasq restarts (leases are kept, VMs stay connected).`);
  }
  // The same name, bridge or subnet cannot exist twice on one host: then the old network must go first.
  // Otherwise the new one is made first, so a failure (say, a subnet taken on the host) changes nothing.
  const clash =
    same(olds.name, news.name) ||
    (olds.bridge !== undefined && same(olds.bridge, news.bridge)) ||
    (olds.mode === "bridge" && news.mode === "bridge") ||
    subnetsOverlap(olds.ipv4?.cidr, news.ipv4?.cidr);
  return {
    changes: replaces.length > 0 || changed.length > 0,
    replaces,
    stables: ["networkId"],
    deleteBeforeReplace: !hostChanged && clash,
  };
}

function subnetsOverlap(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined || hasUnknown(b)) return a !== undefined && b !== undefined;
  try {
    return overlaps(parseCidr(a), parseCidr(b));
  } catch {
    return true;
  }
}

function outputsOf(i: Omit<NetworkInputs, "host">, n: NetworkInfo, where: Placement): NetworkOutputs {
  return definedOnly({
    ...i,
    ...where,
    ...(specFromHost(NETWORK_FIELDS, n.spec) as Partial<NetworkSpec>),
    networkId: n.id,
    bridgeName: n.bridge,
    gateway: n.ipv4?.gateway ?? null,
    dhcpStart: n.ipv4?.dhcpStart ?? null,
    dhcpEnd: n.ipv4?.dhcpEnd ?? null,
    state: n.state,
    problems: n.problems,
    vms: n.vms,
  });
}

export async function create(inputs: NetworkInputs): Promise<dynamic.CreateResult<NetworkOutputs>> {
  return withUserErrors(`creating network "${inputs.name}"`, async () => {
    const settings = settingsFor(inputs);
    const client = clientFor(settings, 120_000);
    const hostId = (await client.helloOnce()).hostId;
    const n = await client.network.create({ ...(specOf(NETWORK_FIELDS, inputs) as NetworkSpec), owner: ownerOf(inputs) });
    return { id: n.id, outs: outputsOf(inputs, n, placementOf(settings, hostId, hostRefOf(inputs))) };
  });
}

export async function read(id: string, props: NetworkOutputs): Promise<dynamic.ReadResult<NetworkOutputs>> {
  return withUserErrors(`reading network "${props.name}"`, async () => {
    const settings = settingsFor(props);
    const client = clientFor(settings, 60_000);
    // On another host "not found" would drop the network from state: the host id is checked first.
    const hostId = await mustBeOnHost("Network", props.name, client, props.hostId);
    const n = await ownedOrGone(id, () => client.network.get(props.name));
    if (!n) return { id: "", props: {} as NetworkOutputs };
    return { id, props: outputsOf(props, n, placementOf(settings, hostId, props.hostRef)) };
  });
}

export async function update(id: string, olds: NetworkOutputs, news: NetworkInputs): Promise<dynamic.UpdateResult<NetworkOutputs>> {
  return withUserErrors(`updating network "${news.name}"`, async () => {
    const settings = settingsFor(news);
    const client = clientFor(settings, 120_000);
    const hostId = await mustBeOnHost("Network", news.name, client, olds.hostId);
    let n = await mustOwn("Network", news.name, id, () => client.network.get(news.name));
    // Every field that changes in place, from the table; a removed optional one is sent as null.
    const u: Record<string, unknown> = { name: news.name };
    for (const k of classify(NETWORK_FIELDS, olds, news).changed) {
      if (k in NetworkUpdate.shape && k !== "name") u[k] = (news as Record<string, unknown>)[k] ?? null;
    }
    if (Object.keys(u).length > 1) n = await client.network.update(u as z.input<typeof NetworkUpdate>);
    return { outs: outputsOf(news, n, placementOf(settings, hostId, hostRefOf(news))) };
  });
}

async function deleteNetwork(id: string, props: NetworkOutputs, o: CallOptions = {}): Promise<void> {
  return withUserErrors(`deleting network "${props.name}"`, async () => {
    await onItsHost(props, o.timeoutMs ?? 120_000, (client) => client.network.delete({ name: props.name, id, owner: ownerOf(props), hostId: props.hostId }));
  });
}
export { deleteNetwork as delete };
