import { NetworkInterface, VmSpec } from "../../sdk/protocol";
import { KvmError } from "../../sdk/errors";
import { FIRST_NIC_SLOT, MAX_NICS } from "../drivers/qemu-argv";
import { assignNics, derivedMac, nicHotplugPlan, qemuNics, tapName } from "./vm-devices";

const ID = "0b7c7b6e-3c1f-4d39-9d0b-6a1f7e0c2a11";
const net = (network: string, extra: { mac?: string; ip?: string; model?: "virtio" | "e1000e" } = {}): NetworkInterface => ({ network, model: "virtio", ...extra });
const user = (extra: { mac?: string } = {}): NetworkInterface => ({ type: "user", model: "virtio", portForwards: [], ...extra });

test("derivedMac: QEMU's prefix, stable, different per VM and index", () => {
  expect(derivedMac(ID, 0)).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
  expect(derivedMac(ID, 0)).toBe(derivedMac(ID, 0));
  expect(new Set([derivedMac(ID, 0), derivedMac(ID, 1), derivedMac(ID, 2), derivedMac("other", 0)]).size).toBe(4);
});

test("a new VM's NICs get derived MACs 0.. and root ports from FIRST_NIC_SLOT", () => {
  expect(FIRST_NIC_SLOT).toBe(10);
  const r = assignNics(ID, [], [net("a"), user(), net("b")], {});
  expect(r).toEqual({
    nics: [
      { mac: derivedMac(ID, 0), slot: 10 },
      { mac: derivedMac(ID, 1), slot: 11 },
      { mac: derivedMac(ID, 2), slot: 12 },
    ],
    nextNicIndex: 3,
  });
});

test("removing the first NIC keeps the second's MAC and port; a NIC added later gets a fresh MAC", () => {
  const v1 = [net("a"), net("b")];
  const r1 = assignNics(ID, [], v1, {});
  const v2 = [net("b")];
  const r2 = assignNics(ID, v1, v2, { nics: r1.nics, nextNicIndex: r1.nextNicIndex });
  expect(r2).toEqual({ nics: [r1.nics[1]], nextNicIndex: 2 });

  const v3 = [net("b"), net("c")];
  const r3 = assignNics(ID, v2, v3, { nics: r2.nics, nextNicIndex: r2.nextNicIndex });
  expect(r3.nics[0]).toEqual(r1.nics[1]);
  // The freed port is reused, the removed NIC's MAC is not.
  expect(r3.nics[1]).toEqual({ mac: derivedMac(ID, 2), slot: 10 });
  expect(r3.nics[1]!.mac).not.toBe(r1.nics[0]!.mac);
  expect(r3.nextNicIndex).toBe(3);
});

test("an explicit MAC is kept and follows its NIC across a reorder", () => {
  const mac = "52:54:00:12:34:56";
  const before = [net("a", { mac }), net("b")];
  const r1 = assignNics(ID, [], before, {});
  expect(r1.nics).toEqual([
    { mac, slot: 10 },
    { mac: derivedMac(ID, 0), slot: 11 },
  ]);
  const r2 = assignNics(ID, before, [net("b"), net("a", { mac })], { nics: r1.nics, nextNicIndex: r1.nextNicIndex });
  expect(r2.nics).toEqual([r1.nics[1], r1.nics[0]]);
  expect(r2.nextNicIndex).toBe(r1.nextNicIndex);
});

test("a derived MAC never collides with an explicit one", () => {
  const r = assignNics(ID, [], [net("a", { mac: derivedMac(ID, 0) }), net("b")], {});
  expect(r.nics).toEqual([
    { mac: derivedMac(ID, 0), slot: 10 },
    { mac: derivedMac(ID, 1), slot: 11 },
  ]);
  expect(r.nextNicIndex).toBe(2);
});

test("VMs from before placements were kept: NIC i had derivedMac(id, i) and port 10 + i", () => {
  const before = [net("a"), user(), net("c", { mac: "52:54:00:00:00:0c" })];
  const r = assignNics(ID, before, before, {});
  expect(r).toEqual({
    nics: [
      { mac: derivedMac(ID, 0), slot: 10 },
      { mac: derivedMac(ID, 1), slot: 11 },
      { mac: "52:54:00:00:00:0c", slot: 12 },
    ],
    nextNicIndex: 3,
  });
  // Dropping the first legacy NIC keeps the others where they were, and a new one does not get index 0 back.
  const r2 = assignNics(ID, before, [user(), net("d")], {});
  expect(r2.nics).toEqual([
    { mac: derivedMac(ID, 1), slot: 11 },
    { mac: derivedMac(ID, 3), slot: 10 },
  ]);
});

test(`more than MAX_NICS (${MAX_NICS}) NICs are refused`, () => {
  const many = Array.from({ length: MAX_NICS + 1 }, (_, i) => net(`n${i}`));
  expect(() => assignNics(ID, [], many, {})).toThrow(KvmError);
  try {
    assignNics(ID, [], many, {});
  } catch (e) {
    expect((e as KvmError).code).toBe("invalid_params");
  }
  expect(assignNics(ID, [], many.slice(0, MAX_NICS), {}).nics.map((n) => n.slot)).toEqual([10, 11, 12, 13, 14]);
});

test("tapName: kvt- + 10 hex digits, within the kernel's 15, stable per VM and MAC", () => {
  const t = tapName(ID, "52:54:00:12:34:56");
  expect(t).toMatch(/^kvt-[0-9a-f]{10}$/);
  expect(t.length).toBeLessThanOrEqual(15);
  expect(tapName(ID, "52:54:00:12:34:56")).toBe(t);
  expect(tapName(ID, "52:54:00:12:34:57")).not.toBe(t);
  expect(tapName("other", "52:54:00:12:34:56")).not.toBe(t);
});

describe("QEMU's view and hot-plug", () => {
  const spec = (networkInterfaces: unknown[]) => VmSpec.parse({ name: "x", kernel: { path: "/k" }, networkInterfaces });
  function view(nics: unknown[], prev?: { spec: VmSpec; nics: ReturnType<typeof assignNics> }) {
    const s = spec(nics);
    const placed = assignNics(ID, prev?.spec.networkInterfaces ?? [], s.networkInterfaces, prev ? { nics: prev.nics.nics, nextNicIndex: prev.nics.nextNicIndex } : {});
    return { spec: s, nics: placed, qemu: qemuNics(ID, s, placed.nics, true) };
  }

  test("qemuNics: tap for network NICs, user netdev with forwards for user NICs, ids follow the port", () => {
    const v = view([{ network: "lab" }, { type: "user", portForwards: [{ hostPort: 2222, guestPort: 22 }] }]);
    const mac0 = derivedMac(ID, 0);
    expect(v.qemu).toEqual([
      { id: "nic0", mac: mac0, slot: 10, model: "virtio", netdev: { type: "tap", ifname: tapName(ID, mac0), vhost: true, network: "lab" } },
      {
        id: "nic1",
        mac: derivedMac(ID, 1),
        slot: 11,
        model: "virtio",
        netdev: { type: "user", hostForwards: [{ protocol: "tcp", hostAddress: "127.0.0.1", hostPort: 2222, guestPort: 22 }] },
      },
    ]);
    expect(qemuNics(ID, v.spec, v.nics.nics, false)[0]!.netdev).toEqual({ type: "tap", ifname: tapName(ID, mac0), vhost: false, network: "lab" });
    // After removing the first NIC, the second keeps its device id.
    const v2 = view([{ type: "user", portForwards: [{ hostPort: 2222, guestPort: 22 }] }], v);
    expect(v2.qemu).toEqual([v.qemu[1]]);
  });

  test("only a static ip changed: nothing to hot-plug", () => {
    const v1 = view([{ network: "lab" }, { network: "lab2" }]);
    const v2 = view([{ network: "lab", ip: "10.20.0.5" }, { network: "lab2" }], v1);
    expect(nicHotplugPlan(v1.qemu, v2.qemu)).toEqual({ attach: [], detach: [] });
  });

  test("a model change replaces that NIC only; a removal only detaches", () => {
    const v1 = view([{ network: "lab" }, { network: "lab2" }]);
    const v2 = view([{ network: "lab" }, { network: "lab2", model: "e1000e" }], v1);
    expect(nicHotplugPlan(v1.qemu, v2.qemu)).toEqual({ attach: [v2.qemu[1]], detach: [v1.qemu[1]] });
    expect(v2.qemu[1]!.mac).toBe(v1.qemu[1]!.mac);
    const v3 = view([{ network: "lab2" }], v1);
    expect(nicHotplugPlan(v1.qemu, v3.qemu)).toEqual({ attach: [], detach: [v1.qemu[0]] });
  });
});

test("moving a NIC with an explicit MAC to another network replaces its device (its tap changes bridge)", () => {
  const mac = "52:54:00:12:34:56";
  const spec = (network: string) => VmSpec.parse({ name: "v", kernel: { path: "/k" }, networkInterfaces: [{ network, mac }] });
  const a = spec("lab-a");
  const b = spec("lab-b");
  const pa = assignNics(ID, [], a.networkInterfaces, {});
  const pb = assignNics(ID, a.networkInterfaces, b.networkInterfaces, { nics: pa.nics, nextNicIndex: pa.nextNicIndex });
  const plan = nicHotplugPlan(qemuNics(ID, a, pa.nics, false), qemuNics(ID, b, pb.nics, false));
  expect(plan.detach.map((n) => n.mac)).toEqual([mac]);
  expect(plan.attach.map((n) => n.netdev.type === "tap" && n.netdev.network)).toEqual(["lab-b"]);
});
