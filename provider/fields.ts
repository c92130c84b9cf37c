/**
 * The provider's reading of the field tables (sdk/protocol/fields.ts): the
 * inputs a program may give, their defaults, the spec sent to hostd, and the
 * diff's classification of a change. Each resource provider adds only what is
 * its own (waits, preview wording).
 */
import { z } from "zod";
import { changedFields, ChangeEffect, FieldTable, fieldTable, inputShape, secretFields } from "../sdk/protocol/fields";
import { DISK_FIELDS, NETWORK_FIELDS, VM_FIELDS } from "../sdk/protocol";
import { CONNECTION_FIELDS, ConnectionSettings } from "./connection";

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
});

/** What a program may give for a resource with this table: every field optional, nothing else (unknown inputs are errors). */
export function inputsSchema<T extends FieldTable>(t: T) {
  return z.strictObject({ ...inputShape(t), ...inputShape(RESOURCE_FIELDS) });
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

/** Outputs Pulumi must keep secret: the table's secret fields and the connection. */
export function secretOutputs(t: FieldTable): string[] {
  return [...secretFields(t), ...secretFields(RESOURCE_FIELDS)];
}

export type { ConnectionSettings };

/** The tables the README shows, by the name of their `<!-- fields:NAME -->` block. */
export function readmeTables(): Record<string, FieldTable> {
  // nameSeed is set by the resource classes, not by programs: not a documented input.
  const { nameSeed: _seed, ...resource } = RESOURCE_FIELDS;
  return {
    connection: CONNECTION_FIELDS,
    Disk: { ...DISK_FIELDS, ...resource },
    Network: { ...NETWORK_FIELDS, ...resource },
    Vm: { ...VM_FIELDS, ...resource },
  };
}
