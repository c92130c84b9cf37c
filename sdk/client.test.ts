/**
 * HostClient's retry rule against a scripted hostd (a fake transport): a
 * connection lost after a request was sent is retried for reads and for
 * mutating calls carrying an idempotency key, and never for a mutating call
 * without one (its outcome is unknown, and the error says so).
 */
import { Duplex } from "node:stream";
import { z } from "zod";
import { HostClient } from "./client";
import { KvmError } from "./errors";
import { defineMethod, PROTOCOL_VERSION } from "./protocol";
import { Transport } from "./transport/types";

const read = defineMethod("test.read", z.strictObject({}), z.strictObject({ n: z.int() }), { mutating: false });
const change = defineMethod("test.change", z.strictObject({}), z.strictObject({ n: z.int() }), { mutating: true });

/** What the scripted hostd does with one request: answer it, or drop the connection without answering. */
type Answer = { result: unknown } | "drop";

/** A transport to a hostd that answers `host.hello` with `capabilities` and every other request with `script`. */
function scripted(capabilities: string[], script: (req: { method: string; idempotencyKey?: string }, nth: number) => Answer) {
  const requests: { method: string; idempotencyKey?: string }[] = [];
  const transport: Transport = {
    target: "unix:/fake.sock",
    async openStream() {
      const stream = new Duplex({
        read() {},
        write(chunk: Buffer, _enc, done) {
          const req = JSON.parse(chunk.toString("utf8")) as { id: string; method: string; idempotencyKey?: string };
          done();
          if (req.method === "host.hello") {
            const hello = { hostId: "aaaaaaaa-1111-4111-8111-111111111111", protocolVersion: PROTOCOL_VERSION, hostdVersion: "test", hostname: "fake", capabilities, accelerator: { kind: "tcg", reason: "test" }, qemuVersion: "9" };
            stream.push(JSON.stringify({ id: req.id, result: hello }) + "\n");
            return;
          }
          requests.push(req);
          const answer = script(req, requests.filter((r) => r.method === req.method).length);
          if (answer === "drop") stream.destroy();
          else stream.push(JSON.stringify({ id: req.id, result: answer.result }) + "\n");
        },
      });
      return stream;
    },
    async close() {},
  };
  return { client: new HostClient(transport, { timeoutMs: 10_000 }), requests };
}

/** Drops the first connection of each method, answers the second. */
const dropOnce = (_req: unknown, nth: number): Answer => (nth === 1 ? "drop" : { result: { n: nth } });

test("a read whose connection is lost after it was sent is retried", async () => {
  const h = scripted([], dropOnce);
  await expect(h.client.call(read, {})).resolves.toEqual({ n: 2 });
  expect(h.requests.map((r) => r.method)).toEqual(["test.read", "test.read"]);
});

test("a mutating call with an idempotency key is retried with the same key", async () => {
  const h = scripted(["idempotency"], dropOnce);
  await expect(h.client.call(change, {})).resolves.toEqual({ n: 2 });
  expect(h.requests).toHaveLength(2);
  expect(h.requests[0]!.idempotencyKey).toMatch(/^k-/);
  expect(h.requests[1]!.idempotencyKey).toBe(h.requests[0]!.idempotencyKey);
});

test("a mutating call without an idempotency key is never sent again: it fails saying its outcome is unknown", async () => {
  const h = scripted([], dropOnce);
  const e = await h.client.call(change, {}).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KvmError);
  expect((e as KvmError).code).toBe("transport_disconnected");
  expect((e as KvmError).details).toMatchObject({ method: "test.change", outcomeUnknown: true });
  expect((e as KvmError).message).toContain("may or may not have happened");
  expect((e as KvmError).message).toContain("test.change was not sent again");
  expect((e as KvmError).message).toContain("does not announce the `idempotency` capability");
  expect(h.requests).toHaveLength(1);
  expect(h.requests[0]!.idempotencyKey).toBeUndefined();
});

test("a mutating call without a key whose connection could not be opened is retried: nothing was sent", async () => {
  const h = scripted([], () => ({ result: { n: 1 } }));
  let opens = 0;
  const inner = h.client.transport;
  const flaky: Transport = {
    target: inner.target,
    openStream: () => (++opens === 2 ? Promise.reject(new KvmError("transport_disconnected", "SSH connection lost")) : inner.openStream()),
    close: () => inner.close(),
  };
  const client = new HostClient(flaky, { timeoutMs: 10_000 });
  // The first open is host.hello's; the second (the call's) fails before anything is sent.
  await expect(client.call(change, {})).resolves.toEqual({ n: 1 });
  expect(opens).toBe(3);
  expect(h.requests).toHaveLength(1);
});
