/**
 * What every resource provider of pulumi-kvm shares: the stack's connection
 * settings (from `configure`), preview-time tolerance of unknown values,
 * generated names, and turning errors into the CLI's `[code] message`.
 */
import { createHash, randomBytes } from "node:crypto";
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { z } from "zod";
import { isKvmError, KvmError } from "../sdk/errors";
import { stableJson } from "../sdk/protocol/fields";
import { CONFIG_KEYS, ConnectionSettings, HostRef } from "./connection";

/** What the Terraform face adds to a call (Pulumi passes none): a signal that stops the waits (StopProvider), a bound from `timeouts { delete }`. */
export interface CallOptions {
  signal?: AbortSignal;
  /** Bound on a delete's call to hostd, ms. */
  timeoutMs?: number;
}

/** What Pulumi sends as a value that is not known yet during preview. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Stack config, set by `configure`. Module state is safe: provider modules are required, not serialized. */
let stackConnection: ConnectionSettings = {};

/** The `configure` of every provider module: reads `kvm:*` stack config. */
export async function configureFromStack(req: dynamic.ConfigureRequest): Promise<void> {
  const raw: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    const v = req.config.get(`kvm:${key}`);
    if (v === undefined) continue;
    raw[key] = key === "dialCommand" ? safeJson(v) : v;
  }
  const parsed = ConnectionSettings.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`[invalid_params] stack config kvm:*: ${z.prettifyError(parsed.error)}`);
  }
  stackConnection = parsed.data;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/**
 * How to reach a resource's host: its `host` (a kvm.Host's connection, whole) or else the
 * stack config, overridden field by field by the resource's own `connection`. Inputs name the
 * host as `host`; outputs keep it as `hostRef` (their `host` is the route's display string).
 */
export function settingsFor(x: { connection?: ConnectionSettings; host?: unknown; hostRef?: HostRef }): ConnectionSettings {
  const ref = hostRefOf(x);
  return { ...(ref ? ref.connection : stackConnection), ...(x.connection ?? {}) };
}

/** The kvm.Host a resource names: `host` in inputs, `hostRef` in outputs; undefined for the stack's default host. */
export function hostRefOf(x: { host?: unknown; hostRef?: HostRef }): HostRef | undefined {
  if (x.host !== null && typeof x.host === "object") return x.host as HostRef;
  return x.hostRef;
}

export function hasUnknown(v: unknown): boolean {
  if (v === UNKNOWN) return true;
  if (Array.isArray(v)) return v.some(hasUnknown);
  if (v && typeof v === "object") return Object.values(v).some(hasUnknown);
  return false;
}

/** Drops properties that are unknown during preview, so the rest can still be validated. */
export function withoutUnknowns(v: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(v).filter(([, x]) => !hasUnknown(x)));
}

/**
 * An auto-generated name: `<prefix>-<7 hex>`. With a seed (the resource's
 * project, stack and name) the suffix is derived from it, so a create that
 * was interrupted and is run again asks hostd for the same name and gets the
 * object made the first time instead of an orphan and a twin.
 */
export function autoName(prefix: string | undefined, fallback: string, seed?: string): string {
  const base =
    (prefix ?? fallback)
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 55) || fallback;
  const suffix = seed ? createHash("sha256").update(`${seed}\0${base}`).digest("hex") : randomBytes(4).toString("hex");
  return `${base}-${suffix.slice(0, 7)}`;
}

/** The name to use: given, kept from the last run, or generated (from `nameSeed` when there is one). */
export function nameFor(olds: { name?: string; namePrefix?: string }, news: Record<string, unknown>, fallback: string): string {
  if (typeof news.name === "string") return news.name;
  if (olds.name !== undefined && olds.namePrefix === news.namePrefix) return olds.name;
  return autoName(news.namePrefix as string | undefined, fallback, typeof news.nameSeed === "string" ? news.nameSeed : undefined);
}

/**
 * The inputs with the resource's identity settled: its name (given, kept, or
 * generated) and its name seed, which is also the owner hostd records
 * (see placement.ts `ownerOf`) and so stays the resource's for its life:
 * a resource renamed in the program keeps owning what it made.
 */
export function identified(olds: { name?: string; namePrefix?: string; nameSeed?: string }, news: Record<string, unknown>, fallback: string): Record<string, unknown> {
  return { ...news, name: nameFor(olds, news, fallback), ...(olds.nameSeed !== undefined && { nameSeed: olds.nameSeed }) };
}

/** Inputs every resource class adds: the seed of its generated name (`<project>/<stack>/<type>/<name>`). */
export const NameSeed = z.string().max(512);

/** zod issues as Pulumi check failures: `[invalid_params] path: message`. */
export function failuresOf(error: z.ZodError, prefix: string[] = []): dynamic.CheckFailure[] {
  return error.issues.flatMap((i) => {
    const at = [...prefix, ...i.path.map(String)];
    // An unknown input is named, so a typo (or a field of a newer version) never silently does nothing.
    if (i.code === "unrecognized_keys") {
      return i.keys.map((k) => {
        const p = [...at, k].join(".");
        return { property: p, reason: `[invalid_params] ${p}: is not an input of this resource (misspelt, or from a newer pulumi-kvm?)` };
      });
    }
    const p = at.join(".");
    return [{ property: p || "(resource)", reason: `[invalid_params] ${p ? p + ": " : ""}${i.message}` }];
  });
}

/** Strips Pulumi's serialized provider reference, which rides along with the inputs. */
export function ownInputs(news: Record<string, unknown>): Record<string, unknown> {
  const { __provider: _provider, ...rest } = news;
  return rest;
}

/** Equal as values: key order and undefined-versus-absent do not count. */
export function same(a: unknown, b: unknown): boolean {
  return stableJson(a ?? null) === stableJson(b ?? null);
}

/** Errors reach the user through the CLI as `what: [code] message (hostd request id)`. */
export async function withUserErrors<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isKvmError(e)) throw new Error(`${what}: ${e.toString()}`);
    throw e;
  }
}

/**
 * The inputs a read records in place of the last ones, from its outputs (which carry every input):
 * the table's fields and the provider's naming and connection settings. Dynamic providers give the
 * engine no detailed diff, so `preview --diff` shows recorded against declared inputs; a read that
 * finds the host changed (a VM found stopped, a Disk grown there) records that, and the next
 * preview shows it, and check() compares with it.
 */
export function inputsFromOutputs(table: Record<string, unknown>, outs: object): Record<string, unknown> {
  const own = new Set<string>([...Object.keys(table), "namePrefix", "nameSeed", "connection"]);
  return Object.fromEntries(Object.entries(outs).filter(([k]) => own.has(k)));
}

/**
 * Removes `undefined` (deeply): Pulumi serializes outputs as a protobuf Struct,
 * which rejects undefined values ("Unexpected struct type").
 */
export function definedOnly<T>(v: T): T {
  if (Array.isArray(v)) return v.map(definedOnly) as T;
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, definedOnly(x)]),
    ) as T;
  }
  return v;
}

/**
 * The object on the host if it is still the one this stack created (same id);
 * undefined when it is gone or a namesake replaced it, so refresh drops it.
 */
export async function ownedOrGone<T extends { id: string }>(id: string, get: () => Promise<T>): Promise<T | undefined> {
  let found: T;
  try {
    found = await get();
  } catch (e) {
    if (isKvmError(e, "not_found")) return undefined;
    throw e;
  }
  return found.id === id ? found : undefined;
}

/** Like `ownedOrGone`, but a missing or foreign object is an error: an update must not touch a namesake. */
export async function mustOwn<T extends { id: string }>(kind: string, name: string, id: string, get: () => Promise<T>): Promise<T> {
  const found = await get();
  if (found.id !== id) {
    throw new KvmError("not_found", `${kind} "${name}" on the host is not the one in this stack (id ${found.id}, expected ${id}). Run \`pulumi refresh\`.`);
  }
  return found;
}
