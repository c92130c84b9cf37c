/**
 * What the resource classes (Vm, Disk, Network) share: the inputs they hand
 * to Pulumi, read from the field table. Every argument the program gave is
 * passed on, known or not, so the provider's check refuses an unknown one by
 * name instead of it being dropped here; every field and output is listed,
 * because Pulumi only creates outputs for keys present in the inputs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import type { FieldTable } from "../sdk/protocol/fields";
import { RESOURCE_FIELDS, secretOutputs } from "./fields";
import { Host } from "./host";

export function resourceInputs(
  type: string,
  name: string,
  table: FieldTable,
  args: object,
  own: Record<string, unknown>,
  outputs: readonly string[],
): Record<string, unknown> {
  const given = args as Record<string, unknown>;
  const listed = Object.fromEntries([...Object.keys(table), ...Object.keys(RESOURCE_FIELDS), ...outputs].map((k) => [k, undefined]));
  return {
    ...listed,
    ...given,
    namePrefix: given.namePrefix ?? name,
    ...placementArgs(given),
    // Seeds the generated name and names the owner hostd records, so a create that is
    // interrupted and run again finds what it made, and nobody else's.
    nameSeed: `${pulumi.getProject()}/${pulumi.getStack()}/${type}/${name}`,
    ...own,
  };
}

/**
 * Where a program puts a resource, as its inputs carry it: a kvm.Host stands for
 * its name, id and connection (and makes the resource depend on it). The
 * Vm class hands these of each Disk and Network it uses to its own check.
 */
export function placementArgs(args: { host?: unknown; connection?: unknown }): { host?: unknown; connection?: unknown } {
  return { host: args.host instanceof Host ? args.host.ref() : args.host, connection: args.connection };
}

/**
 * The resource options every kvm resource gets:
 * - the table's secret outputs (keys and user-data never reach state in plain text);
 * - delete before replace. A replacement made create-first would find the
 *   object it replaces (same name, same owner, same spec), take it for a retry
 *   of its own create and return it, and the delete of the "old" one would then
 *   delete it. The provider's diff asks for delete-first where that can happen,
 *   but `pulumi up --replace` never calls the diff, so the option is set here.
 *   A program may still set `deleteBeforeReplace: false` on purpose.
 */
export function resourceOptions(table: FieldTable, opts: pulumi.CustomResourceOptions | undefined): pulumi.CustomResourceOptions {
  return {
    ...opts,
    deleteBeforeReplace: opts?.deleteBeforeReplace ?? true,
    additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), ...secretOutputs(table)],
  };
}

/** A value a program may give: a pulumi.Input at every level (objects, lists and their items). */
export type DeepInput<T> = T extends (infer E)[]
  ? pulumi.Input<DeepInput<E>[]>
  : T extends object
    ? pulumi.Input<{ [K in keyof T]: DeepInput<T[K]> }>
    : pulumi.Input<T>;

/** A program's arguments for a field table: every field optional, typed by its schema (see the README's tables for what each does). */
export type ArgsOf<T extends FieldTable> = { [K in keyof T]?: DeepInput<z.input<T[K]["schema"]>> };

/** The arguments every resource has besides its table's; `host` takes a kvm.Host. */
export type ResourceArgs = Omit<ArgsOf<typeof RESOURCE_FIELDS>, "nameSeed" | "host"> & { host?: Host | ArgsOf<typeof RESOURCE_FIELDS>["host"] };

/** The outputs every resource has about where it is (see Placement in placement.ts). */
export const PLACEMENT_OUTPUTS = ["hostId", "route", "host", "hostRef", "hostName"] as const;
