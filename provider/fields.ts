/**
 * The provider's reading of the field tables (sdk/protocol/fields.ts): the
 * inputs a program may give, their defaults, the spec sent to hostd, and the
 * diff's classification of a change. Each resource provider adds only what is
 * its own (waits, preview wording).
 */
import { z } from "zod";
import { changedFields, ChangeEffect, FieldTable, fieldTable, inputShape, secretFields } from "../sdk/protocol/fields";
import { DISK_FIELDS, NETWORK_FIELDS, VM_FIELDS } from "../sdk/protocol";
import { CONNECTION_FIELDS, ConnectionSettings, HostName, HostRef } from "./connection";

/** The fields every resource has in the provider besides its own table: naming and connection. */
export const RESOURCE_FIELDS = fieldTable({
  namePrefix: { schema: z.string().max(40), where: "provider", doc: "Prefix of the generated name.", defaultDoc: "the resource's name", effect: "none", effectDoc: "a generated name follows it (a new name replaces the object)" },
  /** Set by the resource class, not by programs: `<project>/<stack>/<type>/<name>`. */
  nameSeed: { schema: z.string().max(512), where: "provider", doc: "Seed of the generated name and the owner hostd records (set by the resource class).", effect: "none" },
  connection: {
    schema: ConnectionSettings,
    where: "provider",
    secret: true,
    doc: `Per-resource connection { ${Object.keys(CONNECTION_FIELDS).join(", ")} }; overrides the stack config \`kvm:*\` field by field.`,
    effect: "route",
  },
  host: {
    schema: HostRef,
    where: "provider",
    // Not marked here: the output of that name is the route's display (`host`), which stays readable.
    // A kvm.Host hands its connection on as a secret, so the input is secret in state all the same,
    // and the copy the provider keeps to reach the host again (`hostRef`) is always secret.
    doc: "The host it is on: a `kvm.Host` (its connection replaces the stack config `kvm:*`, which is the default host).",
    defaultDoc: "the stack's `kvm:*` host",
    effect: "move",
    effectDoc: "a Vm moves to the other host in place (live when running) with its disks; a detached Disk is copied there by itself, then removed (same disk id); a Network is replaced",
  },
});

/** A kvm.Host's inputs: a name for the program's messages and the connection that reaches the machine. */
export const HOST_FIELDS = fieldTable({
  name: { schema: HostName, required: true, where: "provider", doc: "The host's name in messages and outputs.", defaultDoc: "the resource's name", effect: "none" },
  connection: {
    schema: ConnectionSettings,
    required: true,
    where: "provider",
    secret: true,
    doc: `How to reach the host { ${Object.keys(CONNECTION_FIELDS).join(", ")} }: the whole connection (the stack config \`kvm:*\` is the default host, not merged in).`,
    effect: "route",
    effectDoc: "the host's id decides: the same host is recorded in place; another host is read anew, and the resources on this Host move (VMs, Disks) or are replaced (Networks)",
  },
});

/** What the Vm class adds besides the table: the Disks and Networks it uses, with where each is, so a VM using another host's is refused at preview. */
export const VM_PROVIDER_FIELDS = fieldTable({
  uses: {
    schema: z.array(
      z.strictObject({
        kind: z.enum(["Disk", "Network"]),
        name: z.string(),
        /** The used resource's `host` and `connection` inputs: where the program puts it. */
        host: HostRef.optional(),
        connection: ConnectionSettings.optional(),
      }),
    ),
    where: "provider",
    secret: true,
    doc: "The Disks and Networks the VM uses and their hosts (set by the Vm class).",
    effect: "none",
  },
});

/** What a program may give for a resource with this table: every field optional, nothing else (unknown inputs are errors). */
export function inputsSchema<T extends FieldTable, P extends FieldTable = Record<never, never>>(t: T, own?: P) {
  return z.strictObject({ ...inputShape(t), ...inputShape(RESOURCE_FIELDS), ...inputShape(own ?? ({} as P)) });
}

/**
 * The inputs with every default of the table filled in, deep-copied. State
 * written before a field existed reads as that field's default, so adding a
 * field to a table never shows up as a change.
 */
export function withDefaults<T extends Record<string, unknown>>(t: FieldTable, v: T): T {
  const out: Record<string, unknown> = { ...v };
  for (const [k, f] of Object.entries(t)) {
    if (out[k] === undefined && f.default !== undefined) out[k] = structuredClone(f.default);
  }
  return out as T;
}

/** The part of the inputs that is the object on the host (what create sends, without provider settings). */
export function specOf(t: FieldTable, v: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(t).filter(([k, f]) => (f.where ?? "spec") === "spec" && v[k] !== undefined).map(([k]) => [k, v[k]]));
}

/** The spec fields as the host reports them, for the outputs: refresh shows what the host has, not what the program said. */
export function specFromHost(t: FieldTable, spec: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(t).filter(([, f]) => (f.where ?? "spec") === "spec").map(([k]) => [k, spec[k]]));
}

/** A diff by the table: which fields replace the object, which change, and each changed field's effect. */
export function classify(t: FieldTable, oldValues: object, newValues: object): { replaces: string[]; changed: string[]; effects: Map<string, ChangeEffect> } {
  const olds = oldValues as Record<string, unknown>;
  const news = newValues as Record<string, unknown>;
  const changes = changedFields(t, withDefaults(t, olds), withDefaults(t, news));
  const extra = changedFields(RESOURCE_FIELDS, olds, news).filter((c) => c.field === "namePrefix");
  const effects = new Map([...changes, ...extra].map((c) => [c.field, c.effect] as const));
  return {
    replaces: changes.filter((c) => c.effect === "replace").map((c) => c.field),
    changed: [...changes, ...extra].filter((c) => c.effect !== "replace").map((c) => c.field),
    effects,
  };
}

/** Outputs Pulumi must keep secret: the table's secret fields, the connection, and `hostRef` (the host's connection, see placement.ts). */
export function secretOutputs(t: FieldTable): string[] {
  return [...secretFields(t), ...secretFields(RESOURCE_FIELDS), "hostRef"];
}

export type { ConnectionSettings };

/** The tables the README shows, by the name of their `<!-- fields:NAME -->` block. */
export function readmeTables(): Record<string, FieldTable> {
  // nameSeed is set by the resource classes, not by programs: not a documented input.
  const { nameSeed: _seed, ...resource } = RESOURCE_FIELDS;
  return {
    connection: CONNECTION_FIELDS,
    Host: HOST_FIELDS,
    Disk: { ...DISK_FIELDS, ...resource },
    Network: { ...NETWORK_FIELDS, ...resource },
    Vm: { ...VM_FIELDS, ...resource },
  };
}
