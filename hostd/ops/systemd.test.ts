import { checkPlainAbsolute, InstallManifest, parseManifest, parseSystemdVersion, renderTmpfiles, renderUnit, systemdQuote } from "./systemd";

const manifest: InstallManifest = {
  version: 1,
  group: "hostd",
  gid: 995,
  createdGroup: true,
  stateDir: "/var/lib/hostd",
  socket: "/run/hostd/hostd.sock",
  runtimeDir: "/run/hostd",
  created: [{ kind: "state", dir: "/var/lib/hostd", top: "/var/lib/hostd" }],
};

test("the unit runs `node cli.js serve` as root with the socket group, and never kills VMs", () => {
  const u = renderUnit({ node: "/usr/bin/node", cli: "/opt/pulumi-kvm/dist/hostd/cli.js", manifest });
  expect(u).toContain(
    "\nExecStart=/usr/bin/node /opt/pulumi-kvm/dist/hostd/cli.js serve --socket /run/hostd/hostd.sock --state-dir /var/lib/hostd --socket-group 995\n",
  );
  expect(u).toMatch(/^KillMode=process$/m);
  expect(u).toMatch(/^Restart=on-failure$/m);
  expect(u).toMatch(/^WantedBy=multi-user.target$/m);
  expect(u).not.toMatch(/^User=/m); // root
  // The why of KillMode=process is in the unit itself, just above it.
  expect(u).toMatch(/# .*KillMode=control-group[\s\S]*every\n# VM[\s\S]*\nKillMode=process/);
});

test("the unit delegates its cgroup to hostd; DelegateSubgroup= only where systemd knows it (254+)", () => {
  const newer = renderUnit({ node: "/n", cli: "/c.js", manifest, systemdVersion: 256 });
  expect(newer).toMatch(/^Delegate=yes\nDelegateSubgroup=hostd$/m);
  // Debian 12's systemd 252 would warn about an unknown key: left out, and the unit says what that means.
  for (const v of [252, undefined]) {
    const older = renderUnit({ node: "/n", cli: "/c.js", manifest, systemdVersion: v });
    expect(older).toMatch(/^Delegate=yes$/m);
    expect(older).not.toMatch(/DelegateSubgroup=hostd/);
    expect(older).toMatch(/no DelegateSubgroup=, so on cgroup v2 the VMs\n# share hostd's cgroup/);
  }
  expect(parseSystemdVersion("systemd 252 (252.39-1~deb12u2)\n+PAM +AUDIT\n")).toBe(252);
  expect(parseSystemdVersion("bash: systemctl: not found")).toBeUndefined();
});

test("the manifest survives a round trip through the unit; anything else is not ours", () => {
  const u = renderUnit({ node: "/n", cli: "/c.js", manifest });
  expect(parseManifest(u)).toEqual(manifest);
  expect(parseManifest("[Unit]\nDescription=someone else's\n")).toBeUndefined();
  expect(parseManifest("# hostd-install-manifest: {not json\n")).toBeUndefined();
  expect(parseManifest('# hostd-install-manifest: {"version":2}\n')).toBeUndefined();
  expect(parseManifest(`# hostd-install-manifest: ${JSON.stringify({ ...manifest, created: [{ kind: "x", dir: "/", top: "/" }] })}\n`)).toBeUndefined();
});

test("tmpfiles entry makes the socket directory at boot", () => {
  expect(renderTmpfiles("/run/hostd")).toMatch(/^d \/run\/hostd 0755 root root -$/m);
});

test("systemd quoting of Exec words", () => {
  expect(systemdQuote("/usr/bin/node")).toBe("/usr/bin/node");
  expect(systemdQuote("/a b/c")).toBe('"/a b/c"');
  expect(systemdQuote("50%")).toBe("50%%");
  expect(systemdQuote("$HOME")).toBe("$$HOME");
  expect(systemdQuote('a"b')).toBe('"a\\"b"');
  expect(systemdQuote("")).toBe('""');
});

test("paths written unquoted must be absolute and plain", () => {
  expect(checkPlainAbsolute("--state-dir", "/var/lib/hostd")).toBeUndefined();
  expect(checkPlainAbsolute("--state-dir", "rel/dir")).toMatch(/absolute/);
  expect(checkPlainAbsolute("--socket", "/run/my hostd/s.sock")).toMatch(/blanks/);
  expect(checkPlainAbsolute("--socket", "/run/x\n")).toMatch(/must not/);
});
