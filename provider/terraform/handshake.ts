/**
 * What Terraform and a provider agree on before the handshake (go-plugin's
 * HandshakeConfig for providers): the cookie Terraform sets so a provider
 * knows Terraform started it. cli.ts checks it; bench/terraform.ts sets it.
 */
export const MAGIC_COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
