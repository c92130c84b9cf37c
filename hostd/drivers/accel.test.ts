import { chooseAccelerator, HostFacts } from "./accel";

const none = { kvm_intel: false, kvm_amd: false, kvm_pvm: false };

test("our CI machines: /dev/kvm from kvm_pvm without vmx/svm → TCG with a warning", () => {
  const facts: HostFacts = { kvmDevice: true, cpuFlags: { vmx: false, svm: false }, modules: { ...none, kvm_pvm: true } };
  const c = chooseAccelerator(facts);
  expect(c.kind).toBe("tcg");
  expect(c.reason).toContain("kvm_pvm");
  expect(c.warning).toMatch(/TCG/);
});

test("Intel host with kvm_intel → KVM", () => {
  const c = chooseAccelerator({ kvmDevice: true, cpuFlags: { vmx: true, svm: false }, modules: { ...none, kvm_intel: true } });
  expect(c).toMatchObject({ kind: "kvm" });
  expect(c.warning).toBeUndefined();
});

test("AMD host with kvm_amd → KVM", () => {
  expect(chooseAccelerator({ kvmDevice: true, cpuFlags: { vmx: false, svm: true }, modules: { ...none, kvm_amd: true } }).kind).toBe("kvm");
});

test("flags but no module, or module but no device → TCG", () => {
  expect(chooseAccelerator({ kvmDevice: true, cpuFlags: { vmx: true, svm: false }, modules: none }).kind).toBe("tcg");
  expect(chooseAccelerator({ kvmDevice: false, cpuFlags: { vmx: true, svm: false }, modules: { ...none, kvm_intel: true } }).kind).toBe("tcg");
});

test("operator overrides", () => {
  const usable: HostFacts = { kvmDevice: true, cpuFlags: { vmx: true, svm: false }, modules: { ...none, kvm_intel: true } };
  expect(chooseAccelerator(usable, "tcg").kind).toBe("tcg");
  const forced = chooseAccelerator({ kvmDevice: false, cpuFlags: { vmx: false, svm: false }, modules: none }, "kvm");
  expect(forced.kind).toBe("kvm");
  expect(forced.warning).toMatch(/does not look usable/);
});
