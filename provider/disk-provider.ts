/**
 * The dynamic provider of `kvm.Disk` (a module required by path; see vm-provider.ts for why).
 */
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { z } from "zod";
import { DiskFormat, DiskInfo, DiskSource, DiskSpec, Name, SizeGiB } from "../sdk/protocol";
import { clientFor, ConnectionSettings } from "./connection";
import { mustBeOnHost, onItsHost, ownerOf, Placement, placementOf, routeChange } from "./placement";
import { NameSeed, configureFromStack, failuresOf, hasUnknown, identified, ownInputs, same, settingsFor, withoutUnknowns, withUserErrors, definedOnly, ownedOrGone, mustOwn } from "./common";

const DEFAULT_TIMEOUT_SECONDS = 3600;

export interface DiskInputs {
  name: string;
  namePrefix?: string;
  /** `<project>/<stack>/kvm:Disk/<name>`: seeds the generated name and is the owner hostd records. */
  nameSeed?: string;
  sizeGiB?: number;
  format: "qcow2" | "raw";
  source: z.output<typeof DiskSource>;
  timeoutSeconds: number;
  connection?: ConnectionSettings;
}

export interface DiskOutputs extends DiskInputs, Placement {
  diskId: string;
  path: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  backingFile: string | null;
  attachedTo: string | null;
}

const Inputs = z.strictObject({
  name: Name.optional(),
  namePrefix: z.string().max(40).optional(),
  nameSeed: NameSeed.optional(),
  sizeGiB: SizeGiB.optional(),
  format: DiskFormat.optional(),
  source: DiskSource.optional(),
  timeoutSeconds: z.int().min(1).max(86_400).optional(),
  connection: ConnectionSettings.optional(),
});

export const configure = configureFromStack;

export async function check(olds: Partial<DiskInputs>, allNews: Record<string, unknown>): Promise<dynamic.CheckResult> {
  const news = ownInputs(allNews);
  const shape = Inputs.safeParse(withoutUnknowns(news));
  if (!shape.success) return { inputs: news, failures: failuresOf(shape.error) };
  const inputs = identified(olds, news, "disk");
  inputs.timeoutSeconds ??= DEFAULT_TIMEOUT_SECONDS;
  if (!hasUnknown(inputs)) {
    const spec = DiskSpec.safeParse(specOf(inputs as unknown as DiskInputs));
    if (!spec.success) return { inputs, failures: failuresOf(spec.error) };
    Object.assign(inputs, { format: spec.data.format, source: spec.data.source });
    // Refuse a shrink at preview: it would destroy data, and the host refuses it anyway.
    const before = olds.sizeGiB;
    const after = spec.data.sizeGiB;
    if (typeof before === "number" && typeof after === "number" && after < before && olds.name === inputs.name) {
      return {
        inputs,
        failures: [
          {
            property: "sizeGiB",
            reason: `[invalid_params] sizeGiB: disk "${String(inputs.name)}" is ${before} GiB; shrinking it to ${after} GiB would destroy data, so it is refused. Disks only grow.`,
          },
        ],
      };
    }
  }
  return { inputs, failures: [] };
}

export async function diff(_id: string, olds: DiskOutputs, news: DiskInputs): Promise<dynamic.DiffResult> {
  const replaces: string[] = [];
  const changed: string[] = [];
  for (const k of ["name", "format", "source"] as const) if (!same(olds[k], news[k])) replaces.push(k);
  const route = await routeChange("Disk", olds, news);
  const hostChanged = route.replace;
  if (hostChanged) replaces.push("connection");
  else if (route.changed) changed.push("connection");
  if (!same(olds.sizeGiB, news.sizeGiB)) {
    if (news.sizeGiB === undefined) changed.push("sizeGiB"); // keeps its size; nothing to do on the host
    else {
      changed.push("sizeGiB");
      if (replaces.length === 0) {
        console.log(`kvm: Disk "${olds.name}": grows in place to ${news.sizeGiB} GiB (online if a running VM uses it; no data is touched).`);
      }
    }
  }
  for (const k of ["timeoutSeconds", "namePrefix"] as const) if (!same(olds[k], news[k])) changed.push(k);
  if (replaces.length > 0) {
    console.log(`kvm: Disk "${olds.name}": changing ${replaces.join(", ")} REPLACES the disk: its data is lost.`);
  }
  return {
    changes: replaces.length > 0 || changed.length > 0,
    replaces,
    stables: ["diskId"],
    deleteBeforeReplace: !hostChanged && same(olds.name, news.name),
  };
}

function specOf(i: DiskInputs): z.input<typeof DiskSpec> {
  return { name: i.name, sizeGiB: i.sizeGiB, format: i.format, source: i.source };
}

function outputsOf(i: DiskInputs, d: DiskInfo, where: Placement): DiskOutputs {
  return definedOnly({
    ...i,
    ...where,
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
    const d = await client.disk.create({ ...specOf(inputs), owner: ownerOf(inputs) });
    return { id: d.id, outs: outputsOf(inputs, d, placementOf(settings, hostId)) };
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
    return { id, props: outputsOf(props, d, placementOf(settings, hostId)) };
  });
}

export async function update(id: string, olds: DiskOutputs, news: DiskInputs): Promise<dynamic.UpdateResult<DiskOutputs>> {
  return withUserErrors(`updating disk "${news.name}"`, async () => {
    const settings = settingsFor(news);
    const client = clientFor(settings, news.timeoutSeconds * 1000);
    // Check it is still the stack's disk before touching it: a namesake must not be grown.
    const hostId = await mustBeOnHost("Disk", news.name, client, olds.hostId);
    let d = await mustOwn("Disk", news.name, id, () => client.disk.get(news.name));
    if (news.sizeGiB !== undefined && news.sizeGiB !== olds.sizeGiB) {
      d = (await client.disk.update({ name: news.name, sizeGiB: news.sizeGiB })).disk;
    }
    return { outs: outputsOf(news, d, placementOf(settings, hostId)) };
  });
}

async function deleteDisk(id: string, props: DiskOutputs): Promise<void> {
  return withUserErrors(`deleting disk "${props.name}"`, async () => {
    await onItsHost(props, 120_000, (client) => client.disk.delete({ name: props.name, id, owner: ownerOf(props), hostId: props.hostId }));
  });
}
export { deleteDisk as delete };
