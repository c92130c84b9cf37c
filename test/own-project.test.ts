/**
 * Acceptance of README "Use it in your own project": the section's commands,
 * extracted from the README (so this test breaks when the README changes), run
 * as written in a fresh HOME outside the repo: `npm pack` in the checkout,
 * `npm install <tarball>` into an empty project, the README's program (a
 * Network, a Disk and a Vm), then preview, up, refresh --diff, up --target and
 * destroy through the real Pulumi CLI (and, beyond the README, a preview whose
 * host is down or is another host fails there), over SSH (real sshd on 127.0.0.1) to a
 * real hostd (in a network namespace of its own: the program makes a bridge)
 * running the tiny guest. Only the values of `pulumi config set` lines are the
 * test's own (this sshd's port, this hostd's socket, the guest's files); the
 * SSH key and known_hosts are put where the README's `~/.ssh/...` paths point.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { announceAccelerator, NODE, pulumiBinDir, REPO, tinyGuest, waitFor } from "./fixtures/env";
import { HostdFixture } from "./fixtures/hostd";
import { Netns } from "./fixtures/netns";
import { SshdFixture } from "./fixtures/sshd";

jest.setTimeout(900_000);

/** The shell block under `<!-- own-project:NAME -->` in the README. */
function readmeBlock(name: string): string {
  const readme = readFileSync(path.join(REPO, "README.md"), "utf8");
  const m = new RegExp(`<!-- own-project:${name} -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!m) throw new Error(`README.md has no <!-- own-project:${name} --> block`);
  return m[1]!;
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

let ns: Netns;
let hd: HostdFixture;
let sshd: SshdFixture;
let home: string;
/** The README's `export` lines: later commands run in the same terminal session as a user's would. */
let session = "";

beforeAll(async () => {
  announceAccelerator();
  ns = Netns.create();
  hd = await HostdFixture.start({ netns: ns.host });
  sshd = await SshdFixture.start();
  home = mkdtempSync("/tmp/pkvm-own-");
});
afterAll(async () => {
  // Whatever the test got to, nothing stays: the stack's objects go with hostd's cleanup.
  await hd?.cleanup();
  await sshd?.stop();
  ns?.cleanup();
  if (home) rmSync(home, { recursive: true, force: true });
});

interface Ran {
  code: number;
  output: string;
}

/** Runs `script` with bash in `cwd`, as a user's shell would: HOME is the fresh one, Node 24 and pulumi on PATH. */
function sh(script: string, cwd: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    // The user's environment (proxies, CA files), minus Pulumi settings of this run, with the fresh HOME.
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PULUMI_")));
    Object.assign(env, {
      PATH: `${path.dirname(NODE)}:${pulumiBinDir()}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: home,
      // Pulumi finds its home from the passwd entry (Go's osusergo), not $HOME: the fresh one, for this user too.
      PULUMI_HOME: path.join(home, ".pulumi"),
      // The machine's npm cache (not the fresh HOME's), so installing needs no second download.
      npm_config_cache: process.env.npm_config_cache ?? path.join(process.env.HOME ?? "/root", ".npm"),
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      NO_COLOR: "1",
    });
    const p = spawn("bash", ["-euo", "pipefail", "-c", `${session}\n${script}`], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    p.stdout.on("data", (d: Buffer) => (output += d.toString()));
    p.stderr.on("data", (d: Buffer) => (output += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? -1, output }));
  });
}

async function must(script: string, cwd: string): Promise<string> {
  const r = await sh(script, cwd);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${script}\n${r.output}`);
  return r.output;
}

test("the README's own-project commands, verbatim: pack, install into an empty project, preview, up, refresh --diff, up --target, destroy over SSH", async () => {
  const g = tinyGuest();
  mkdirSync(path.join(home, ".ssh"), { mode: 0o700 });
  writeFileSync(path.join(home, ".ssh", "id_ed25519"), sshd.userKeys.ed25519.privateKey, { mode: 0o600 });
  writeFileSync(path.join(home, ".ssh", "known_hosts"), `${sshd.knownHostsLine()}\n`);
  const ours: Record<string, string> = {
    "kvm:host": sshd.host,
    "kvm:port": String(sshd.port),
    "kvm:user": sshd.user,
    "kvm:socketPath": hd.socketPath,
    kernel: g.kernel,
    initrd: g.initrd,
    cmdline: g.cmdline,
  };
  const setup = readmeBlock("setup").replace(/^pulumi config set (\S+) .*$/gm, (line, key: string) =>
    key in ours ? `pulumi config set ${key} -- ${shq(ours[key]!)}` : line,
  );

  const packed = await must(readmeBlock("pack"), REPO);
  expect(packed).toMatch(/pulumi-kvm-0\.1\.0\.tgz/);
  await must(setup, home);
  session = setup.split("\n").filter((l) => l.startsWith("export ")).join("\n");
  const project = path.join(home, "my-vms");
  writeFileSync(path.join(project, "index.ts"), readmeBlock("program"));
  // Installed as a user gets it: a real copy with its commands, types and compiled code.
  const installed = JSON.parse(readFileSync(path.join(project, "node_modules", "pulumi-kvm", "package.json"), "utf8")) as { bin: Record<string, string> };
  expect(Object.keys(installed.bin).sort()).toEqual(["hostd", "pulumi-inline", "terraform-provider-kvm"]);
  expect(readFileSync(path.join(project, "node_modules", "pulumi-kvm", "dist", "provider", "index.d.ts"), "utf8")).toMatch(/Vm/);

  const run = readmeBlock("run").trim().split("\n");
  expect(run.map((l) => l.split(" ").slice(0, 3).join(" "))).toEqual([
    "npx pulumi-inline preview",
    "npx pulumi-inline up",
    "npx pulumi-inline refresh",
    "npx pulumi-inline up",
    "npx pulumi-inline destroy",
  ]);
  const [preview, up, refresh, upTarget, destroy] = run as [string, string, string, string, string];

  const pv = await must(preview, project);
  expect(pv).toMatch(/\+\s*4 to create/); // the stack and the three resources
  // The URN the README's `--target` names is the Vm's.
  expect(pv).toMatch(/\+ pulumi-nodejs:dynamic\/kvm:Vm: \(create\)\n\s*\[urn=urn:pulumi:dev::my-vms::pulumi-nodejs:dynamic\/kvm:Vm::web\]/);

  const u = await must(up, project);
  expect(u).toMatch(/\+\s*4 created/);
  const out = JSON.parse(await must("pulumi stack output --json", project)) as { state: string; vmName: string };
  expect(out.state).toBe("running");
  expect(hd.qemuPids()).toHaveLength(1);

  // Beyond the README: a preview whose host is down fails at preview with the connection error.
  await hd.kill("SIGTERM"); // hostd only: its VMs keep running
  const down = await sh("npx pulumi-inline preview --diff", project);
  expect(down.code).not.toBe(0);
  expect(down.output).toMatch(/cannot reach hostd at root@127\.0\.0\.1:\d+:\S+hostd\.sock/);
  // The same route now reaching another host (a hostd on a fresh state, so a new host id, on the same
  // socket): the preview fails with the identity error naming the recorded host and the one found.
  const recorded = hd.hostId;
  const impostor = await HostdFixture.start({ socketPath: hd.socketPath });
  try {
    expect(impostor.hostId).not.toBe(recorded);
    const wrong = await sh("npx pulumi-inline preview --diff", project);
    expect(wrong.code).not.toBe(0);
    expect(wrong.output).toMatch(
      new RegExp(`\\[wrong_host\\] (Vm|Disk|Network) "[^"]+" is on host ${recorded}, but root@127\\.0\\.0\\.1:\\d+:\\S+hostd\\.sock reaches host ${impostor.hostId}: nothing is planned`),
    );
    // Nothing was planned there: the other host got no object.
    const c = impostor.client();
    expect({ vms: (await c.vm.list()).vms, disks: (await c.disk.list()).disks, networks: (await c.network.list()).networks }).toEqual({ vms: [], disks: [], networks: [] });
  } finally {
    await impostor.cleanup();
  }
  await hd.start();

  // A VM killed behind Pulumi's back previews as a start, with the property that differs.
  const [qemu] = hd.qemuPids();
  process.kill(qemu!, "SIGKILL");
  await waitFor("QEMU to be gone", () => !hd.qemuPids().includes(qemu!), 30_000);
  const drift = await must("npx pulumi-inline preview --refresh --diff", project);
  expect(drift).toMatch(/running\s*:\s*false\s*=>\s*true/);
  expect(drift).toMatch(/Vm "[^"]+": it is crashed on the host \(running: false => true\), so the update starts it/);

  const r = await must(refresh, project);
  expect(r).toMatch(/running\s*:\s*true\s*=>\s*false/);
  // --target names the Vm by the URN the README gives: the engine updates it alone, and it runs again.
  const t = await must(upTarget, project);
  expect(t).toMatch(/~\s*1 updated/);
  expect(hd.qemuPids()).toHaveLength(1);

  const d = await must(destroy, project);
  expect(d).toMatch(/-\s*4 deleted/);
  expect(hd.qemuPids()).toEqual([]);
});
