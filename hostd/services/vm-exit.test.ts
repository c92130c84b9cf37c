import { classifyExit } from "./vm-exit";

test("hostd's own stops, guest power-offs and host signals come from QEMU's SHUTDOWN event", () => {
  expect(classifyExit({ stopRequested: true, oomKilled: false, status: { code: null, signal: "SIGKILL" } }).reason).toBe("hostd-stop");
  expect(classifyExit({ stopRequested: false, oomKilled: false, shutdown: { guest: true, reason: "guest-shutdown" } }).reason).toBe("guest-shutdown");
  expect(classifyExit({ stopRequested: false, oomKilled: false, shutdown: { guest: false, reason: "host-signal" } }).reason).toBe("host-signal");
});

test("a quit hostd did not send came over the operators' QMP socket: the operator's, not hostd's, and not a crash", () => {
  const quit = classifyExit({ stopRequested: false, oomKilled: false, shutdown: { guest: false, reason: "host-qmp-quit" }, status: { code: 0, signal: null } });
  expect(quit).toMatchObject({ reason: "operator-quit", detail: expect.stringContaining("operators' QMP socket") });
  // The same event while hostd was stopping the VM is hostd's own quit.
  expect(classifyExit({ stopRequested: true, oomKilled: false, shutdown: { guest: false, reason: "host-qmp-quit" } }).reason).toBe("hostd-stop");
  // Another host-side reason is named, never passed off as hostd's stop.
  expect(classifyExit({ stopRequested: false, oomKilled: false, shutdown: { guest: false, reason: "host-error" } })).toMatchObject({ reason: "crashed", detail: expect.stringContaining("host-error") });
});

test("without a SHUTDOWN event the exit status and QEMU's own OOM counter tell a kill, an OOM kill and a crash apart", () => {
  expect(classifyExit({ stopRequested: false, oomKilled: false, status: { code: null, signal: "SIGKILL" } })).toMatchObject({ reason: "killed", detail: expect.stringContaining("SIGKILL") });
  expect(classifyExit({ stopRequested: false, oomKilled: true, status: { code: null, signal: "SIGKILL" } }).reason).toBe("oom-killed");
  expect(classifyExit({ stopRequested: false, oomKilled: false, status: { code: null, signal: "SIGSEGV" } })).toMatchObject({ reason: "crashed", detail: "QEMU died of SIGSEGV" });
  expect(classifyExit({ stopRequested: false, oomKilled: false, status: { code: 1, signal: null } })).toMatchObject({ reason: "crashed", detail: expect.stringContaining("code 1") });
});

test("a SIGKILL where QEMU has no cgroup of its own is not guessed: hostd says it cannot tell", () => {
  expect(classifyExit({ stopRequested: false, oomKilled: undefined, status: { code: null, signal: "SIGKILL" } })).toMatchObject({
    reason: "killed-or-oom",
    detail: expect.stringContaining("cannot tell"),
  });
});

test("when hostd was not QEMU's parent (it restarted), only the OOM counter can say more than 'vanished'", () => {
  expect(classifyExit({ stopRequested: false, oomKilled: false }).reason).toBe("vanished");
  expect(classifyExit({ stopRequested: false, oomKilled: undefined }).reason).toBe("vanished");
  expect(classifyExit({ stopRequested: false, oomKilled: true }).reason).toBe("oom-killed");
});
