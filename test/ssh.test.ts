/**
 * The SSH transport against a real OpenSSH sshd on 127.0.0.1 (throwaway
 * keys) in front of a real hostd: connection sharing, the dial-stdio
 * fallback, reconnects, and refusing unknown or changed host keys and
 * wrong user keys.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { HostClient } from "../sdk/client";
import { KvmError } from "../sdk/errors";
import { closeAllSshConnections, SshOptions, SshTransport } from "../sdk/transport/ssh";
import { announceAccelerator, HOSTD_CLI, NODE, tinyGuest, waitFor } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";
import { SshdFixture } from "./fixtures/sshd";

jest.setTimeout(240_000);

const g = tinyGuest();
const kernel = { path: g.kernel, initrd: g.initrd, cmdline: g.cmdline };
let hd: HostdFixture;
let sshd: SshdFixture;

beforeAll(async () => {
  announceAccelerator();
  hd = await HostdFixture.start();
  sshd = await SshdFixture.start();
});
afterAll(async () => {
  closeAllSshConnections();
  await hd?.cleanup();
  await sshd?.stop();
});
afterEach(() => closeAllSshConnections());

function opts(over: Partial<SshOptions> = {}): SshOptions {
  return { ...sshd.transportOptions(hd.socketPath), ...over };
}

async function failure(p: Promise<unknown>): Promise<KvmError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof KvmError)) throw new Error(`expected a KvmError, got ${String(e)}`);
  return e;
}

test("10 concurrent vm.create calls share one SSH connection (one handshake)", async () => {
  const before = sshd.acceptedLogins();
  const t = new SshTransport(opts());
  const c = new HostClient(t);
  const names = Array.from({ length: 10 }, (_, i) => `par-${i}`);
  const vms = await Promise.all(names.map((name) => c.vm.create({ name, memoryMiB: 96, kernel })));
  expect(vms.map((v) => v.state)).toEqual(names.map(() => "running"));
  expect(new Set(vms.map((v) => v.pid)).size).toBe(10);
  expect(t.stats).toMatchObject({ handshakes: 1, mode: "streamlocal" });
  expect(t.stats.channels).toBeGreaterThanOrEqual(10);
  // The server's own log agrees: one public-key login for all ten calls.
  expect(sshd.acceptedLogins() - before).toBe(1);
  // One round trip lists them all.
  const { vms: listed } = await c.vm.list();
  expect(listed.filter((v) => v.name.startsWith("par-"))).toHaveLength(10);
  await Promise.all(names.map((name) => c.vm.delete({ name })));
  expect(hd.qemuPids()).toEqual([]);
  expect(sshd.acceptedLogins() - before).toBe(1);
});

test("RSA user keys work too, and a dropped connection is re-established", async () => {
  const t = new SshTransport(opts({ privateKey: sshd.userKeys.rsa.privateKey }));
  const c = new HostClient(t);
  await c.helloOnce();
  expect(t.stats.handshakes).toBe(1);
  // Kill the per-connection sshd processes: the connection drops under us.
  const children = execFileSync("pgrep", ["-f", `sshd: ${sshd.user}`], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
  for (const pid of children) process.kill(Number(pid), "SIGKILL");
  await waitFor("client to notice the drop", async () => {
    try {
      await c.vm.list();
      return t.stats.handshakes === 2;
    } catch {
      return false;
    }
  }, 20_000, 100);
  expect((await c.vm.list()).vms).toEqual([]);
});

test("where sshd forbids stream-local forwarding, calls go through `hostd dial-stdio`", async () => {
  const strict = await SshdFixture.start({ allowStreamLocalForwarding: false });
  try {
    const t = new SshTransport({
      ...opts(),
      port: strict.port,
      privateKey: strict.userKeys.ed25519.privateKey,
      knownHosts: strict.knownHostsLine(),
      dialCommand: [NODE, HOSTD_CLI, "dial-stdio", "--socket", hd.socketPath],
    });
    const c = new HostClient(t);
    const hello = await c.helloOnce();
    expect(hello.protocolVersion).toBe(1);
    const vm = await c.vm.create({ name: "via-exec", memoryMiB: 96, kernel });
    expect(vm.state).toBe("running");
    expect((await c.vm.get("via-exec")).id).toBe(vm.id);
    await c.vm.delete({ name: "via-exec" });
    expect(t.stats.mode).toBe("exec");
    expect(t.stats.handshakes).toBe(1);
  } finally {
    closeAllSshConnections();
    await strict.stop();
  }
});

test("an ssh-agent can hold the key instead of the program", async () => {
  const sock = `${sshd.dir}/agent.sock`;
  const agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
  try {
    await waitFor("ssh-agent socket", () => existsSync(sock), 5_000, 50);
    execFileSync("ssh-add", [sshd.userKeys.ed25519.path], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: "ignore" });
    const t = new SshTransport(opts({ privateKey: undefined, agent: sock }));
    expect((await new HostClient(t).vm.list()).vms).toEqual([]);
    expect(t.stats.handshakes).toBe(1);
  } finally {
    agent.kill();
  }
});

describe("host and user keys", () => {
  test("an unknown host key is refused, naming the host and the fingerprint", async () => {
    const e = await failure(new HostClient(new SshTransport(opts({ knownHosts: "" }))).vm.list());
    expect(e.code).toBe("host_key_unknown");
    expect(e.message).toContain(`${sshd.host}:${sshd.port}`);
    expect(e.message).toContain(sshd.hostKeyFingerprint());
  });

  test("a changed host key (known_hosts lists another key) is refused", async () => {
    const other = execFileSync("ssh-keygen", ["-y", "-f", sshd.strangerKey.path], { encoding: "utf8" }).trim().split(" ");
    const knownHosts = `[${sshd.host}]:${sshd.port} ${other[0]} ${other[1]}\n`;
    const e = await failure(new HostClient(new SshTransport(opts({ knownHosts }))).vm.list());
    expect(e.code).toBe("host_key_mismatch");
    expect(e.message).toContain(`${sshd.host}:${sshd.port}`);
    expect(e.message).toContain(sshd.hostKeyFingerprint());
  });

  test("an expected fingerprint that does not match is refused; the right one is accepted", async () => {
    const wrong = "SHA256:" + "A".repeat(43);
    const e = await failure(new HostClient(new SshTransport(opts({ knownHosts: undefined, hostKey: wrong }))).vm.list());
    expect(e.code).toBe("host_key_mismatch");
    expect(e.message).toContain(sshd.hostKeyFingerprint());
    const ok = new HostClient(new SshTransport(opts({ knownHosts: undefined, hostKey: sshd.hostKeyFingerprint() })));
    expect((await ok.vm.list()).vms).toEqual([]);
  });

  test("a hashed known_hosts entry (ssh-keygen -H) is honoured", async () => {
    const file = `${sshd.dir}/known_hosts_hashed`;
    require("node:fs").writeFileSync(file, sshd.knownHostsLine() + "\n");
    execFileSync("ssh-keygen", ["-H", "-f", file], { stdio: "ignore" });
    const hashed = require("node:fs").readFileSync(file, "utf8") as string;
    expect(hashed.startsWith("|1|")).toBe(true);
    const c = new HostClient(new SshTransport(opts({ knownHosts: undefined, knownHostsPath: file })));
    expect((await c.vm.list()).vms).toEqual([]);
  });

  test("a user key the server does not accept fails with a clear authentication error", async () => {
    const e = await failure(new HostClient(new SshTransport(opts({ privateKey: sshd.strangerKey.privateKey }))).vm.list());
    expect(e.code).toBe("auth_failed");
    expect(e.message).toContain(sshd.user);
    expect(e.message).toContain(`${sshd.host}:${sshd.port}`);
  });

  test("refused connections reached nothing on the host", async () => {
    expect((await hd.client().vm.list()).vms).toEqual([]);
    expect(hd.qemuPids()).toEqual([]);
  });
});
