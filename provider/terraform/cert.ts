/**
 * The provider's AutoMTLS server certificate, as go-plugin makes its own: a
 * fresh self-signed P-256 certificate for "localhost" on every start, a CA
 * (Terraform pins it as the only root), for server and client auth.
 *
 * Written as DER by hand with node:crypto rather than with an X.509 library:
 * Terraform starts the provider several times per command, and loading one
 * took a quarter of the start-up (bench/terraform.ts measures it).
 */
import { generateKeyPairSync, sign } from "node:crypto";

/** One DER element: tag, definite length, contents. */
function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

const seq = (...p: Buffer[]) => der(0x30, ...p);
const set = (...p: Buffer[]) => der(0x31, ...p);
const utf8 = (s: string) => der(0x0c, Buffer.from(s, "utf8"));
const bool = (v: boolean) => der(0x01, Buffer.from([v ? 0xff : 0]));
const octets = (b: Buffer) => der(0x04, b);
const bits = (b: Buffer, unused = 0) => der(0x03, Buffer.from([unused]), b);

/** An OBJECT IDENTIFIER from its dotted form. */
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split(".").map(Number) as [number, number, ...number[]];
  const out = [40 * a + b];
  for (const v of rest) {
    const groups: number[] = [];
    let x = v;
    do {
      groups.unshift(x & 0x7f);
      x >>= 7;
    } while (x > 0);
    out.push(...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g)));
  }
  return der(0x06, Buffer.from(out));
}

/** UTCTime (YYMMDDHHMMSSZ; valid for the years 1950–2049). */
function utcTime(d: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, "0");
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return der(0x17, Buffer.from(s, "ascii"));
}

const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

/** A self-signed certificate and its key: PEM for the TLS server, DER base64 (unpadded, as go-plugin writes it) for the handshake line. */
export function serverCertificate(now = Date.now()): { certPem: string; keyPem: string; derBase64: string } {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const name = seq(set(seq(oid("2.5.4.3"), utf8("localhost"))), set(seq(oid("2.5.4.10"), utf8("HashiCorp"))));
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))), // version v3
    der(0x02, Buffer.from([1])), // serial number
    ECDSA_SHA256,
    name,
    seq(utcTime(new Date(now - 30_000)), utcTime(new Date(now + 24 * 3600_000))),
    name,
    publicKey.export({ type: "spki", format: "der" }),
    der(
      0xa3,
      seq(
        // basicConstraints: a CA (Terraform trusts it as the root of its one-certificate chain).
        extension("2.5.29.19", true, seq(bool(true))),
        // keyUsage: digitalSignature, keyEncipherment, keyCertSign (bits 0, 2, 5).
        extension("2.5.29.15", true, bits(Buffer.from([0xa4]), 2)),
        // extKeyUsage: serverAuth, clientAuth.
        extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2"))),
        // subjectAltName: dNSName localhost.
        extension("2.5.29.17", false, seq(der(0x82, Buffer.from("localhost", "ascii")))),
      ),
    ),
  );
  const cert = seq(tbs, ECDSA_SHA256, bits(sign("sha256", tbs, privateKey)));
  const b64 = cert.toString("base64");
  const certPem = `-----BEGIN CERTIFICATE-----\n${b64.replace(/(.{64})/g, "$1\n").replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
  return { certPem, keyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string, derBase64: b64.replace(/=+$/, "") };
}
