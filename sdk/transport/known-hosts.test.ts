import { createHmac, generateKeyPairSync } from "node:crypto";
import { checkKnownHosts, fingerprintOf, keyTypeOf, knownHostsName } from "./known-hosts";

/** An ssh-ed25519 public key blob (string "ssh-ed25519" + 32-byte key). */
function ed25519Blob(): Buffer {
  const { publicKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const type = Buffer.from("ssh-ed25519");
  const b = Buffer.alloc(4 + type.length + 4 + raw.length);
  b.writeUInt32BE(type.length, 0);
  type.copy(b, 4);
  b.writeUInt32BE(raw.length, 4 + type.length);
  raw.copy(b, 8 + type.length);
  return b;
}

const key = ed25519Blob();
const other = ed25519Blob();
const line = (host: string, k: Buffer) => `${host} ssh-ed25519 ${k.toString("base64")}`;

test("fingerprint and type in OpenSSH form", () => {
  expect(fingerprintOf(key)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  expect(keyTypeOf(key)).toBe("ssh-ed25519");
});

test("host names: port 22 plain, other ports bracketed", () => {
  expect(knownHostsName("h", 22)).toBe("h");
  expect(knownHostsName("10.0.0.1", 2222)).toBe("[10.0.0.1]:2222");
});

test("known, unknown and changed keys", () => {
  const kh = `# comment\n${line("[127.0.0.1]:2222", key)}\n${line("other.example", other)}\n`;
  expect(checkKnownHosts(kh, "127.0.0.1", 2222, key)).toEqual({ ok: true });
  expect(checkKnownHosts(kh, "127.0.0.1", 22, key)).toEqual({ ok: false, reason: "unknown" });
  expect(checkKnownHosts(kh, "127.0.0.1", 2222, other)).toEqual({ ok: false, reason: "mismatch" });
  expect(checkKnownHosts("", "127.0.0.1", 2222, key)).toEqual({ ok: false, reason: "unknown" });
});

test("comma lists, wildcards and negation", () => {
  expect(checkKnownHosts(line("a,b,host1", key), "host1", 22, key).ok).toBe(true);
  expect(checkKnownHosts(line("*.lab", key), "vm1.lab", 22, key).ok).toBe(true);
  expect(checkKnownHosts(line("*.lab,!bad.lab", key), "bad.lab", 22, key)).toEqual({ ok: false, reason: "unknown" });
});

test("hashed host names", () => {
  const salt = Buffer.from("0123456789abcdef0123");
  const hash = createHmac("sha1", salt).update("[h]:2200").digest("base64");
  const kh = line(`|1|${salt.toString("base64")}|${hash}`, key);
  expect(checkKnownHosts(kh, "h", 2200, key).ok).toBe(true);
  expect(checkKnownHosts(kh, "h", 22, key).ok).toBe(false);
});

test("@revoked wins over a matching entry", () => {
  const kh = `${line("h", key)}\n@revoked ${line("h", key)}`;
  expect(checkKnownHosts(kh, "h", 22, key)).toEqual({ ok: false, reason: "revoked" });
});
