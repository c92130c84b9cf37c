#!/usr/bin/env node
/**
 * terraform-provider-kvm: the Terraform face of pulumi-kvm. Terraform starts
 * this several times per command, so start-up stays lean: nothing but the
 * gRPC server loads before the handshake, and no SSH until a call needs it.
 */
import { MAGIC_COOKIE } from "./handshake";

if (process.env.TF_PLUGIN_MAGIC_COOKIE !== MAGIC_COOKIE) {
  process.stderr.write(
    "terraform-provider-kvm is a Terraform provider: Terraform runs it, not you.\n" +
      'Point Terraform at it (README, "Terraform"): a dev_overrides or filesystem_mirror entry for example.net/pulumi-kvm/kvm.\n',
  );
  process.exit(1);
}
const versions = (process.env.PLUGIN_PROTOCOL_VERSIONS ?? "6").split(",");
if (!versions.includes("6")) {
  process.stderr.write(`terraform-provider-kvm speaks plugin protocol 6; this Terraform offers ${versions.join(",")}. Use Terraform >= 1.0.\n`);
  process.exit(1);
}
// Terraform sends Ctrl-C to the whole process group: it stops us through StopProvider instead.
process.on("SIGINT", () => undefined);

void (async () => {
  const [{ serve }, { KvmTerraformProvider }, { said }] = await Promise.all([import("./server"), import("./provider"), import("./resources")]);
  const provider = new KvmTerraformProvider();
  await serve(provider.handlers(), () => provider.stop());
  // The Pulumi modules explain plans with console.log; after the handshake stdout is go-plugin's, so they go to stderr (Terraform's log).
  // A plan collects them as warnings (resources.ts `said`).
  console.log = (...a: unknown[]) => {
    const line = a.map(String).join(" ");
    const sink = said.getStore();
    if (sink) sink.push(line);
    else process.stderr.write(`${line}\n`);
  };
})().catch((e: unknown) => {
  process.stderr.write(`terraform-provider-kvm: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
