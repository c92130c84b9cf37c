/**
 * Building blocks shared by every method of the hostd protocol: names, host
 * paths, the request/response envelope and the version.
 *
 * The wire is newline-delimited JSON. A client opens a stream (a unix socket
 * connection, or an SSH channel forwarded to that socket), writes one
 * {@link RequestEnvelope} per line and reads one {@link ResponseEnvelope} per
 * line, matched by `id`. Several requests may be in flight on one stream.
 */
import { z } from "zod";
import { DomainErrorCodes } from "../errors";

/**
 * Protocol version. Bumped only on an incompatible change; additions are
 * announced as capabilities in `host.hello` instead, and clients check those.
 */
export const PROTOCOL_VERSION = 1;

/** Longest frame (one JSON line) either side accepts, in bytes. */
export const MAX_FRAME_BYTES = 1024 * 1024;

/** Object names: DNS-label-like, so they are safe as file, tap and host names. */
export const Name = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,62}$/,
    "must be 1-63 characters of lowercase letters, digits and '-', starting with a letter or digit",
  );

/**
 * An absolute path on the host. Restricted to a conservative character set:
 * hostd never uses a shell, but QEMU parses commas inside option values and a
 * path is also shown in logs, so anything unusual is refused up front.
 */
export const HostPath = z
  .string()
  .max(4096)
  .regex(
    /^\/[A-Za-z0-9._+@/-]*$/,
    "must be an absolute path on the host using only letters, digits and . _ + @ / -",
  )
  .refine((p) => !p.split("/").includes(".."), "must not contain '..' segments");

/**
 * Who declared an object: the program and resource that made it, recorded by
 * hostd with the object. A create finds its own object again (an interrupted
 * run), never someone else's; a delete removes only what the caller owns.
 * The Pulumi provider sends `pulumi:<project>/<stack>/<type>/<resource name>`.
 */
export const Owner = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[\x21-\x7e][\x20-\x7e]*$/, "must be printable ASCII, e.g. pulumi:<project>/<stack>/kvm:Vm/<name>");
export type Owner = z.infer<typeof Owner>;

/**
 * A host's identity: made once by hostd and kept in its state directory. Two
 * hostds are two hosts because their ids differ, never because of how they
 * are reached (address, user, port, socket path are only routes).
 */
export const HostId = z.uuid();

/** The stable error body hostd sends; see `sdk/errors.ts` for the codes. */
export const ErrorBody = z.strictObject({
  code: z.enum(DomainErrorCodes),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

/** Request ids are chosen by the client and echoed in hostd's logs and replies. */
export const RequestId = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/);

/**
 * Idempotency key of a mutating call: a retry with the same key (after a
 * dropped connection, say) gets the first call's reply instead of running
 * again, and joins it while it still runs. hostd keeps keys for a day.
 */
export const IdempotencyKey = z.string().regex(/^[A-Za-z0-9._:-]{16,128}$/, "must be 16-128 of letters, digits, . _ : -");

export const RequestEnvelope = z.strictObject({
  id: RequestId,
  method: z.string().max(64),
  params: z.unknown().optional(),
  idempotencyKey: IdempotencyKey.optional(),
});
export type RequestEnvelope = z.infer<typeof RequestEnvelope>;

export const ResponseEnvelope = z.union([
  z.strictObject({ id: z.string(), result: z.unknown() }),
  z.strictObject({ id: z.string().nullable(), error: ErrorBody }),
]);
export type ResponseEnvelope = z.infer<typeof ResponseEnvelope>;

/** ISO-8601 timestamp string. */
export const Timestamp = z.string();
