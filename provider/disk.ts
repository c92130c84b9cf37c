import * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import type { DiskOutputs } from "./disk-provider";
import { DISK_FIELDS, DiskSource } from "../sdk/protocol";
import { DISK_OUTPUT_FIELDS } from "./outputs";
import { ArgsOf, DeepInput, PLACEMENT_OUTPUTS, placementArgs, resourceInputs, ResourceArgs, resourceOptions } from "./resource";

/** What the provider reports besides the table's fields (see DiskOutputs). */
const DISK_OUTPUTS = [...PLACEMENT_OUTPUTS, "diskId", ...Object.keys(DISK_OUTPUT_FIELDS)];

export type DiskSourceArgs = DeepInput<z.input<typeof DiskSource>>;

/** A Disk's arguments: the fields of `DISK_FIELDS` (sdk/protocol/disk.ts; the README's `kvm.Disk` table is generated from it). */
export type DiskArgs = ArgsOf<typeof DISK_FIELDS> & ResourceArgs;

/**
 * A disk on a host running hostd: a qcow2 or raw file with a life of its own.
 * It outlives the VMs that use it; attach it with `new kvm.Vm(..., { disks: [{ disk }] })`.
 *
 * ```ts
 * const root = new kvm.Disk("root", {
 *   sizeGiB: 20,
 *   source: { kind: "url", url: "https://…/debian-12.qcow2", sha256: "…" },
 * });
 * ```
 */
export class Disk extends pulumi.dynamic.Resource {
  declare readonly name: pulumi.Output<string>;
  declare readonly sizeGiB: pulumi.Output<number | undefined>;
  declare readonly format: pulumi.Output<string>;
  declare readonly diskId: pulumi.Output<string>;
  /** The id of the host it lives on (hostd's host id; a host is its id, never the route that reaches it). */
  declare readonly hostId: pulumi.Output<string>;
  declare readonly host: pulumi.Output<string>;
  /** The kvm.Host it is on (undefined: the stack's default host). */
  declare readonly hostName: pulumi.Output<string | undefined>;
  /** Where the program put it (its `host` and `connection` inputs): what a Vm using it checks against its own. */
  readonly placedBy: { host?: unknown; connection?: unknown };
  /** The file on the host. */
  declare readonly path: pulumi.Output<string>;
  declare readonly virtualSizeBytes: pulumi.Output<number>;
  /** Bytes the file takes on the host (a clone takes little). */
  declare readonly actualSizeBytes: pulumi.Output<number>;
  declare readonly backingFile: pulumi.Output<string | null>;
  /** The VM using it, if any. */
  declare readonly attachedTo: pulumi.Output<string | null>;

  constructor(name: string, args: DiskArgs, opts?: pulumi.CustomResourceOptions) {
    const inputs = resourceInputs("kvm:Disk", name, DISK_FIELDS, args, {}, DISK_OUTPUTS);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const provider = require("./disk-provider") as pulumi.dynamic.ResourceProvider;
    super(provider, name, inputs, resourceOptions(DISK_FIELDS, opts), "kvm", "Disk");
    this.placedBy = placementArgs(args);
  }
}

export type { DiskOutputs };
