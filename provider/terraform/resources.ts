/**
 * Terraform's create, read, update, delete and import of kvm_vm, kvm_disk and
 * kvm_network, done by the Pulumi provider's own modules (vm-provider.ts,
 * disk-provider.ts, network-provider.ts): the same check (defaults, the whole
 * spec's rules), the same SDK calls, owners, host-id checks, waits and undo.
 * This file only translates: Terraform state ⇄ the modules' inputs and outputs.
 *
 * The modules' outputs travel as the resource's private state (without the
 * connection, which comes from the provider block on every call), so read,
 * update and delete get exactly what the Pulumi engine would give them.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { HostClient } from "../../sdk/client";
import { isKvmError, KvmError } from "../../sdk/errors";
import { clientFor, ConnectionSettings } from "../connection";
import { hostIdOf } from "../placement";
import { isInput, TfSchema } from "./schema";
import { covers, fromCty, toCty, UNKNOWN, Value } from "./values";

type Obj = Record<string, Value>;

/** One Pulumi resource provider module, as the Terraform face calls it. */
interface Module {
  diff(id: string, olds: never, news: never): Promise<dynamic.DiffResult>;
  check(olds: object, news: Record<string, unknown>): Promise<dynamic.CheckResult>;
  /** `o.signal` stops the VM's waits (vm-provider.ts); the other modules do not wait and ignore it. */
  create(inputs: never, o?: { signal?: AbortSignal }): Promise<dynamic.CreateResult>;
  read(id: string, props: never): Promise<dynamic.ReadResult>;
  update(id: string, olds: never, news: never, o?: { signal?: AbortSignal }): Promise<dynamic.UpdateResult>;
  delete(id: string, props: never, o?: { timeoutMs?: number }): Promise<void>;
}

/** Loaded on first use: a `terraform validate` never pays for the SDK. */
const MODULES: Record<string, { kind: string; load: () => Promise<Module>; get: (c: HostClient, name: string) => Promise<{ id: string; owner: string | null }> }> = {
  kvm_vm: { kind: "VM", load: async () => (await import("../vm-provider")) as unknown as Module, get: (c, n) => c.vm.get(n) },
  kvm_disk: { kind: "Disk", load: async () => (await import("../disk-provider")) as unknown as Module, get: (c, n) => c.disk.get(n) },
  kvm_network: { kind: "Network", load: async () => (await import("../network-provider")) as unknown as Module, get: (c, n) => c.network.get(n) },
};

/**
 * What the Pulumi modules say about a change (their `kvm: …` lines on console.log) is caught per
 * call here, so a plan shows the preview's own sentences; outside a call they go to stderr (cli.ts).
 */
export const said = new AsyncLocalStorage<string[]>();

/** The owner hostd records: the plugin protocol names no resource address or workspace, so the type and the object's name. */
export function terraformOwner(typeName: string, name: string): string {
  return `terraform:${typeName}/${name}`;
}

/** The Pulumi outputs kept in private state (the connection is the provider block's, never stored). */
export function privateOf(outs: Obj): Buffer {
  const { connection: _c, ...rest } = outs;
  return Buffer.from(JSON.stringify(rest));
}

function outputsOf(b: Buffer | undefined | null): Obj | undefined {
  return b && b.length > 0 ? (JSON.parse(b.toString()) as Obj) : undefined;
}

/** What Terraform plans for the table's fields, as the module's inputs (camelCase; unset left out). */
function inputsOf(s: TfSchema, planned: Obj, timeoutMs: number | undefined): Record<string, unknown> {
  const inputs: Record<string, unknown> = {};
  for (const a of s.attributes) {
    if (!isInput(a)) continue;
    const v = planned[a.name];
    if (v === null || v === undefined || v === UNKNOWN) continue;
    inputs[a.key] = fromCty(v, a.type);
  }
  // A `timeouts` block bounds the wait the table's timeoutSeconds bounds.
  if (timeoutMs !== undefined) inputs.timeoutSeconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  return inputs;
}

/**
 * The new state: every value the plan knew stays as planned (Terraform refuses anything else,
 * and it is what the user wrote); the unknown ones are read from the module's outputs.
 */
export function stateOf(s: TfSchema, planned: Obj, id: string, outs: Obj): Obj {
  const state: Obj = { ...planned };
  const placement: Obj = { id, host_id: outs.hostId, host: outs.host };
  for (const a of s.attributes) {
    if (planned[a.name] !== UNKNOWN && planned[a.name] !== undefined) continue;
    state[a.name] = toCty(a.placement ? placement[a.name] : outs[a.key], a.type);
  }
  if (state.timeouts === UNKNOWN || state.timeouts === undefined) state.timeouts = null;
  return state;
}

function userError(what: string, e: unknown): never {
  if (isKvmError(e)) throw new Error(`${what}: ${e.toString()}`);
  throw e;
}

async function checked(m: Module, olds: object, inputs: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await m.check(olds, inputs);
  if (r.failures && r.failures.length > 0) throw new KvmError("invalid_params", r.failures.map((f) => f.reason.replace(/^\[invalid_params\] /, "")).join("; "));
  return r.inputs as Record<string, unknown>;
}

export async function create(typeName: string, s: TfSchema, planned: Obj, connection: ConnectionSettings, timeoutMs?: number, signal?: AbortSignal): Promise<{ state: Obj; private: Buffer }> {
  const m = await MODULES[typeName]!.load();
  const inputs = await checked(m, {}, { ...inputsOf(s, planned, timeoutMs), connection });
  const r = await m.create({ ...inputs, owner: terraformOwner(typeName, String(inputs.name)) } as never, { signal });
  const outs = r.outs as Obj;
  return { state: stateOf(s, planned, r.id, outs), private: privateOf(outs) };
}

export async function update(typeName: string, s: TfSchema, prior: Obj, planned: Obj, priv: Buffer, connection: ConnectionSettings, timeoutMs?: number, signal?: AbortSignal): Promise<{ state: Obj; private: Buffer }> {
  const m = await MODULES[typeName]!.load();
  const olds: Obj = { ...(outputsOf(priv) ?? {}), connection };
  const inputs = await checked(m, olds, { ...inputsOf(s, planned, timeoutMs), connection });
  const id = String(prior.id);
  const r = await m.update(id, olds as never, { ...inputs, owner: olds.owner ?? terraformOwner(typeName, String(inputs.name)) } as never, { signal });
  const outs = r.outs as Obj;
  return { state: stateOf(s, planned, id, outs), private: privateOf(outs) };
}

export async function destroy(typeName: string, prior: Obj, priv: Buffer, connection: ConnectionSettings, timeoutMs?: number): Promise<void> {
  const m = await MODULES[typeName]!.load();
  const props = { ...(outputsOf(priv) ?? {}), connection };
  await m.delete(String(prior.id), props as never, { timeoutMs });
}

/**
 * A refresh: null when the object is gone (Terraform then plans to create it). What the user
 * wrote stays in state while the host agrees with it (the host's normalised form — a default
 * filled in, a MAC chosen — would read as a diff); a value the host has otherwise (drift, say a
 * VM's memory changed with hostd's CLI) is read, so the next plan puts it back. What the host
 * decides (ids, placement, the outputs) is read anew.
 */
export async function read(typeName: string, s: TfSchema, current: Obj, priv: Buffer, connection: ConnectionSettings): Promise<{ state: Obj | null; private: Buffer }> {
  const m = await MODULES[typeName]!.load();
  const props = { ...(outputsOf(priv) ?? {}), connection };
  const r = await m.read(String(current.id), props as never);
  if (!r.id) return { state: null, private: Buffer.alloc(0) };
  const outs = r.props as Obj;
  const known: Obj = { ...current };
  for (const a of s.attributes) {
    if (!isInput(a)) known[a.name] = UNKNOWN;
    else {
      // Secrets the host does not hand back read as null there: only a value the host states can drift.
      const host = toCty(outs[a.key], a.type);
      if (host !== null && !covers(current[a.name], host)) known[a.name] = host;
    }
  }
  return { state: stateOf(s, known, r.id, outs), private: privateOf(outs) };
}

/**
 * `terraform import kvm_vm.x <name>`: the object must exist on the provider's host; its
 * whole state is what the module reads (the spec as the host has it).
 */
export async function importState(typeName: string, s: TfSchema, name: string, connection: ConnectionSettings): Promise<{ state: Obj; private: Buffer }> {
  const mod = MODULES[typeName]!;
  const client = clientFor(connection, 60_000);
  let found: { id: string; owner: string | null };
  try {
    found = await mod.get(client, name);
  } catch (e) {
    if (isKvmError(e, "not_found")) {
      throw new KvmError("not_found", `There is no ${mod.kind} named "${name}" on ${client.transport.target}: nothing was imported. Give the name hostd knows it by (\`hostd ${mod.kind.toLowerCase()} list\` on the host).`);
    }
    userError(`importing ${typeName} "${name}"`, e);
  }
  const hostId = await hostIdOf(client);
  const m = await mod.load();
  const r = await m.read(found.id, { name, hostId, connection } as never);
  if (!r.id) throw new KvmError("not_found", `${mod.kind} "${name}" vanished while it was imported: nothing was imported.`);
  // Deletes name the owner hostd has (none for an object made by hand): an imported object stays its maker's.
  const outs = { ...(r.props as Obj), owner: found.owner ?? undefined };
  const unknowns: Obj = Object.fromEntries([...s.attributes.map((a) => [a.name, UNKNOWN] as const), ["timeouts", null]]);
  return { state: stateOf(s, unknowns, r.id, outs), private: privateOf(outs) };
}

/**
 * What the change does, in the Pulumi preview's words: the module's diff (which also checks that
 * the host is reachable and is the one the state says) run on the planned values.
 */
export async function explain(typeName: string, s: TfSchema, prior: Obj, planned: Obj, priv: Buffer, connection: ConnectionSettings): Promise<string[]> {
  const m = await MODULES[typeName]!.load();
  const olds: Obj = { ...(outputsOf(priv) ?? {}), connection };
  const lines: string[] = [];
  await said.run(lines, async () => {
    const news = await checked(m, olds, { ...inputsOf(s, planned, undefined), connection });
    await m.diff(String(prior.id), olds as never, news as never);
  });
  return lines.map((l) => l.replace(/^kvm: /, ""));
}
