/**
 * Host-key checking in OpenSSH's terms: a `known_hosts` file (plain or
 * hashed host names, `[host]:port` for other ports, wildcards, `!negation`,
 * `@revoked`) or an expected `SHA256:` fingerprint.
 */
import { createHash, createHmac } from "node:crypto";

/** OpenSSH-style fingerprint of a raw public key blob: `SHA256:<base64 without padding>`. */
export function fingerprintOf(keyBlob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "");
}

/** The key type named at the start of an SSH public key blob (e.g. `ssh-ed25519`). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return "unknown";
  const len = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + len).toString("latin1");
}

/** The name OpenSSH looks a host up by: `host`, or `[host]:port` when port is not 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export type HostKeyVerdict =
  | { ok: true }
  | { ok: false; reason: "unknown" | "mismatch" | "revoked" };

interface Entry {
  marker: "" | "@revoked" | "@cert-authority";
  patterns: string;
  keyType: string;
  key: Buffer;
}

function parse(content: string): Entry[] {
  const out: Entry[] = [];
  for (const raw of content.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    let marker: Entry["marker"] = "";
    if (fields[0] === "@revoked" || fields[0] === "@cert-authority") {
      marker = fields.shift() as Entry["marker"];
    }
    const [patterns, keyType, b64] = fields;
    if (!patterns || !keyType || !b64) continue;
    out.push({ marker, patterns, keyType, key: Buffer.from(b64, "base64") });
  }
  return out;
}

function globToRegExp(glob: string): RegExp {
  const esc = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${esc}$`, "i");
}

/** Does the comma-separated pattern list (or hashed name) match this host name? */
function matches(patterns: string, name: string): boolean {
  if (patterns.startsWith("|1|")) {
    const [, , salt, hash] = patterns.split("|");
    if (!salt || !hash) return false;
    const mac = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return mac === hash;
  }
  let matched = false;
  for (const p of patterns.split(",")) {
    if (p.startsWith("!")) {
      if (globToRegExp(p.slice(1)).test(name)) return false;
    } else if (globToRegExp(p).test(name)) {
      matched = true;
    }
  }
  return matched;
}

/**
 * Checks a presented host key against known_hosts content. A host with
 * entries none of which is this key counts as a changed key ("mismatch"),
 * whatever the key types, which is stricter than OpenSSH on purpose: an
 * unattended pipeline has no one to ask.
 */
export function checkKnownHosts(content: string, host: string, port: number, keyBlob: Buffer): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const entries = parse(content).filter((e) => matches(e.patterns, name));
  if (entries.some((e) => e.marker === "@revoked" && e.key.equals(keyBlob))) return { ok: false, reason: "revoked" };
  const plain = entries.filter((e) => e.marker === "");
  if (plain.some((e) => e.key.equals(keyBlob))) return { ok: true };
  return { ok: false, reason: plain.length > 0 ? "mismatch" : "unknown" };
}
