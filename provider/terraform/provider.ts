/**
 * The tfplugin6 Provider service: schema, validation and planning read the
 * field tables (schema.ts); calls to hosts go through the same SDK client and
 * connection settings as the Pulumi provider (provider/connection.ts).
 */
import * as grpc from "@grpc/grpc-js";
import { z } from "zod";
import { ConnectionSettings } from "../connection";
import { CONNECTION_FIELDS } from "../connection";
import { CtyType, DATA_SOURCES, objectType, PROVIDER, RESOURCES, snake, TfSchema, wireSchema } from "./schema";
import { decodeValue, encodeValue, hasUnknown, UNKNOWN, Value } from "./values";

type Obj = Record<string, Value>;
type Step = { attributeName?: string; elementKeyString?: string; elementKeyInt?: number };
interface Diagnostic {
  severity: "ERROR" | "WARNING";
  summary: string;
  detail?: string;
  attribute?: { steps: Step[] };
}

/** A cty value (snake_case object keys, guided by the type) → the table's value (camelCase keys). */
export function fromCty(v: Value, t: CtyType): Value {
  if (v === null || v === undefined || v === UNKNOWN) return v === null ? undefined : v;
  if (Array.isArray(t) && t[0] === "object" && typeof v === "object") {
    const attrs = t[1] as Record<string, CtyType>;
    const out: Obj = {};
    for (const [k, val] of Object.entries(v as Obj)) {
      const c = fromCty(val, attrs[k] ?? "dynamic");
      if (c !== undefined) out[k.replace(/_([a-z0-9])/g, (_m, ch: string) => ch.toUpperCase())] = c;
    }
    return out;
  }
  if (Array.isArray(t) && t[0] === "list" && Array.isArray(v)) return v.map((x) => fromCty(x, t[1] as CtyType));
  if (Array.isArray(t) && t[0] === "map" && typeof v === "object") return Object.fromEntries(Object.entries(v as Obj).map(([k, x]) => [k, fromCty(x, t[1] as CtyType)]));
  return v;
}

/** A table value → cty (every attribute of an object present, null when unset). */
export function toCty(v: Value, t: CtyType): Value {
  if (v === undefined || v === null) return null;
  if (v === UNKNOWN) return v;
  if (Array.isArray(t) && t[0] === "object") {
    const attrs = t[1] as Record<string, CtyType>;
    const src = v as Obj;
    const byKey = new Map(Object.entries(src).map(([k, x]) => [snake(k), x]));
    return Object.fromEntries(Object.entries(attrs).map(([k, at]) => [k, toCty(byKey.get(k), at)]));
  }
  if (Array.isArray(t) && t[0] === "list" && Array.isArray(v)) return v.map((x) => toCty(x, t[1] as CtyType));
  if (Array.isArray(t) && t[0] === "map") return Object.fromEntries(Object.entries(v as Obj).map(([k, x]) => [k, toCty(x, t[1] as CtyType)]));
  return v;
}

/** zod issues → diagnostics that point at the attribute (snake_case path, list indexes as element keys). */
export function diagnosticsOf(e: z.ZodError, prefix: string[] = []): Diagnostic[] {
  return e.issues.map((i) => {
    const names = [...prefix, ...i.path.map(String)];
    const steps: Step[] = [...prefix.map((p) => ({ attributeName: p })), ...i.path.map((p) => (typeof p === "number" ? { elementKeyInt: p } : { attributeName: snake(String(p)) }))];
    return { severity: "ERROR", summary: `Invalid ${names.map((n) => (/^\d+$/.test(n) ? `[${n}]` : snake(n))).join(".")}`, detail: i.message, attribute: { steps } };
  });
}

function errorDiag(summary: string, detail: string): Diagnostic {
  return { severity: "ERROR", summary, detail };
}

function schemaOf(typeName: string): TfSchema | undefined {
  return RESOURCES[typeName]?.schema ?? DATA_SOURCES[typeName];
}

/** Validates the known values of a config against each field's own schema (unknowns wait for apply). */
export function validateFields(s: TfSchema, table: Record<string, { schema: z.ZodType }>, config: Obj): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const a of s.attributes) {
    const f = table[a.key];
    const v = config[a.name];
    if (!f || v === null || v === undefined || hasUnknown(v)) continue;
    const r = f.schema.safeParse(fromCty(v, a.type));
    if (!r.success) out.push(...diagnosticsOf(r.error, [a.name]));
  }
  return out;
}

export class KvmTerraformProvider {
  private settings: ConnectionSettings = {};
  /** Aborted by StopProvider: every wait on a host listens to it. */
  readonly stopping = new AbortController();

  stop(): void {
    this.stopping.abort();
  }

  handlers(): grpc.UntypedServiceImplementation {
    const unary =
      <Req, Res>(fn: (req: Req) => Res | Promise<Res>) =>
      (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
        Promise.resolve()
          .then(() => fn(call.request))
          .then(
            (r) => cb(null, r),
            (e: unknown) => cb(null, { diagnostics: [errorDiag("terraform-provider-kvm failed", (e as Error).message)] } as Res),
          );
      };
    const dv = (v: Value) => ({ msgpack: encodeValue(v) });
    type DV = { msgpack?: Buffer; json?: Buffer } | null;
    const val = (d: DV): Obj => ((d?.msgpack?.length ? decodeValue(d.msgpack) : d?.json?.length ? JSON.parse(d.json.toString()) : null) ?? {}) as Obj;
    const resourceNames = Object.keys(RESOURCES);
    const dataNames = Object.keys(DATA_SOURCES);

    return {
      GetMetadata: unary(() => ({
        serverCapabilities: { planDestroy: false, getProviderSchemaOptional: true },
        resources: resourceNames.map((typeName) => ({ typeName })),
        dataSources: dataNames.map((typeName) => ({ typeName })),
        diagnostics: [],
      })),
      GetProviderSchema: unary(() => ({
        provider: wireSchema(PROVIDER, "How to reach hostd: the same settings as Pulumi's `kvm:*` config."),
        resourceSchemas: Object.fromEntries(Object.entries(RESOURCES).map(([n, r]) => [n, wireSchema(r.schema)])),
        dataSourceSchemas: Object.fromEntries(Object.entries(DATA_SOURCES).map(([n, d]) => [n, wireSchema(d)])),
        serverCapabilities: { planDestroy: false, getProviderSchemaOptional: true },
        diagnostics: [],
      })),
      ValidateProviderConfig: unary((req: { config: DV }) => ({ diagnostics: validateFields(PROVIDER, CONNECTION_FIELDS, val(req.config)) })),
      ConfigureProvider: unary((req: { config: DV }) => {
        const cfg = fromCty(val(req.config), objectType(PROVIDER)) as Obj;
        const r = ConnectionSettings.safeParse(cfg);
        if (!r.success) return { diagnostics: diagnosticsOf(r.error) };
        this.settings = r.data;
        return { diagnostics: [] };
      }),
      ValidateResourceConfig: unary((req: { typeName: string; config: DV }) => {
        const r = RESOURCES[req.typeName];
        if (!r) return { diagnostics: [errorDiag(`Unknown resource type ${req.typeName}`, `This provider has ${resourceNames.join(", ")}.`)] };
        return { diagnostics: [...validateFields(r.schema, r.table, val(req.config)), ...validateTimeouts(val(req.config))] };
      }),
      ValidateDataResourceConfig: unary(() => ({ diagnostics: [] })),
      UpgradeResourceState: unary((req: { typeName: string; rawState: { json?: Buffer } }) => {
        const s = schemaOf(req.typeName);
        const raw = req.rawState?.json?.length ? (JSON.parse(req.rawState.json.toString()) as Obj) : {};
        if (!s) return { diagnostics: [errorDiag(`Unknown resource type ${req.typeName}`, "")] };
        // Version 0 is the only schema version: fill attributes a newer table added with null.
        const t = objectType(s) as [string, Record<string, unknown>];
        return { upgradedState: dv(Object.fromEntries(Object.keys(t[1]).map((k) => [k, raw[k] ?? null]))), diagnostics: [] };
      }),
      PlanResourceChange: unary((req: { typeName: string; priorState: DV; proposedNewState: DV; config: DV; priorPrivate: Buffer }) => {
        const r = RESOURCES[req.typeName];
        const proposed = val(req.proposedNewState);
        const prior = req.priorState?.msgpack?.length ? val(req.priorState) : null;
        if (!r || Object.keys(proposed).length === 0) return { plannedState: req.proposedNewState, diagnostics: [] };
        return { ...planChange(r.schema, prior, proposed, val(req.config)), plannedPrivate: req.priorPrivate, diagnostics: [] };
      }),
      StopProvider: unary(() => {
        this.stop();
        return { Error: "" };
      }),
    };
  }
}

/** `timeouts { create = "10s" }`: Go durations (`1h2m3s`, `500ms`). */
export function parseDuration(s: string): number | undefined {
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/.exec(s);
  if (!m || s === "") return undefined;
  const [h, mi, se, ms] = [m[1], m[2], m[3], m[4]].map((x) => (x === undefined ? 0 : Number(x))) as [number, number, number, number];
  return ((h * 60 + mi) * 60 + se) * 1000 + ms;
}

function validateTimeouts(config: Obj): Diagnostic[] {
  const t = config.timeouts as Obj | null | undefined;
  if (!t) return [];
  return Object.entries(t)
    .filter(([, v]) => typeof v === "string" && parseDuration(v) === undefined)
    .map(([k, v]) => ({ severity: "ERROR", summary: `Invalid timeouts.${k}`, detail: `"${String(v)}" is not a duration: write e.g. "30s", "10m" or "1h30m".`, attribute: { steps: [{ attributeName: "timeouts" }, { attributeName: k }] } }));
}

/**
 * The plan: what the user wrote is kept; a computed attribute the user left
 * out keeps its prior value (the host's, so a normalised value never reads
 * as a diff) or is unknown when the object is new or replaced; a change to
 * a `replace` field lists that attribute in requires_replace.
 */
export function planChange(s: TfSchema, prior: Obj | null, proposed: Obj, config: Obj): { plannedState: { msgpack: Buffer }; requiresReplace: { steps: Step[] }[] } {
  const replace = prior
    ? s.attributes.filter((a) => a.replaces && config[a.name] !== null && config[a.name] !== undefined && JSON.stringify(config[a.name]) !== JSON.stringify(prior[a.name]))
    : [];
  const fresh = prior === null || replace.length > 0;
  const planned: Obj = { ...proposed };
  const spec = s.attributes.filter((a) => a.key !== a.name || !["id", "host_id", "host"].includes(a.name));
  const anyChange = prior !== null && spec.some((a) => a.optional && config[a.name] !== null && config[a.name] !== undefined && JSON.stringify(config[a.name]) !== JSON.stringify(prior[a.name]));
  for (const a of s.attributes) {
    if (!a.computed || (config[a.name] !== null && config[a.name] !== undefined)) continue;
    if (fresh) planned[a.name] = UNKNOWN;
    else if (prior) planned[a.name] = prior[a.name];
  }
  // The route (`host`) is recorded again by an update; everything else computed stays.
  if (anyChange && !fresh && prior) planned.host = prior.host;
  return { plannedState: { msgpack: encodeValue(planned) }, requiresReplace: replace.map((a) => ({ steps: [{ attributeName: a.name }] })) };
}
