/**
 * The tfplugin6 Provider service: schema, validation and planning read the
 * field tables (schema.ts); calls to hosts go through the same SDK client and
 * connection settings as the Pulumi provider (provider/connection.ts).
 */
import * as grpc from "@grpc/grpc-js";
import { z } from "zod";
import { isKvmError } from "../../sdk/errors";
import { ConnectionSettings } from "../connection";
import { CONNECTION_FIELDS } from "../connection";
import { CtyType, DATA_SOURCES, isInput, objectType, PROVIDER, RESOURCES, snake, TfSchema, wireSchema } from "./schema";
import { covers, decodeValue, encodeValue, fromCty, hasUnknown, UNKNOWN, Value } from "./values";
export { covers, fromCty, toCty } from "./values";

type Obj = Record<string, Value>;
type Step = { attributeName?: string; elementKeyString?: string; elementKeyInt?: number };
interface Diagnostic {
  severity: "ERROR" | "WARNING";
  summary: string;
  detail?: string;
  attribute?: { steps: Step[] };
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
    // A null object (no prior state on create, no planned state on delete) comes as msgpack nil.
    const objOrNull = (d: DV): Obj | null => {
      const v = val(d);
      return Object.keys(v).length > 0 ? v : null;
    };
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
      PlanResourceChange: unary(async (req: { typeName: string; priorState: DV; proposedNewState: DV; config: DV; priorPrivate: Buffer }) => {
        const r = RESOURCES[req.typeName];
        const proposed = val(req.proposedNewState);
        const prior = objOrNull(req.priorState);
        if (!r || Object.keys(proposed).length === 0) return { plannedState: req.proposedNewState, diagnostics: [] };
        const plan = planChange(r.schema, prior, proposed, val(req.config));
        const planned = decodeValue(plan.plannedState.msgpack) as Obj;
        const diagnostics: Diagnostic[] = [];
        // A change to a known object: say what it does as the Pulumi preview does (restart, hot-plug, grow, data lost).
        const table = r.schema.attributes.filter(isInput);
        if (prior && table.some((a) => JSON.stringify(planned[a.name]) !== JSON.stringify(prior[a.name])) && !table.some((a) => planned[a.name] !== UNKNOWN && hasUnknown(planned[a.name]))) {
          try {
            const lines = await (await import("./resources")).explain(req.typeName, r.schema, prior, planned, req.priorPrivate, this.settings);
            diagnostics.push(...lines.map((l) => ({ severity: "WARNING" as const, summary: l })));
          } catch (e) {
            diagnostics.push(errorDiag(`Cannot plan ${req.typeName} "${String(prior.name)}"`, messageOf(e)));
          }
        }
        return { ...plan, plannedPrivate: req.priorPrivate, diagnostics };
      }),
      ApplyResourceChange: unary(async (req: { typeName: string; priorState: DV; plannedState: DV; config: DV; plannedPrivate: Buffer }) => {
        const r = RESOURCES[req.typeName];
        if (!r) return { diagnostics: [errorDiag(`Unknown resource type ${req.typeName}`, `This provider has ${resourceNames.join(", ")}.`)] };
        const prior = objOrNull(req.priorState);
        const planned = objOrNull(req.plannedState);
        const tf = await import("./resources");
        const what = `${!planned ? "deleting" : !prior ? "creating" : "updating"} ${req.typeName}${planned?.name ?? prior?.name ? ` "${String(planned?.name ?? prior?.name)}"` : ""}`;
        try {
          if (!planned) {
            await tf.destroy(req.typeName, prior ?? {}, req.plannedPrivate, this.settings, prior ? timeoutOf(prior, "delete") : undefined);
            return { newState: dv(null), diagnostics: [] };
          }
          const timeout = timeoutOf(planned, prior ? "update" : "create");
          const signal = this.stopping.signal;
          const out = prior
            ? await tf.update(req.typeName, r.schema, prior, planned, req.plannedPrivate, this.settings, timeout, signal)
            : await tf.create(req.typeName, r.schema, planned, this.settings, timeout, signal);
          return { newState: dv(out.state), private: out.private, diagnostics: [] };
        } catch (e) {
          return { newState: prior ? req.priorState : dv(null), diagnostics: [errorDiag(`Error ${what}`, messageOf(e))] };
        }
      }),
      ReadResource: unary(async (req: { typeName: string; currentState: DV; private: Buffer }) => {
        const r = RESOURCES[req.typeName];
        const current = val(req.currentState);
        if (!r || Object.keys(current).length === 0) return { newState: req.currentState, private: req.private, diagnostics: [] };
        try {
          const out = await (await import("./resources")).read(req.typeName, r.schema, current, req.private, this.settings);
          return { newState: dv(out.state), private: out.private, diagnostics: [] };
        } catch (e) {
          return { newState: req.currentState, private: req.private, diagnostics: [errorDiag(`Error reading ${req.typeName} "${String(current.name)}"`, messageOf(e))] };
        }
      }),
      ImportResourceState: unary(async (req: { typeName: string; id: string }) => {
        const r = RESOURCES[req.typeName];
        if (!r) return { diagnostics: [errorDiag(`Unknown resource type ${req.typeName}`, `This provider has ${resourceNames.join(", ")}.`)] };
        try {
          const out = await (await import("./resources")).importState(req.typeName, r.schema, req.id, this.settings);
          return { importedResources: [{ typeName: req.typeName, state: dv(out.state), private: out.private }], diagnostics: [] };
        } catch (e) {
          return { diagnostics: [errorDiag(`Cannot import ${req.typeName} "${req.id}"`, messageOf(e))] };
        }
      }),
      ReadDataSource: unary(async (req: { typeName: string }) => {
        if (req.typeName !== "kvm_host") return { diagnostics: [errorDiag(`Unknown data source ${req.typeName}`, `This provider has ${dataNames.join(", ")}.`)] };
        try {
          // host.hello through the provider block's connection: the host's id, accelerator and what it can do.
          const h = await (await import("../connection")).clientFor(this.settings, 60_000).helloOnce();
          return { state: dv({ id: h.hostId, accelerator: h.accelerator.kind, capabilities: h.capabilities, version: h.hostdVersion, hostname: h.hostname, qemu_version: h.qemuVersion, cpu_models: h.cpu?.models ?? [] }), diagnostics: [] };
        } catch (e) {
          return { diagnostics: [errorDiag("Error reading kvm_host", messageOf(e))] };
        }
      }),
      StopProvider: unary(() => {
        this.stop();
        return { Error: "" };
      }),
    };
  }
}

/** An error in the words the Pulumi face uses: `[code] sentence`. */
function messageOf(e: unknown): string {
  return isKvmError(e) ? e.toString() : e instanceof Error ? e.message : String(e);
}

/** The `timeouts` block's bound for this operation, in ms (undefined: the table's timeoutSeconds). */
function timeoutOf(planned: Obj, op: "create" | "update" | "delete"): number | undefined {
  const t = planned.timeouts as Obj | null | undefined;
  const v = t?.[op];
  return typeof v === "string" ? parseDuration(v) : undefined;
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
 * The plan: what the user wrote is kept, unless the prior state already says it (with the
 * host's defaults filled in: then the prior value stands, so a normalised value never reads
 * as a diff); a computed attribute the user left out keeps its prior value, or is unknown
 * when the object is new or replaced; a change to a `replace` field lists it in requires_replace.
 * The outputs (a VM's state, pid, addresses, …) are what the host reports after the change, so any
 * change plans them unknown; with nothing to change they keep their prior values.
 */
export function planChange(s: TfSchema, prior: Obj | null, proposed: Obj, config: Obj): { plannedState: { msgpack: Buffer }; requiresReplace: { steps: Step[] }[] } {
  const given = (a: { name: string }) => config[a.name] !== null && config[a.name] !== undefined;
  const replace = prior ? s.attributes.filter((a) => a.replaces && given(a) && !covers(config[a.name], prior[a.name])) : [];
  const fresh = prior === null || replace.length > 0;
  const planned: Obj = { ...proposed };
  for (const a of s.attributes) {
    if (a.output) continue;
    if (given(a)) {
      if (prior && covers(config[a.name], prior[a.name])) planned[a.name] = prior[a.name];
    } else if (a.computed) planned[a.name] = fresh ? UNKNOWN : prior![a.name];
  }
  const changing = fresh || s.attributes.some((a) => isInput(a) && JSON.stringify(planned[a.name]) !== JSON.stringify(prior![a.name]));
  for (const a of s.attributes.filter((x) => x.output)) planned[a.name] = changing ? UNKNOWN : prior![a.name];
  return { plannedState: { msgpack: encodeValue(planned) }, requiresReplace: replace.map((a) => ({ steps: [{ attributeName: a.name }] })) };
}
