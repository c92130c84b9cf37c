import * as pulumi from "@pulumi/pulumi";
import type { ConnectionArgs } from "./vm";
import type { DiskOutputs } from "./disk-provider";

export type DiskSourceArgs =
  | { kind: pulumi.Input<"blank"> }
  | { kind: pulumi.Input<"url">; url: pulumi.Input<string>; sha256: pulumi.Input<string>; clone?: pulumi.Input<boolean> }
  | { kind: pulumi.Input<"hostPath">; path: pulumi.Input<string>; clone?: pulumi.Input<boolean>; blockDevice?: pulumi.Input<boolean> };

export interface DiskArgs {
  /** Disk name on the host. Default: `<namePrefix>-<random>`, stable across updates. */
  name?: pulumi.Input<string>;
  namePrefix?: pulumi.Input<string>;
  /** Size in GiB. Growing it grows the disk in place (online when a running VM uses it); shrinking is refused. */
  sizeGiB?: pulumi.Input<number>;
  /** `qcow2` (default) or `raw`. */
  format?: pulumi.Input<"qcow2" | "raw">;
  /**
   * Where the content comes from: `blank` (default), `url` (+ required `sha256`; downloaded once per host,
   * verified; `clone: true` by default = thin copy-on-write on the cached base), or `hostPath`.
   */
  source?: pulumi.Input<DiskSourceArgs>;
  /** Bound, in seconds, on creating the disk (downloads included). Default 3600. */
  timeoutSeconds?: pulumi.Input<number>;
  connection?: pulumi.Input<ConnectionArgs>;
}

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
  declare readonly host: pulumi.Output<string>;
  /** The file on the host. */
  declare readonly path: pulumi.Output<string>;
  declare readonly virtualSizeBytes: pulumi.Output<number>;
  /** Bytes the file takes on the host (a clone takes little). */
  declare readonly actualSizeBytes: pulumi.Output<number>;
  declare readonly backingFile: pulumi.Output<string | null>;
  /** The VM using it, if any. */
  declare readonly attachedTo: pulumi.Output<string | null>;

  constructor(name: string, args: DiskArgs, opts?: pulumi.CustomResourceOptions) {
    const inputs: Record<string, unknown> = {
      name: args.name,
      namePrefix: args.namePrefix ?? name,
      // Seeds the generated name, so a create that is interrupted and run again finds what it made.
      nameSeed: `${pulumi.getProject()}/${pulumi.getStack()}/kvm:Disk/${name}`,
      sizeGiB: args.sizeGiB,
      format: args.format,
      source: args.source,
      timeoutSeconds: args.timeoutSeconds,
      connection: args.connection,
      diskId: undefined,
      host: undefined,
      path: undefined,
      virtualSizeBytes: undefined,
      actualSizeBytes: undefined,
      backingFile: undefined,
      attachedTo: undefined,
    };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const provider = require("./disk-provider") as pulumi.dynamic.ResourceProvider;
    super(provider, name, inputs, {
      ...opts,
      additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "connection"],
    }, "kvm", "Disk");
  }
}

export type { DiskOutputs };
