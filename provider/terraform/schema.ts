/**
 * The Terraform schema, read from the same field tables as the Pulumi
 * provider (sdk/protocol/fields.ts, provider/connection.ts): names in
 * snake_case, the table's doc as description, `secret` as sensitive, and
 * requires-replace exactly for the fields whose effect is `replace`. Types
 * come from each field's zod schema through `z.toJSONSchema`, so there is no
 * second list of fields or limits here.
 */
import { z } from "zod";
import { FieldDef, FieldTable } from "../../sdk/protocol/fields";
import { DISK_FIELDS, NETWORK_FIELDS, VM_FIELDS } from "../../sdk/protocol";
import { CONNECTION_FIELDS } from "../connection";
import { DISK_OUTPUT_FIELDS, NETWORK_OUTPUT_FIELDS, OutputTable, VM_OUTPUT_FIELDS } from "../outputs";

/** `memoryMiB` → `memory_mib`; `userData` → `user_data`. */
export function snake(name: string): string {
  // Units are one word: sizeGiB → size_gib, not size_gi_b.
  return name
    .replace(/([KMGT]i)B(?![a-z])/g, "$1b")
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2").toLowerCase();
}

/** A cty type as Terraform's JSON type notation ("string", ["list","number"], ["object",{…}]). */
export type CtyType = string | [string, unknown] | [string, Record<string, unknown>] | [string, Record<string, unknown>, string[]];

interface Json {
  type?: string | string[];
  items?: Json;
  properties?: Record<string, Json>;
  additionalProperties?: Json | boolean;
  anyOf?: Json[];
  oneOf?: Json[];
  enum?: unknown[];
  const?: unknown;
}

/** The cty type of a JSON schema (a union reads as its first member: a bool-or-"true" field is a bool). */
export function ctyOf(js: Json): CtyType {
  const alt = (js.anyOf ?? js.oneOf)?.filter((a) => a.type !== "null");
  // A union of objects (a NIC on a network or in user mode; a disk's source kinds) is one object with
  // every member's attributes: zod, not the type, says which combinations are valid.
  if (alt && alt.length > 1 && alt.every((a) => a.properties)) return ctyOf({ type: "object", properties: Object.assign({}, ...alt.map((a) => a.properties)) });
  if (alt?.length) return ctyOf(alt[0] ?? {});
  const t = Array.isArray(js.type) ? js.type.find((x) => x !== "null") : js.type;
  if (js.enum || js.const !== undefined) return typeof (js.enum?.[0] ?? js.const) === "number" ? "number" : "string";
  switch (t) {
    case "string":
      return "string";
    case "integer":
    case "number":
      return "number";
    case "boolean":
      return "bool";
    case "array":
      return ["list", ctyOf(js.items ?? {})];
    case "object":
      // Every nested attribute is optional in the type (cty's third element): defaults and required ones are zod's to judge.
      if (js.properties) {
        const attrs = Object.fromEntries(Object.entries(js.properties).map(([k, v]) => [snake(k), ctyOf(v)]));
        return ["object", attrs, Object.keys(attrs)];
      }
      return ["map", typeof js.additionalProperties === "object" ? ctyOf(js.additionalProperties) : "string"];
    default:
      return "dynamic";
  }
}

export function fieldJson(f: FieldDef): Json {
  return z.toJSONSchema(f.schema, { unrepresentable: "any", io: "input" }) as Json;
}

export interface TfAttribute {
  name: string;
  /** The table's key (camelCase), to map values back to the SDK. */
  key: string;
  type: CtyType;
  description: string;
  required: boolean;
  optional: boolean;
  computed: boolean;
  sensitive: boolean;
  /** A change replaces the object (the table's effect is `replace`). */
  replaces: boolean;
  /** One of the resource's outputs (provider/outputs.ts): read-only, never an input, read anew from the host. */
  output?: boolean;
  /** Where the object is (its id on the host, the host's id, the route): read-only, decided by the host. */
  placement?: boolean;
}

/** A field of the resource's table: what the user may write and the module takes as input. */
export function isInput(a: TfAttribute): boolean {
  return !a.output && !a.placement;
}

export interface TfSchema {
  attributes: TfAttribute[];
  /** Nested blocks (only `timeouts`). */
  timeouts?: string[];
}

/**
 * The attributes of one table. A field with a default, or one the host fills
 * in, is optional+computed: the plan keeps what the user wrote and shows the
 * rest as known after apply, so a host-normalised value never reads as a diff.
 */
export function attributesOf(t: FieldTable): TfAttribute[] {
  return Object.entries(t).map(([key, f]) => {
    const hostFills = f.default !== undefined || f.defaultDoc !== undefined || f.required === true;
    return {
      name: snake(key),
      key,
      type: ctyOf(fieldJson(f)),
      description: f.doc,
      required: false,
      optional: true,
      computed: hostFills,
      sensitive: f.secret === true,
      replaces: f.effect === "replace",
    };
  });
}

/** A resource's outputs as read-only attributes, typed as the module reports them. */
export function outputAttributes(t: OutputTable): TfAttribute[] {
  return Object.entries(t).map(([key, o]) => ({
    ...computedAttr(snake(key), o.doc, ctyOf(z.toJSONSchema(o.schema, { unrepresentable: "any", io: "output" }) as Json)),
    key,
    output: true,
  }));
}

function computedAttr(name: string, description: string, type: CtyType = "string"): TfAttribute {
  return { name, key: name, type, description, required: false, optional: false, computed: true, sensitive: false, replaces: false };
}

/**
 * What every resource records besides its table: its id on the host and the host's identity (placement.ts).
 * The Pulumi-only inputs of RESOURCE_FIELDS (provider/fields.ts) are left out on purpose: `namePrefix`/`nameSeed`
 * are Pulumi's naming, and the `host` input (a kvm.Host) is how a Pulumi program picks a host. Terraform users
 * pick hosts the Terraform way, with provider aliases (`provider = kvm.other`), so the computed `host` here is
 * only the route the object was last reached by, never an input.
 */
const PLACEMENT: TfAttribute[] = [
  computedAttr("id", "The object's id on the host (`terraform import` takes its name)."),
  computedAttr("host_id", "The id of the host the object is on (from host.hello); another host is another object."),
  computedAttr("host", "The route the host was last reached by, e.g. root@10.0.0.5:22."),
].map((a) => ({ ...a, placement: true }));

export const RESOURCES: Record<string, { table: FieldTable; schema: TfSchema }> = {
  kvm_vm: { table: VM_FIELDS, schema: { attributes: [...PLACEMENT, ...attributesOf(VM_FIELDS), ...outputAttributes(VM_OUTPUT_FIELDS)], timeouts: ["create", "update", "delete"] } },
  kvm_disk: { table: DISK_FIELDS, schema: { attributes: [...PLACEMENT, ...attributesOf(DISK_FIELDS), ...outputAttributes(DISK_OUTPUT_FIELDS)], timeouts: ["create", "update", "delete"] } },
  kvm_network: { table: NETWORK_FIELDS, schema: { attributes: [...PLACEMENT, ...attributesOf(NETWORK_FIELDS), ...outputAttributes(NETWORK_OUTPUT_FIELDS)], timeouts: ["create", "update", "delete"] } },
};

export const DATA_SOURCES: Record<string, TfSchema> = {
  kvm_host: {
    attributes: [
      computedAttr("id", "The host's id (made once by hostd)."),
      computedAttr("accelerator", "The accelerator hostd runs guests with (kvm or tcg)."),
      computedAttr("capabilities", "What this hostd can do (from host.hello).", ["list", "string"]),
      computedAttr("version", "hostd's version."),
      computedAttr("hostname", "The host's name, as the host says it."),
      computedAttr("qemu_version", "The QEMU version hostd runs guests with."),
      computedAttr("cpu_models", "Named QEMU CPU models this host has every feature of (a VM's `cpu_model` moves live between hosts that all list it).", ["list", "string"]),
    ],
  },
};

/** The provider block: the connection settings, the same table as Pulumi's `kvm:*` config. */
export const PROVIDER: TfSchema = { attributes: attributesOf(CONNECTION_FIELDS).map((a) => ({ ...a, computed: false })) };

/** The attribute as tfplugin6's Schema.Attribute (types are JSON bytes). */
function wireAttribute(a: TfAttribute) {
  return {
    name: a.name,
    type: Buffer.from(JSON.stringify(a.type)),
    description: a.description,
    descriptionKind: "MARKDOWN",
    required: a.required,
    optional: a.optional,
    computed: a.computed,
    sensitive: a.sensitive,
  };
}

/** A schema as tfplugin6's Schema message. */
export function wireSchema(s: TfSchema, description = "") {
  const blockTypes = s.timeouts
    ? [
        {
          typeName: "timeouts",
          nesting: "SINGLE",
          block: {
            attributes: s.timeouts.map((n) => ({ name: n, type: Buffer.from('"string"'), optional: true, description: `How long ${n} may take, e.g. "10m" (Go duration).` })),
          },
        },
      ]
    : [];
  return { version: 0, block: { version: 0, description, descriptionKind: "MARKDOWN", attributes: s.attributes.map(wireAttribute), blockTypes } };
}

/** The full object type of a schema, for encoding values (every attribute present, null when unset). */
export function objectType(s: TfSchema): CtyType {
  const attrs: Record<string, unknown> = Object.fromEntries(s.attributes.map((a) => [a.name, a.type]));
  if (s.timeouts) attrs.timeouts = ["object", Object.fromEntries(s.timeouts.map((n) => [n, "string"]))];
  return ["object", attrs];
}
