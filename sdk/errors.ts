/**
 * The one error catalogue of pulumi-kvm.
 *
 * Every error that crosses a boundary (the hostd wire, the SDK, the Pulumi
 * provider) is a {@link KvmError} with a stable {@link ErrorCode} and a
 * sentence a user can act on. Tests and callers branch on `code`, never on
 * message text. Domain errors come from hostd; transport errors (timeouts,
 * dropped connections, host-key and authentication failures) are raised on
 * the client side and never travel on the wire.
 */

/** Errors hostd returns on the wire. */
export const DomainErrorCodes = [
  /** The frame was not JSON, too large, or not a request envelope. */
  "invalid_request",
  /** The method exists but its params failed validation. */
  "invalid_params",
  /** No such method. */
  "unknown_method",
  /** The named object does not exist. */
  "not_found",
  /** An object with that name already exists with a different spec. */
  "already_exists",
  /** The object is in a state that does not allow the operation. */
  "invalid_state",
  /** The call names a host id (the host the object was made on) that is not this hostd's. */
  "wrong_host",
  /** The object belongs to another owner (another stack or resource, or none): the caller may not take it or delete it. */
  "not_owner",
  /** The request conflicts with the host (a missing file, a busy resource). */
  "conflict",
  /** The host cannot do this (missing capability, unsupported feature). */
  "unsupported",
  /** QEMU or a host tool failed; the message carries its own words. */
  "qemu_failed",
  /** An operation on the host did not finish in time. */
  "timeout",
  /** A move between hosts failed or was aborted; the message says where the VM runs now. */
  "migration_failed",
  /** An image could not be downloaded (unreachable URL, HTTP error, stalled transfer). */
  "download_failed",
  /** A downloaded image does not have the sha256 the spec names. */
  "checksum_mismatch",
  /** The host's disk is full. */
  "insufficient_space",
  /** One VM asks for more vCPUs than the host has CPUs, or more memory than it has in all (hostd allows that only with --allow-overcommit). */
  "over_capacity",
  /** The caller may not use hostd (not root and not in hostd's group). */
  "permission_denied",
  /**
   * The caller (a uid) already has as many connections open as hostd allows
   * one user, so this one was refused before anything was read from it.
   * Not `permission_denied`: the caller may use hostd, just not with one
   * more connection now, and a retry once some have closed succeeds.
   */
  "too_many_connections",
  /** A bug in hostd: the message says where to look. */
  "internal",
] as const;

/** Errors the client side raises about reaching a host. */
export const TransportErrorCodes = [
  "transport_timeout",
  "transport_disconnected",
  "connect_failed",
  "host_key_unknown",
  "host_key_mismatch",
  "auth_failed",
  "protocol_mismatch",
  /** The caller stopped the operation while it waited (Terraform's StopProvider, after Ctrl-C). */
  "cancelled",
] as const;

export type DomainErrorCode = (typeof DomainErrorCodes)[number];
export type TransportErrorCode = (typeof TransportErrorCodes)[number];
export type ErrorCode = DomainErrorCode | TransportErrorCode;

/** Structured details that help a user or a test; never secrets. */
export type ErrorDetails = Record<string, unknown>;

/** An error with a stable code and an actionable message. */
export class KvmError extends Error {
  override readonly name = "KvmError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetails,
    /** The request id hostd logged this error under, when it came from hostd. */
    readonly requestId?: string,
  ) {
    super(message);
  }

  /** `[code] message (request id)`: the form shown to users by the provider. */
  override toString(): string {
    return `[${this.code}] ${this.message}${this.requestId ? ` (hostd request ${this.requestId})` : ""}`;
  }
}

export function isKvmError(e: unknown, code?: ErrorCode): e is KvmError {
  return e instanceof KvmError && (code === undefined || e.code === code);
}

/** Shorthands used by hostd services so call sites read like the rule they enforce. */
export const errors = {
  notFound: (kind: string, name: string) =>
    new KvmError("not_found", `${kind} "${name}" does not exist on this host.`, { kind, name }),
  alreadyExists: (kind: string, name: string, hint: string) =>
    new KvmError("already_exists", `${kind} "${name}" already exists with a different spec. ${hint}`, { kind, name }),
  invalidState: (message: string, details?: ErrorDetails) => new KvmError("invalid_state", message, details),
  conflict: (message: string, details?: ErrorDetails) => new KvmError("conflict", message, details),
  internal: (message: string, details?: ErrorDetails) => new KvmError("internal", message, details),
};
