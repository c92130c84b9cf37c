/**
 * The go-plugin side of Terraform's provider protocol: a self-signed server
 * certificate (AutoMTLS: the client's certificate comes in PLUGIN_CLIENT_CERT
 * and is the only one accepted), a gRPC server on a unix socket in a temp
 * dir, the health, controller and stdio services, and the one handshake
 * line on stdout. The provider's own RPCs are in provider.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { webcrypto, KeyObject } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

// The build copies the protos beside the compiled code; under ts-jest they sit beside this file.
const protoDir = (): string => path.join(__dirname, "proto");

/** A self-signed P-256 certificate for "localhost", as go-plugin makes for AutoMTLS. */
async function serverCertificate(): Promise<{ certPem: string; keyPem: string; derBase64: string }> {
  // @peculiar/x509 needs the Reflect metadata polyfill loaded first.
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=localhost, O=HashiCorp",
    notBefore: new Date(now - 30_000),
    notAfter: new Date(now + 24 * 3600_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "localhost" }]),
    ],
  });
  const keyPem = KeyObject.from(keys.privateKey as unknown as webcrypto.CryptoKey).export({ type: "pkcs8", format: "pem" }) as string;
  // go-plugin writes the DER base64 without padding.
  return { certPem: cert.toString("pem"), keyPem, derBase64: Buffer.from(cert.rawData).toString("base64").replace(/=+$/, "") };
}

function load(file: string): grpc.GrpcObject {
  const def = protoLoader.loadSync(path.join(protoDir(), file), { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  return grpc.loadPackageDefinition(def);
}

type Handlers = grpc.UntypedServiceImplementation;

/** Serves `provider` (tfplugin6 handlers) until Terraform asks the plugin to shut down; returns once the handshake is printed. */
export async function serve(provider: Handlers, onStop: () => void): Promise<void> {
  const clientCert = process.env.PLUGIN_CLIENT_CERT;
  const [{ certPem, keyPem, derBase64 }] = await Promise.all([serverCertificate()]);
  const credentials = clientCert
    ? grpc.ServerCredentials.createSsl(Buffer.from(clientCert), [{ private_key: Buffer.from(keyPem), cert_chain: Buffer.from(certPem) }], true)
    : grpc.ServerCredentials.createInsecure();

  const server = new grpc.Server();
  const tf = load("tfplugin6.proto").tfplugin6 as grpc.GrpcObject;
  const plugin = load("plugin.proto").plugin as grpc.GrpcObject;
  const health = ((load("health.proto").grpc as grpc.GrpcObject).health as grpc.GrpcObject).v1 as grpc.GrpcObject;
  const svc = (o: grpc.GrpcObject, n: string) => (o[n] as grpc.ServiceClientConstructor).service;

  server.addService(svc(tf, "Provider"), provider);
  server.addService(svc(health, "Health"), {
    Check: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { status: "SERVING" }),
    Watch: (call: grpc.ServerWritableStream<unknown, unknown>) => call.write({ status: "SERVING" }),
  });
  const dir = mkdtempSync(path.join(tmpdir(), "tf-kvm-"));
  const socket = path.join(dir, "plugin.sock");
  const stop = () => {
    onStop();
    server.tryShutdown(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
    // Streams (stdio) keep tryShutdown waiting: go-plugin kills us after ~2 s anyway.
    setTimeout(() => server.forceShutdown(), 500).unref();
  };
  server.addService(svc(plugin, "GRPCController"), {
    Shutdown: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => {
      cb(null, {});
      setImmediate(stop);
    },
  });
  // The stream stays open; the provider logs to stderr, which go-plugin already forwards.
  server.addService(svc(plugin, "GRPCStdio"), { StreamStdio: () => undefined });

  await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${socket}`, credentials, (e) => (e ? reject(e) : resolve())));
  process.stdout.write(`1|6|unix|${socket}|grpc${clientCert ? `|${derBase64}` : ""}\n`);
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
}
