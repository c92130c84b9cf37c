/**
 * The dynamic provider of `kvm.Host` (a module required by path; see vm-provider.ts for why).
 *
 * A Host is a name for a machine running hostd and the connection that reaches
 * it. It makes nothing on the machine: create and refresh read `host.hello`
 * (the host's id, accelerator, capacity, versions) into outputs, and delete
 * forgets it. Resources given `host:` reach the machine through its
 * connection, each host over its own pooled SSH connection.
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { z } from "zod";
import type { HostHello } from "../sdk/protocol";
import { clientFor, ConnectionSettings, targetOf } from "./connection";
import { configureFromStack, definedOnly, failuresOf, hasUnknown, ownInputs, same, withoutUnknowns, withUserErrors } from "./common";
import { HOST_FIELDS } from "./fields";
import { hostIdAt, Route, routeOf } from "./placement";

export interface HostInputs {
  name: string;
  connection: ConnectionSettings;
}

/** What `host.hello` told of the machine, as outputs. */
export interface HostOutputs extends HostInputs {
  hostId: string;
  /** Display form of the route, e.g. `root@10.0.0.5:22`. */
  target: string;
  route: Route;
  hostname: string;
  hostdVersion: string;
  qemuVersion: string;
  /** `kvm` or `tcg`: what new VMs get there (a VM moves only between hosts with the same one). */
  accelerator: string;
  acceleratorReason: string;
  /** Online logical CPUs and total memory (absent from hostds without capability `host.capacity`). */
  cpus: number | null;
  memoryMiB: number | null;
  overcommit: boolean | null;
  /** What cpuModel `host` gives a guest there, and the named models it has all of (absent from hostds without capability `host.cpu`). */
  cpuFeatures: string[] | null;
  cpuModels: string[] | null;
  capabilities: string[];
}

/** What a program may give (unknown inputs are refused at preview). */
const Inputs = z.strictObject({ name: HOST_FIELDS.name.schema, connection: HOST_FIELDS.connection.schema });

export const configure = configureFromStack;

export async function check(_olds: Partial<HostInputs>, allNews: Record<string, unknown>): Promise<dynamic.CheckResult> {
  const news = ownInputs(allNews);
  const shape = Inputs.safeParse(withoutUnknowns(news));
  if (!shape.success) return { inputs: news, failures: failuresOf(shape.error) };
  return { inputs: news, failures: [] };
}

/** A new route is checked like any resource's: the same host id is recorded in place; another one is read anew (dependents then move or are refused). */
export async function diff(_id: string, olds: HostOutputs, news: HostInputs): Promise<dynamic.DiffResult> {
  const changed = Object.keys(HOST_FIELDS).filter((k) => !same(olds[k as keyof HostInputs], news[k as keyof HostInputs]));
  let sameHost = true;
  if (!hasUnknown(news.connection) && targetOf(news.connection) !== olds.target) {
    const id = await hostIdAt(news.connection);
    sameHost = id === olds.hostId;
    console.log(
      sameHost
        ? `kvm: Host "${olds.name}": ${targetOf(news.connection)} reaches the same host (id ${id}): only the new connection is recorded.`
        : `kvm: Host "${olds.name}": ${targetOf(news.connection)} reaches ANOTHER host (id ${id}, was ${olds.hostId}): the resources on this Host follow it (VMs and Disks move, Networks are replaced) where their own diff allows.`,
    );
  }
  return { changes: changed.length > 0, replaces: [], stables: sameHost && !hasUnknown(news.connection) ? ["hostId"] : [] };
}

function outputsOf(i: HostInputs, h: HostHello): HostOutputs {
  return definedOnly({
    name: i.name,
    connection: i.connection,
    hostId: h.hostId,
    target: targetOf(i.connection),
    route: routeOf(i.connection),
    hostname: h.hostname,
    hostdVersion: h.hostdVersion,
    qemuVersion: h.qemuVersion,
    accelerator: h.accelerator.kind,
    acceleratorReason: h.accelerator.reason,
    cpus: h.capacity?.cpus ?? null,
    memoryMiB: h.capacity?.memoryMiB ?? null,
    overcommit: h.capacity?.overcommit ?? null,
    cpuFeatures: h.cpu?.features ?? null,
    cpuModels: h.cpu?.models ?? null,
    capabilities: h.capabilities,
  });
}

async function hello(i: HostInputs): Promise<HostHello> {
  return clientFor(i.connection, 60_000).helloOnce();
}

export async function create(inputs: HostInputs): Promise<dynamic.CreateResult<HostOutputs>> {
  return withUserErrors(`reaching host "${inputs.name}"`, async () => {
    const h = await hello(inputs);
    return { id: h.hostId, outs: outputsOf(inputs, h) };
  });
}

/** Refresh reads the machine again: a route that now reaches another host shows as a new `hostId`. */
export async function read(id: string, props: HostOutputs): Promise<dynamic.ReadResult<HostOutputs>> {
  return withUserErrors(`reading host "${props.name}"`, async () => {
    const h = await hello(props);
    return { id, props: outputsOf(props, h) };
  });
}

export async function update(_id: string, _olds: HostOutputs, news: HostInputs): Promise<dynamic.UpdateResult<HostOutputs>> {
  return withUserErrors(`reaching host "${news.name}"`, async () => ({ outs: outputsOf(news, await hello(news)) }));
}

/** Nothing on the machine belongs to a Host: forgetting it touches nothing there. */
async function deleteHost(): Promise<void> {}
export { deleteHost as delete };
