/**
 * pulumi-kvm SDK: a typed client for hostd and the transports to reach it.
 */
export * from "./errors";
export * as protocol from "./protocol";
export { HostClient, CallOptions } from "./client";
export { Transport } from "./transport/types";
export { LocalTransport, DEFAULT_SOCKET_PATH } from "./transport/local";
export { SshTransport, SshOptions, SshStats, closeAllSshConnections } from "./transport/ssh";
export { fingerprintOf, checkKnownHosts } from "./transport/known-hosts";
