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
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { serverCertificate } from "./cert";

// The build copies the protos beside the compiled code; under ts-jest they sit beside this file.
const protoDir = (): string => path.join(__dirname, "proto");

function load(file: string): grpc.GrpcObject {
  const def = protoLoader.loadSync(path.join(protoDir(), file), { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  return grpc.loadPackageDefinition(def);
}

type Handlers = grpc.UntypedServiceImplementation;

/** Serves `provider` (tfplugin6 handlers) until Terraform asks the plugin to shut down; returns once the handshake is printed. */
export async function serve(provider: Handlers, onStop: () => void): Promise<void> {
  const clientCert = process.env.PLUGIN_CLIENT_CERT;
  const { certPem, keyPem, derBase64 } = serverCertificate();
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
