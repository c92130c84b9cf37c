/**
 * Terraform's values on the wire: cty values in msgpack. An unknown value
 * is msgpack extension 0; a refined unknown (known prefix or nullness) is
 * extension 12. Both decode to UNKNOWN; the provider writes plain unknowns.
 */
import { decode, encode, ExtensionCodec } from "@msgpack/msgpack";
import { CtyType, snake } from "./schema";

type Obj = Record<string, Value>;

/** The marker for a value not known until apply. */
export const UNKNOWN: unique symbol = Symbol("unknown");
export type Value = unknown;

const codec = new ExtensionCodec();
// A value marked unknown is written as extension 0 with a zero byte, as cty does.
codec.register({
  type: 0,
  encode: (v) => (v === UNKNOWN ? new Uint8Array([0]) : null),
  decode: () => UNKNOWN,
});
codec.register({ type: 12, encode: () => null, decode: () => UNKNOWN });

export function decodeValue(b: Uint8Array | undefined | null): Value {
  if (!b || b.length === 0) return null;
  return decode(b, { extensionCodec: codec, useBigInt64: false });
}

export function encodeValue(v: Value): Buffer {
  return Buffer.from(encode(v, { extensionCodec: codec, ignoreUndefined: false }));
}

export function hasUnknown(v: Value): boolean {
  if (v === UNKNOWN) return true;
  if (Array.isArray(v)) return v.some(hasUnknown);
  if (v && typeof v === "object") return Object.values(v).some(hasUnknown);
  return false;
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


/** True when every value the config gives is the prior one: a null inside it leaves the host's choice (a default, a MAC) standing. */
export function covers(config: Value, prior: Value): boolean {
  if (config === null || config === undefined) return true;
  if (config === UNKNOWN || prior === UNKNOWN) return false;
  if (Array.isArray(config)) return Array.isArray(prior) && prior.length === config.length && config.every((c, i) => covers(c, prior[i]));
  if (typeof config === "object") return prior !== null && typeof prior === "object" && Object.entries(config as Obj).every(([k, v]) => covers(v, (prior as Obj)[k]));
  return config === prior;
}

