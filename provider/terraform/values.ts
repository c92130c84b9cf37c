/**
 * Terraform's values on the wire: cty values in msgpack. An unknown value
 * is msgpack extension 0; a refined unknown (known prefix or nullness) is
 * extension 12. Both decode to UNKNOWN; the provider writes plain unknowns.
 */
import { decode, encode, ExtensionCodec } from "@msgpack/msgpack";

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
