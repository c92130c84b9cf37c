/**
 * The SSH transport against a real OpenSSH sshd on 127.0.0.1 (throwaway
 * keys) in front of a real hostd: connection sharing, the dial-stdio
 * fallback, reconnects, ed25519, RSA and ECDSA keys, refusing unknown or
 * changed host keys and wrong user keys, and errors that name their cause
 * (no ssh-agent, no hostd socket at the path).
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { HostClient } from "../sdk/client";
import { KvmError } from "../sdk/errors";
import { closeAllSshConnections, SshOptions, SshTransport } from "../sdk/transport/ssh";
import type { Transport } from "../sdk/transport/types";
import { announceAccelerator, HOSTD_CLI, NODE, tinyGuest, waitFor } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";
import { fingerprint, SshdFixture } from "./fixtures/sshd";

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

test("closing one of two transports on a pooled connection leaves it to the other; the last close ends it", async () => {
  const logins = sshd.acceptedLogins();
  const disconnects = () => (sshd.log.match(/Disconnected from user/g) ?? []).length;
  const t1 = new SshTransport(opts());
  const t2 = new SshTransport(opts());
  const c1 = new HostClient(t1);
  const c2 = new HostClient(t2);
  await Promise.all([c1.helloOnce(), c2.helloOnce()]);
  expect(t2.stats.handshakes).toBe(1);
  expect(sshd.acceptedLogins() - logins).toBe(1);
  const before = disconnects();
  await c1.close();
  // The other client goes on on the same connection: no new handshake, and sshd saw no disconnect.
  expect((await c2.vm.list()).vms).toEqual([]);
  expect(t2.stats.handshakes).toBe(1);
  expect(sshd.acceptedLogins() - logins).toBe(1);
  expect(disconnects()).toBe(before);
  await c2.close();
  await waitFor("sshd to see the pooled connection end", () => disconnects() === before + 1, 10_000, 50);
  // Gone from the pool too: a new transport makes a connection of its own.
  const t3 = new SshTransport(opts());
  expect((await new HostClient(t3).vm.list()).vms).toEqual([]);
  expect(t3.stats.handshakes).toBe(1);
  expect(sshd.acceptedLogins() - logins).toBe(2);
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

/** A transport that counts the connections the client opens through it (one per attempt, retries included). */
function counting(t: SshTransport): { transport: Transport; attempts: () => number } {
  let n = 0;
  return {
    transport: { target: t.target, openStream: () => (n++, t.openStream()), close: () => t.close() },
    attempts: () => n,
  };
}

describe("errors that name their cause", () => {
  const savedAgent = process.env.SSH_AUTH_SOCK;
  afterEach(() => {
    if (savedAgent === undefined) delete process.env.SSH_AUTH_SOCK;
    else process.env.SSH_AUTH_SOCK = savedAgent;
  });

  test("no key and no ssh-agent where SSH_AUTH_SOCK points: auth_failed at once, naming the path, never retried", async () => {
    const missing = `${sshd.dir}/no-agent.sock`;
    process.env.SSH_AUTH_SOCK = missing;
    const logins = sshd.log.length;
    const c = counting(new SshTransport(opts({ privateKey: undefined })));
    const e = await failure(new HostClient(c.transport).vm.list());
    expect(e.code).toBe("auth_failed");
    expect(e.message).toBe(
      `No ssh-agent at ${missing} (SSH_AUTH_SOCK) for ${sshd.user}@${sshd.host}:${sshd.port}: nothing is there. Set kvm:privateKey or kvm:privateKeyPath, or start an agent (eval "$(ssh-agent)"; ssh-add) and point SSH_AUTH_SOCK at it.`,
    );
    // One attempt, and it never reached the network: sshd saw no connection at all.
    expect(c.attempts()).toBe(1);
    expect(sshd.log.slice(logins)).not.toContain("Connection from");
  });

  test("no key and SSH_AUTH_SOCK unset: auth_failed at once, saying there is no agent", async () => {
    delete process.env.SSH_AUTH_SOCK;
    const c = counting(new SshTransport(opts({ privateKey: undefined })));
    const e = await failure(new HostClient(c.transport).vm.list());
    expect(e.code).toBe("auth_failed");
    expect(e.message).toContain("SSH_AUTH_SOCK is not set, so there is no ssh-agent to ask");
    expect(e.message).toContain("kvm:privateKey or kvm:privateKeyPath");
    expect(c.attempts()).toBe(1);
  });

  test("a socketPath with no hostd behind it says so, whether sshd forwards to it or the dial-stdio fallback runs", async () => {
    const wrong = `${hd.dir}/not-hostd.sock`;
    const expectNoSocket = (e: KvmError) => {
      expect(e.code).toBe("connect_failed");
      expect(e.message).toContain(`hostd's socket is not at ${wrong} on ${sshd.host}`);
      expect(e.message).toContain("Run `hostd doctor` on the host, or set kvm:socketPath");
      // Not what the exec fallback used to say here (hostd is not on this host's PATH).
      expect(e.message).not.toContain("command not found");
      expect(e.message).not.toContain("may or may not have happened");
    };
    // sshd forwards stream-local sockets; the forward fails because nothing is at the path.
    expectNoSocket(await failure(new HostClient(new SshTransport(opts({ socketPath: wrong }))).vm.list()));
    // sshd forbids forwarding, so the transport falls back to `hostd dial-stdio`.
    const strict = await SshdFixture.start({ allowStreamLocalForwarding: false });
    try {
      const t = new SshTransport({ ...opts({ socketPath: wrong }), port: strict.port, privateKey: strict.userKeys.ed25519.privateKey, knownHosts: strict.knownHostsLine() });
      expectNoSocket(await failure(new HostClient(t).vm.list()));
      expect(strict.log).toContain("refused streamlocal port forward");
    } finally {
      closeAllSshConnections();
      await strict.stop();
    }
  });
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

  test("ECDSA: user keys on P-256, P-384 and P-521 log in to a server whose only host key is ECDSA, checked against known_hosts", async () => {
    const ecdsa = await SshdFixture.start({ hostKey: "ecdsa256" });
    try {
      expect(ecdsa.hostKeyPub).toMatch(/^ecdsa-sha2-nistp256 /);
      const to = (o: Partial<SshOptions>) => new SshTransport({ ...opts(), port: ecdsa.port, knownHosts: ecdsa.knownHostsLine() + "\n", ...o });
      for (const kind of ["ecdsa256", "ecdsa384", "ecdsa521"] as const) {
        const key = ecdsa.userKeys[kind];
        const logged = ecdsa.log.length;
        const t = to({ privateKey: key.privateKey });
        expect((await new HostClient(t).vm.list()).vms).toEqual([]);
        expect(t.stats.handshakes).toBe(1);
        // The server's word on which key logged in: this ECDSA key, by its fingerprint.
        expect(ecdsa.log.slice(logged)).toContain(`Accepted publickey for ${ecdsa.user} from 127.0.0.1`);
        expect(ecdsa.log.slice(logged)).toContain(`ssh2: ECDSA ${fingerprint(key.path + ".pub")}`);
        closeAllSshConnections();
      }
      // Another ECDSA key listed for this host is a changed host key: refused, naming the server's.
      const other = execFileSync("ssh-keygen", ["-y", "-f", ecdsa.userKeys.ecdsa256.path], { encoding: "utf8" }).trim().split(" ");
      const e = await failure(new HostClient(to({ knownHosts: `[${ecdsa.host}]:${ecdsa.port} ${other[0]} ${other[1]}\n` })).vm.list());
      expect(e.code).toBe("host_key_mismatch");
      expect(e.message).toContain(ecdsa.hostKeyFingerprint());
    } finally {
      closeAllSshConnections();
      await ecdsa.stop();
    }
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
