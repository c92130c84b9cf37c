import { check, diff, UNKNOWN, VmInputs, VmOutputs } from "./vm-provider";

// diff asks the host (provider/reachable.ts); these tests are of the diff rules alone.
jest.mock("./reachable", () => ({ mustReach: async () => undefined }));

const kernel = { path: "/k/vmlinuz" };

describe("check", () => {
  test("fills defaults and generates a stable name from the prefix", async () => {
    const r = await check({}, { namePrefix: "Web Server", kernel });
    expect(r.failures).toEqual([]);
    expect(r.inputs).toMatchObject({ vcpus: 1, memoryMiB: 512, running: true, timeoutSeconds: 300, kernel });
    expect(r.inputs.name).toMatch(/^web-server-[0-9a-f]{7}$/);
    // Kept on the next run, so an update never renames (and so replaces) the VM.
    const again = await check({ ...r.inputs } as Partial<VmOutputs>, { namePrefix: "Web Server", kernel, memoryMiB: 1024 });
    expect(again.inputs.name).toBe(r.inputs.name);
  });

  test("an explicit name wins", async () => {
    expect((await check({}, { name: "db", namePrefix: "x", kernel })).inputs.name).toBe("db");
  });

  test("reports each bad field with a stable code", async () => {
    const r = await check({}, { name: "Bad_Name", memoryMiB: -1, vcpus: 1000, kernel: { path: "../x" }, cpuFlavor: "host" });
    const byProp = Object.fromEntries(r.failures!.map((f) => [f.property, f.reason]));
    expect(Object.keys(byProp).sort()).toEqual(["cpuFlavor", "kernel.path", "memoryMiB", "name", "vcpus"].sort());
    expect(byProp.cpuFlavor).toMatch(/cpuFlavor: is not an input of this resource/);
    for (const reason of Object.values(byProp)) expect(reason).toMatch(/^\[invalid_params\] /);
  });

  test("unknown inputs are named, at the top and inside objects", async () => {
    const r = await check({}, { name: "x", kernel: { path: "/k", cmdLine: "console=ttyS0" } });
    expect(r.failures!.map((f) => f.property)).toEqual(["kernel.cmdLine"]);
  });

  test("user-data that is not valid UTF-8 (a lone surrogate, which is what lenient decoding of bad bytes leaves) is refused", async () => {
    const r = await check({}, { name: "x", kernel, cloudInit: { userData: "#cloud-config\n\uD800" } });
    expect(r.failures!.map((f) => f.property)).toEqual(["cloudInit.userData"]);
    expect(r.failures![0]!.reason).toMatch(/valid UTF-8/);
  });

  test("a missing kernel is reported", async () => {
    const r = await check({}, { name: "x" });
    expect(r.failures!.map((f) => f.property)).toContain("kernel");
  });

  test("unknown values during preview are tolerated; known ones are still checked", async () => {
    const ok = await check({}, { name: "x", memoryMiB: UNKNOWN, kernel: { path: UNKNOWN } });
    expect(ok.failures).toEqual([]);
    const bad = await check({}, { name: "x", memoryMiB: UNKNOWN, vcpus: -1, kernel: { path: UNKNOWN } });
    expect(bad.failures!.map((f) => f.property)).toEqual(["vcpus"]);
  });

  test("connection settings are validated too", async () => {
    const r = await check({}, { name: "x", kernel, connection: { host: "a b", hostKey: "md5:xx" } });
    expect(r.failures!.map((f) => f.property).sort()).toEqual(["connection.host", "connection.hostKey"]);
  });
});

describe("diff", () => {
  const olds: VmOutputs = {
    name: "web-1",
    namePrefix: "web",
    cpuModel: "host",
    vcpus: 1,
    memoryMiB: 128,
    running: true,
    kernel,
    firmware: "bios",
    disks: [],
    networkInterfaces: [],
    guestAgent: true,
    restartPolicy: "never",
    waitFor: "running",
    timeoutSeconds: 300,
    stopTimeoutSeconds: 60,
    vmId: "11111111-2222-3333-4444-555555555555",
    hostId: "99999999-2222-3333-4444-555555555555",
    host: "unix:/run/hostd/hostd.sock",
    route: {},
    state: "running",
    accelerator: "tcg",
    pid: 1,
    qemuStatus: "running",
    lastExit: null,
    macAddresses: [],
    nics: [],
    ipAddress: null,
    ipAddresses: [],
    guestHostname: null,
    guestOs: null,
  };
  const news: VmInputs = {
    name: "web-1",
    namePrefix: "web",
    cpuModel: "host",
    vcpus: 1,
    memoryMiB: 128,
    running: true,
    kernel,
    firmware: "bios",
    disks: [],
    networkInterfaces: [],
    guestAgent: true,
    restartPolicy: "never",
    waitFor: "running",
    timeoutSeconds: 300,
    stopTimeoutSeconds: 60,
  };

  test("no change", async () => {
    expect(await diff("id", olds, news)).toMatchObject({ changes: false, replaces: [] });
  });

  test("memory and vcpus update in place (and say the VM restarts)", async () => {
    const log = jest.spyOn(console, "log").mockImplementation(() => undefined);
    const d = await diff("id", olds, { ...news, memoryMiB: 256, vcpus: 2 });
    expect(d).toMatchObject({ changes: true, replaces: [] });
    expect(log.mock.calls.join(" ")).toContain("restarts the running VM in place");
    log.mockRestore();
  });

  test("vCPUs and memory raised within their room say hot-plug; past it, or lowered, restart", async () => {
    const log = jest.spyOn(console, "log").mockImplementation(() => undefined);
    const roomy = { ...olds, vcpus: 1, maxVcpus: 4, memoryMiB: 256, maxMemoryMiB: 1024 };
    await diff("id", roomy, { ...news, vcpus: 2, maxVcpus: 4, memoryMiB: 512, maxMemoryMiB: 1024 });
    expect(log.mock.calls.join(" ")).toContain("vcpus 1 → 2 and memoryMiB 256 → 512 by hot-plug into the running VM");
    expect(log.mock.calls.join(" ")).not.toContain("restarts");
    log.mockClear();
    await diff("id", roomy, { ...news, vcpus: 1, maxVcpus: 4, memoryMiB: 200, maxMemoryMiB: 1024 });
    expect(log.mock.calls.join(" ")).toContain("changing memoryMiB restarts the running VM in place");
    log.mockClear();
    // Not a whole 128 MiB block: a restart.
    await diff("id", roomy, { ...news, vcpus: 1, maxVcpus: 4, memoryMiB: 300, maxMemoryMiB: 1024 });
    expect(log.mock.calls.join(" ")).toContain("changing memoryMiB restarts");
    log.mockRestore();
  });

  test("disks: a virtio or scsi one added says hot-plug; a sata one added or removed, or kept disks reordered, says restart", async () => {
    const log = jest.spyOn(console, "log").mockImplementation(() => undefined);
    const said = async (before: VmOutputs["disks"], after: VmInputs["disks"]) => {
      log.mockClear();
      expect(await diff("id", { ...olds, disks: before }, { ...news, disks: after })).toMatchObject({ changes: true, replaces: [] });
      return log.mock.calls.join(" ");
    };
    const a = { disk: "a", bus: "virtio" as const };
    const b = { disk: "b", bus: "virtio" as const };
    for (const bus of ["virtio", "scsi"] as const) {
      const text = await said([a], [a, { disk: "data", bus }]);
      expect(text).toContain("disks change on the running VM by hot-plug");
      expect(text).not.toContain("restarts");
    }
    expect(await said([a], [a, { disk: "data", bus: "sata" }])).toContain("changing disks restarts the running VM in place");
    expect(await said([a, { disk: "data", bus: "sata" }], [a])).toContain("changing disks restarts the running VM in place");
    // Boot order is disk order: swapping the two is a restart too.
    expect(await said([a, b], [b, a])).toContain("changing disks restarts the running VM in place");
    log.mockRestore();
  });

  test("a crashed VM (running: false after refresh) is an update, not a replacement", async () => {
    expect(await diff("id", { ...olds, running: false, state: "crashed" }, news)).toMatchObject({ changes: true, replaces: [] });
  });

  test("a new name replaces, creating the new VM first (the names differ)", async () => {
    expect(await diff("id", olds, { ...news, name: "web-2" })).toMatchObject({ replaces: ["name"], deleteBeforeReplace: false });
  });

  test("any replacement that keeps the name on the same host deletes first", async () => {
    expect((await diff("id", olds, { ...news, memoryMiB: 256 })).deleteBeforeReplace).toBe(true);
  });

  test("outputs that are not inputs are ignored", async () => {
    expect(await diff("id", { ...olds, pid: 999, state: "paused" }, news)).toMatchObject({ changes: false, replaces: [] });
  });

  test("a new route to a host that cannot be asked for its id fails the diff instead of planning a replacement", async () => {
    // A socket path where nothing listens: the provider must ask before it plans.
    const connection = { transport: "local" as const, socketPath: "/nonexistent/hostd.sock" };
    await expect(diff("id", olds, { ...news, connection })).rejects.toThrow(/could not be asked for its id.*Nothing is planned/s);
  });

  test("state from before host ids cannot be moved without a refresh", async () => {
    const { hostId: _h, ...legacy } = olds;
    await expect(diff("id", legacy as VmOutputs, { ...news, connection: { transport: "local", socketPath: "/elsewhere.sock" } })).rejects.toThrow(/pulumi refresh/);
  });
});
