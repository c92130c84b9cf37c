import { createPrivateKey, X509Certificate } from "node:crypto";
import { serverCertificate } from "./cert";

test("the AutoMTLS certificate is a valid self-signed P-256 CA for localhost, for a day, with its key", () => {
  const now = Date.now();
  const c = serverCertificate(now);
  const x = new X509Certificate(c.certPem);
  expect(x.subject).toBe("CN=localhost\nO=HashiCorp");
  expect(x.issuer).toBe(x.subject);
  expect(x.ca).toBe(true);
  expect(x.checkHost("localhost")).toBe("localhost");
  expect(x.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
  expect(x.verify(x.publicKey)).toBe(true);
  expect(x.checkPrivateKey(createPrivateKey(c.keyPem))).toBe(true);
  expect(x.publicKey.asymmetricKeyDetails).toMatchObject({ namedCurve: "prime256v1" });
  expect(Date.parse(x.validFrom)).toBeLessThanOrEqual(now);
  expect(Date.parse(x.validTo)).toBeGreaterThan(now + 23 * 3600_000);
  // The handshake carries the DER, base64 without padding.
  expect(Buffer.from(c.derBase64, "base64").equals(x.raw)).toBe(true);
  expect(c.derBase64).not.toMatch(/=$/);
});
