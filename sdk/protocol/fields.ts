/**
 * One table per resource: each field of a Vm, Disk or Network described
 * once — its type and limits (a zod schema), default, description, whether
 * it is secret, and what a change to it does — and everything else derived
 * from it: the wire schemas for create and update, the provider's inputs and
 * their types, the diff's replace/restart decisions and their preview
 * wording, hostd's restart rule and the README tables
 * (`scripts/docs-tables.js`; a unit test fails when the README disagrees).
 * A Terraform schema is one more reading of the same table: every schema
 * converts with `z.toJSONSchema`.
 */
import { z } from "zod";

/** What changing a field of an existing object does. */
export const CHANGE_EFFECTS = {
  /** Applied on the host without disturbing the object. */
  "in-place": "in place",
  /** Added or removed on the running VM without a restart (where the bus allows it). */
  hotplug: "hot-plug on a running VM",
  /** The running VM is shut down and booted again, in place (same VM, same id). */
  restart: "restart of a running VM",
  /** The VM is started or stopped. */
  power: "start / graceful stop",
  /** The cloud-init seed is rewritten; the guest reads it at its next boot. */
  seed: "seed rewritten, read at next boot",
  /** The disk grows in place (online when a running VM uses it); never shrinks. */
  grow: "grows in place",
  /** A new object replaces the old one. */
  replace: "replace",
  /** A setting of the provider only: nothing on the host changes. */
  none: "nothing on the host",
  /** How the host is reached: checked against the host's id (the same host is recorded in place; another host replaces). */
  route: "the host's id decides: same host, recorded in place; another host, replace",
  /**
   * Which host the object is on (a `kvm.Host`): checked against the host's id like a route;
   * on another host a Vm moves there in place (live when running) with its disks, a detached
   * Disk is copied there and removed from the old host, a Network is replaced.
   */
  move: "the host's id decides: same host, recorded in place; another host, moved there (a Network: replaced)",
} as const;
export type ChangeEffect = keyof typeof CHANGE_EFFECTS;

export interface FieldDef<S extends z.ZodType = z.ZodType> {
  /** The value's type and limits, without optionality or default. */
  schema: S;
  /** One sentence for users: provider docs, README, Terraform descriptions. */
  doc: string;
  /** The default when the field is not given (the wire fills it in). */
  default?: z.input<S>;
  /** Required on the wire (the provider may still fill it in, e.g. a generated name). */
  required?: true;
  /** How the README states a default that is not a plain value (computed, or left to the host). */
  defaultDoc?: string;
  effect: ChangeEffect;
  /** More words on the effect for the README's "on change" column. */
  effectDoc?: string;
  /** Kept secret in state (and sensitive in Terraform). */
  secret?: boolean;
  /** Optional field that an update may remove (sent as null). */
  removable?: boolean;
  /** `spec`: part of the object on the host; `provider`: a setting of the provider only (waits, timeouts). */
  where?: "spec" | "provider";
  /** The schema an update accepts, when narrower than create's (e.g. a mode that cannot be switched to). */
  update?: z.ZodType;
  /** For an in-place field: the changes that replace the object all the same (e.g. to or from bridge mode). */
  replacesWhen?: (before: z.output<S> | undefined, after: z.output<S> | undefined) => boolean;
  /**
   * For a restart field: the changes a running VM takes live instead (hot-plug), judged on the
   * whole spec before and after (defaults filled in), since the room to grow is another field.
   */
  liveWhen?: (before: Record<string, unknown>, after: Record<string, unknown>) => boolean;
}

export type FieldTable = Record<string, FieldDef>;

/** Defines a table, keeping each field's schema type. */
export function fieldTable<T extends Record<string, FieldDef>>(t: T): T {
  return t;
}

type SpecKeys<T extends FieldTable> = { [K in keyof T]: T[K]["where"] extends "provider" ? never : K }[keyof T];
type ProviderKeys<T extends FieldTable> = { [K in keyof T]: T[K]["where"] extends "provider" ? K : never }[keyof T];

/** A field's create schema: with its default, or optional. */
type CreateField<F extends FieldDef> = F extends { required: true } ? F["schema"] : F extends { default: unknown } ? z.ZodDefault<F["schema"]> : z.ZodOptional<F["schema"]>;
type CreateShape<T extends FieldTable, K extends keyof T> = { [P in K]: CreateField<T[P]> };

function createField(f: FieldDef): z.ZodType {
  if (f.required) return f.schema;
  return f.default !== undefined ? f.schema.default(f.default as never) : f.schema.optional();
}

function pick<T extends FieldTable>(t: T, where: "spec" | "provider"): [string, FieldDef][] {
  return Object.entries(t).filter(([, f]) => (f.where ?? "spec") === where);
}

/** The names of the fields the host keeps (not the provider's own settings). */
export function specFields<T extends FieldTable>(t: T): (SpecKeys<T> & string)[] {
  return pick(t, "spec").map(([k]) => k as SpecKeys<T> & string);
}

/** The object as the host stores it: every spec field, defaults filled in (a strict object: unknown fields are errors). */
export function specShape<T extends FieldTable>(t: T): CreateShape<T, SpecKeys<T>> {
  return Object.fromEntries(pick(t, "spec").map(([k, f]) => [k, createField(f)])) as CreateShape<T, SpecKeys<T>>;
}

/** The provider-only settings with their defaults. */
export function providerShape<T extends FieldTable>(t: T): CreateShape<T, ProviderKeys<T>> {
  return Object.fromEntries(pick(t, "provider").map(([k, f]) => [k, createField(f)])) as CreateShape<T, ProviderKeys<T>>;
}

type UpdateField<F extends FieldDef> = F extends { removable: true } ? z.ZodOptional<z.ZodNullable<F["schema"]>> : z.ZodOptional<F["schema"]>;
type UpdatableKeys<T extends FieldTable> = { [K in SpecKeys<T>]: T[K]["effect"] extends "replace" ? never : K }[SpecKeys<T>];

/** An update: the fields that change without replacing the object, each optional; removable ones may be null. */
export function updateShape<T extends FieldTable>(t: T): { [P in UpdatableKeys<T>]: UpdateField<T[P]> } {
  const out: Record<string, z.ZodType> = {};
  for (const [k, f] of pick(t, "spec")) {
    if (f.effect === "replace") continue;
    const s = f.update ?? f.schema;
    out[k] = f.removable ? s.nullable().optional() : s.optional();
  }
  return out as { [P in UpdatableKeys<T>]: UpdateField<T[P]> };
}

/** Every field, optional and without defaults: what a program may give (the provider's check). */
export function inputShape<T extends FieldTable>(t: T): { [P in keyof T]: z.ZodOptional<T[P]["schema"]> } {
  return Object.fromEntries(Object.entries(t).map(([k, f]) => [k, f.schema.optional()])) as { [P in keyof T]: z.ZodOptional<T[P]["schema"]> };
}

/**
 * What this change of one field does: its table effect, or a hot-plug where
 * the field's `liveWhen` takes the change on a running VM. The provider's
 * preview and hostd's update both ask here, so they cannot disagree.
 */
export function effectOf(t: FieldTable, field: string, before: Record<string, unknown>, after: Record<string, unknown>): ChangeEffect {
  const f = t[field];
  if (!f) throw new Error(`no field ${field} in this table`);
  return f.effect === "restart" && f.liveWhen?.(before, after) ? "hotplug" : f.effect;
}

/** Field names by what a change to them does. */
export function fieldsWithEffect<T extends FieldTable>(t: T, ...effects: ChangeEffect[]): (keyof T & string)[] {
  return Object.entries(t)
    .filter(([, f]) => effects.includes(f.effect))
    .map(([k]) => k);
}

/** The secret fields of a table. */
export function secretFields<T extends FieldTable>(t: T): (keyof T & string)[] {
  return Object.entries(t)
    .filter(([, f]) => f.secret === true)
    .map(([k]) => k);
}

/**
 * The fields whose values differ between two objects, by effect (values
 * compared as JSON with sorted keys). Fields absent from both count as equal.
 */
export function changedFields<T extends FieldTable>(t: T, before: Record<string, unknown>, after: Record<string, unknown>): { field: keyof T & string; effect: ChangeEffect }[] {
  return Object.entries(t)
    .filter(([k]) => stableJson(before[k]) !== stableJson(after[k]))
    .map(([k, f]) => ({ field: k, effect: f.replacesWhen?.(before[k] as never, after[k] as never) ? "replace" : effectOf(t, k, before, after) }));
}

/** JSON with sorted keys, for comparing values regardless of key order; undefined and absent are the same. */
export function stableJson(v: unknown): string {
  return (
    JSON.stringify(v, (_k, val: unknown) =>
      val && typeof val === "object" && !Array.isArray(val)
        ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
        : val,
    ) ?? "null"
  );
}

/**
 * Text a user wrote (user-data, descriptions): a JavaScript string with a lone
 * surrogate is what invalid UTF-8 turns into when decoded leniently, so it is
 * refused instead of being sent on, silently changed.
 */
export function wellFormedText(max: number) {
  return z
    .string()
    .max(max)
    .refine((s) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s), "must be valid UTF-8 text (it holds bytes that are not UTF-8)");
}

/** The README's words for a field's limits, read from its schema (bounds of numbers and lists). */
export function limitsDoc(f: FieldDef): string | undefined {
  const js = z.toJSONSchema(f.schema, { unrepresentable: "any" }) as { minimum?: number; maximum?: number; maxItems?: number; enum?: unknown[] };
  if (js.minimum !== undefined && js.maximum !== undefined) return `${js.minimum}–${js.maximum}`;
  if (js.maxItems !== undefined) return `at most ${js.maxItems}`;
  if (js.enum) return js.enum.map((e) => `\`${String(e)}\``).join(" / ");
  return undefined;
}
