/**
 * Lost replies: the SSH connection is cut (every sshd process serving it
 * SIGKILLed) after hostd did the work but before its reply arrived. The
 * client's retry — the same one the provider runs — reconnects and sends the
 * call again with the same idempotency key; hostd answers it from its record
 * instead of running it again, so each object exists exactly once.
 * hostd holds these replies back for 3 s (HOSTD_FAULT_REPLY_DELAY, a fault
 * injection) so the cut lands in that window every time.
 */
import { HostClient } from "../sdk/client";
import { closeAllSshConnections, SshTransport } from "../sdk/transport/ssh";
import { announceAccelerator, tinyGuest, waitFor } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";
import { Netns } from "./fixtures/netns";
import { SshdFixture } from "./fixtures/sshd";

jest.setTimeout(240_000);

const g = tinyGuest();
let ns: Netns;
let hd: HostdFixture;
let sshd: SshdFixture;

beforeAll(async () => {
  announceAccelerator();
  ns = Netns.create();
  hd = await HostdFixture.start({ netns: ns.host, env: { HOSTD_FAULT_REPLY_DELAY: "vm.create=3000,disk.create=3000,network.create=3000" } });
  sshd = await SshdFixture.start();
});
afterAll(async () => {
  closeAllSshConnections();
  await hd?.cleanup();
  await sshd?.stop();
  ns?.cleanup();
});

function remote(): HostClient {
  return new HostClient(
    new SshTransport(sshd.transportOptions(hd.socketPath)),
    { timeoutMs: 60_000 },
  );
}

const cases: { what: string; call: (c: HostClient) => Promise<{ id: string }>; count: (c: HostClient) => Promise<string[]> }[] = [
  {
    what: "network.create",
    call: (c) => c.network.create({ name: "cut-net", mode: "isolated", ipv4: { cidr: "10.93.0.0/24" } }),
    count: async (c) => (await c.network.list()).networks.map((n) => n.id),
  },
  {
    what: "disk.create",
    call: (c) => c.disk.create({ name: "cut-disk", sizeGiB: 1 }),
    count: async (c) => (await c.disk.list()).disks.map((d) => d.id),
  },
  {
    what: "vm.create",
    call: (c) =>
      c.vm.create({ name: "cut-vm", memoryMiB: 128, kernel: { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline }, networkInterfaces: [{ network: "cut-net" }], disks: [{ disk: "cut-disk" }] }),
    count: async (c) => (await c.vm.list()).vms.map((v) => v.id),
  },
];

test.each(cases)("$what: the connection is cut before the reply; the retry completes it exactly once", async ({ what, call, count }) => {
  const local = hd.client();
  const logins = sshd.acceptedLogins();
  const replays = (hd.log.match(/replayed the reply of an earlier call/g) ?? []).length;
  const pending = call(remote());
  // The work is done on the host (the reply is being held back): now cut the connection.
  await waitFor(`${what} to be done on the host`, async () => (await count(local)).length === 1, 60_000, 50);
  expect(sshd.dropConnections()).toBeGreaterThan(0);
  const result = await pending;
  const ids = await count(local);
  expect(ids).toEqual([result.id]);
  // It took a second SSH connection, and hostd answered the retry from its record.
  expect(sshd.acceptedLogins() - logins).toBe(2);
  expect((hd.log.match(/replayed the reply of an earlier call/g) ?? []).length).toBe(replays + 1);
  closeAllSshConnections();
});

test("an idempotency key reused for a different request is refused", async () => {
  const { createConnection } = await import("node:net");
  const send = (frame: object) =>
    new Promise<string>((resolve, reject) => {
      const s = createConnection(hd.socketPath);
      let buf = "";
      s.on("data", (d) => {
        buf += d.toString();
        if (buf.includes("\n")) {
          s.destroy();
          resolve(buf.trim());
        }
      });
      s.on("error", reject);
      s.write(JSON.stringify(frame) + "\n");
    });
  const key = "k-reuse-test-0000000001";
  expect(await send({ id: "1", method: "disk.create", params: { name: "reuse-a", sizeGiB: 1 }, idempotencyKey: key })).toContain('"result"');
  const second = JSON.parse(await send({ id: "2", method: "disk.create", params: { name: "reuse-b", sizeGiB: 1 }, idempotencyKey: key })) as { error: { code: string; message: string } };
  expect(second.error.code).toBe("invalid_params");
  expect(second.error.message).toContain("already used for a different request");
  expect((await hd.client().disk.list()).disks.map((d) => d.name)).not.toContain("reuse-b");
});
