/**
 * The dynamic provider of `kvm.Disk` (a module required by path; see vm-provider.ts for why).
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { DISK_FIELDS, DiskInfo, DiskSpec } from "../sdk/protocol";
import { KvmError } from "../sdk/errors";
import { clientFor, ConnectionSettings, HostRef } from "./connection";
import { classify, inputsSchema, specFromHost, specOf, withDefaults } from "./fields";
import { mustBeOnHost, onItsHost, ownerOf, Placement, placementOf, routeChange } from "./placement";
import { mustReach } from "./reachable";
import { diskMoveText, moveDisk, moveIfAsked, moveVmOnce } from "./moves";
import { configureFromStack, failuresOf, hasUnknown, hostRefOf, identified, ownInputs, same, settingsFor, withoutUnknowns, withUserErrors, definedOnly, ownedOrGone, mustOwn, CallOptions, inputsFromOutputs } from "./common";

/** Inputs after check (defaults filled in from the table). */
export type DiskInputs = DiskSpec & {
  timeoutSeconds: number;
  namePrefix?: string;
  /** `<project>/<stack>/kvm:Disk/<name>`: seeds the generated name and is the owner hostd records. */
  nameSeed?: string;
  connection?: ConnectionSettings;
  /** The kvm.Host it is to be on (absent: the stack's default host). */
  host?: HostRef;
};

export interface DiskOutputs extends Omit<DiskInputs, "host">, Placement {
  diskId: string;
  path: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  backingFile: string | null;
  attachedTo: string | null;
}

/** What a program may give (unknown inputs are refused at preview). */
const Inputs = inputsSchema(DISK_FIELDS);

export const configure = configureFromStack;

export async function check(olds: Partial<DiskInputs>, allNews: Record<string, unknown>): Promise<dynamic.CheckResult> {
  const news = ownInputs(allNews);
  const shape = Inputs.safeParse(withoutUnknowns(news));
  if (!shape.success) return { inputs: news, failures: failuresOf(shape.error) };
  const inputs = withDefaults(DISK_FIELDS, identified(olds, news, "disk"));
  if (!hasUnknown(specOf(DISK_FIELDS, inputs))) {
    const spec = DiskSpec.safeParse(specOf(DISK_FIELDS, inputs));
    if (!spec.success) return { inputs, failures: failuresOf(spec.error) };
    Object.assign(inputs, { format: spec.data.format, source: spec.data.source });
    // Refuse a shrink at preview: it would destroy data, and the host refuses it anyway.
    const refused = olds.name === inputs.name ? shrinkRefusal(String(inputs.name), olds.sizeGiB, spec.data.sizeGiB) : undefined;
    if (refused) return { inputs, failures: [{ property: "sizeGiB", reason: `[invalid_params] sizeGiB: ${refused}` }] };
  }
  return { inputs, failures: [] };
}

/** Why going from `before` to `after` GiB is refused (a shrink), or undefined. */
function shrinkRefusal(name: string, before: unknown, after: unknown): string | undefined {
  if (typeof before !== "number" || typeof after !== "number" || after >= before) return undefined;
  return `disk "${name}" is ${before} GiB; shrinking it to ${after} GiB would destroy data, so it is refused. Disks only grow: declare ${before} GiB or more.`;
}

export async function diff(_id: string, olds: DiskOutputs, news: DiskInputs): Promise<dynamic.DiffResult> {
  const { replaces, changed } = classify(DISK_FIELDS, olds, news);
  const route = await routeChange("Disk", olds, news);
  // Preview contacts the host: reachable, and (unless the route moved: asked above) the one the state says.
  await mustReach("Disk", olds.name, settingsFor(news), route.changed ? undefined : olds.hostId);
  const hostChanged = route.replace;
  if (hostChanged) replaces.push("connection");
  else if (route.changed) changed.push(same(olds.connection, news.connection) ? "host" : "connection");
  if (route.moveTo && replaces.length === 0) {
    // A disk in use moves with its VM (the VM's own diff says what that copies, or refuses it); a detached one is copied.
    // Which VM uses it is asked of the host: the state's `attachedTo` is from the Disk's last update, which ran before its VM's.
    const src = clientFor(settingsFor(olds), 60_000);
    const here = await ownedOrGone(olds.diskId, () => src.disk.get(olds.name));
    if (!here) {
      // An earlier up moved it with its VM and then failed: the update finds it there by id and records it.
      console.log(`kvm: Disk "${olds.name}": is no longer on host ${olds.hostId} (moved by an earlier up?): this update records it on ${route.moveTo.label} if it is there.`);
    } else if (here.attachedTo) {
      console.log(`kvm: Disk "${olds.name}": moves to ${route.moveTo.label} with VM "${here.attachedTo}", which uses it (the VM's move copies it): an update in place, same disk id.`);
    } else {
      console.log(await diskMoveText(olds.name, src, clientFor(settingsFor(news), 60_000), route.moveTo.label, olds.hostId));
    }
  }
  if (changed.includes("sizeGiB") && news.sizeGiB !== undefined && replaces.length === 0) {
    console.log(`kvm: Disk "${olds.name}": grows in place to ${news.sizeGiB} GiB (online if a running VM uses it; no data is touched).`);
  }
  if (replaces.length > 0) {
    console.log(`kvm: Disk "${olds.name}": changing ${replaces.join(", ")} REPLACES the disk: its data is lost.`);
  }
  return {
    changes: replaces.length > 0 || changed.length > 0,
    replaces,
    stables: route.moveTo ? ["diskId"] : ["diskId", "hostId"],
    deleteBeforeReplace: !hostChanged && same(olds.name, news.name),
  };
}

function outputsOf(i: Omit<DiskInputs, "host">, d: DiskInfo, where: Placement): DiskOutputs {
  // Only a read meets a Disk without its file (and reads it as gone); anywhere else it is an error that says what to do.
  if (d.problem !== null || d.virtualSizeBytes === null || d.actualSizeBytes === null) throw new KvmError("conflict", `Disk "${d.name}" cannot be used: ${d.problem ?? "hostd reports no size for it"}.`, { disk: d.name });
  return definedOnly({
    ...i,
    ...where,
    // The spec as the host has it (a size grown there shows on refresh).
    ...(specFromHost(DISK_FIELDS, d.spec) as Partial<DiskSpec>),
    sizeGiB: d.spec.sizeGiB ?? i.sizeGiB,
    diskId: d.id,
    path: d.path,
    virtualSizeBytes: d.virtualSizeBytes,
    actualSizeBytes: d.actualSizeBytes,
    backingFile: d.backingFile,
    attachedTo: d.attachedTo,
  });
}

export async function create(inputs: DiskInputs): Promise<dynamic.CreateResult<DiskOutputs>> {
  return withUserErrors(`creating disk "${inputs.name}"`, async () => {
    const settings = settingsFor(inputs);
    const client = clientFor(settings, inputs.timeoutSeconds * 1000);
    const hostId = (await client.helloOnce()).hostId;
    const d = await client.disk.create({ ...(specOf(DISK_FIELDS, inputs) as DiskSpec), owner: ownerOf(inputs) });
    return { id: d.id, outs: outputsOf(inputs, d, placementOf(settings, hostId, hostRefOf(inputs))) };
  });
}

export async function read(id: string, props: DiskOutputs): Promise<dynamic.ReadResult<DiskOutputs>> {
  return withUserErrors(`reading disk "${props.name}"`, async () => {
    const settings = settingsFor(props);
    const client = clientFor(settings, 60_000);
    // On another host "not found" would drop the disk from state: the host id is checked first.
    const hostId = await mustBeOnHost("Disk", props.name, client, props.hostId);
    const d = await ownedOrGone(id, () => client.disk.get(props.name));
    if (!d) return { id: "", props: {} as DiskOutputs };
    if (d.problem !== null) {
      // Its file was deleted outside hostd: the Disk is gone (the next preview plans to create it again), and the refresh says why.
      console.log(`kvm: Disk "${props.name}" is gone from the host: ${d.problem}.`);
      return { id: "", props: {} as DiskOutputs };
    }
    const outs = outputsOf(props, d, placementOf(settings, hostId, props.hostRef));
    // Grown on the host (`hostd disk resize`, `qemu-img resize`): recorded as the input too, so check() refuses to shrink it back.
    const grown = typeof props.sizeGiB === "number" && typeof outs.sizeGiB === "number" && outs.sizeGiB > props.sizeGiB;
    return { id, props: outs, ...(grown && { inputs: inputsFromOutputs(DISK_FIELDS, outs) as unknown as DiskOutputs }) };
  });
}

export async function update(id: string, olds: DiskOutputs, news: DiskInputs): Promise<dynamic.UpdateResult<DiskOutputs>> {
  return withUserErrors(`updating disk "${news.name}"`, async () => {
    const settings = settingsFor(news);
    const client = clientFor(settings, news.timeoutSeconds * 1000);
    // A `host` that names another host: a disk in use moves with its VM, all its disks at once (this
    // update runs before the VM's: see moves.ts); a detached one is copied there, then removed here.
    const movedTo = await moveIfAsked("Disk", id, olds, news, client, (c, name) => c.disk.get(name), async (src, from) => {
      const here = await mustOwn("Disk", olds.name, id, () => src.disk.get(olds.name));
      if (!here.attachedTo) return moveDisk(src, client, { disk: olds.name, owner: ownerOf(olds) ?? "", timeoutMs: news.timeoutSeconds * 1000 });
      const vm = await src.vm.get(here.attachedTo);
      return moveVmOnce(src, client, from, { vm: vm.name, owner: vm.owner ?? "" });
    });
    // Check it is still the stack's disk before touching it: a namesake must not be grown.
    const hostId = await mustBeOnHost("Disk", news.name, client, movedTo ?? olds.hostId);
    let d = await mustOwn("Disk", news.name, id, () => client.disk.get(news.name));
    if (news.sizeGiB !== undefined && news.sizeGiB !== olds.sizeGiB) {
      d = (await client.disk.update({ name: news.name, sizeGiB: news.sizeGiB })).disk;
    }
    return { outs: outputsOf(news, d, placementOf(settings, hostId, hostRefOf(news))) };
  });
}

async function deleteDisk(id: string, props: DiskOutputs, o: CallOptions = {}): Promise<void> {
  return withUserErrors(`deleting disk "${props.name}"`, async () => {
    await onItsHost(props, o.timeoutMs ?? 120_000, (client) => client.disk.delete({ name: props.name, id, owner: ownerOf(props), hostId: props.hostId }));
  });
}
export { deleteDisk as delete };
