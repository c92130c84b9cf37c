import { classifyExit } from "./vm-exit";

test("hostd's own stops, guest power-offs and host signals come from QEMU's SHUTDOWN event", () => {
  expect(classifyExit({ stopRequested: true, oomKilled: false, status: { code: null, signal: "SIGKILL" } }).reason).toBe("hostd-stop");
  expect(classifyExit({ stopRequested: false, oomKilled: false, shutdown: { guest: true, reason: "guest-shutdown" } }).reason).toBe("guest-shutdown");
  expect(classifyExit({ stopRequested: false, oomKilled: false, shutdown: { guest: false, reason: "host-signal" } }).reason).toBe("host-signal");
});

test("without a SHUTDOWN event the exit status tells a kill, an OOM kill and a crash apart", () => {
  expect(classifyExit({ stopRequested: false, oomKilled: false, status: { code: null, signal: "SIGKILL" } })).toMatchObject({ reason: "killed", detail: expect.stringContaining("SIGKILL") });
  expect(classifyExit({ stopRequested: false, oomKilled: true, status: { code: null, signal: "SIGKILL" } }).reason).toBe("oom-killed");
  expect(classifyExit({ stopRequested: false, oomKilled: false, status: { code: null, signal: "SIGSEGV" } })).toMatchObject({ reason: "crashed", detail: "QEMU died of SIGSEGV" });
  expect(classifyExit({ stopRequested: false, oomKilled: false, status: { code: 1, signal: null } })).toMatchObject({ reason: "crashed", detail: expect.stringContaining("code 1") });
});

test("when hostd was not QEMU's parent (it restarted), only the OOM counter can say more than 'vanished'", () => {
  expect(classifyExit({ stopRequested: false, oomKilled: false }).reason).toBe("vanished");
  expect(classifyExit({ stopRequested: false, oomKilled: true }).reason).toBe("oom-killed");
});
