import type { QemuCaps } from "../drivers/qemu-caps";
import { cpuModelProblem, liveCpuProblem, usableModels } from "./vm-cpu";

// Shaped as this machine's QEMU 7.2 answers under TCG (Skylake-Server lacks pcid, x2apic, ...).
const tcg: QemuCaps = {
  native: "max",
  features: ["avx", "avx2", "sse4.2", "x2apic"].sort(),
  machines: ["pc-q35-7.2"],
  q35: "pc-q35-7.2",
  models: new Map([
    ["qemu64", []],
    ["kvm64", []],
    ["Skylake-Server", ["hle", "invpcid", "pcid", "tsc-deadline", "x2apic"]],
  ]),
};

test("a named model starts only where the host has all of it; the error names what is missing and what is usable", () => {
  expect(cpuModelProblem("web", "qemu64", tcg)).toBeUndefined();
  expect(cpuModelProblem("web", "host", tcg)).toBeUndefined();
  expect(cpuModelProblem("web", undefined, tcg)).toBeUndefined();
  expect(cpuModelProblem("web", "Skylake-Server", tcg)).toBe(
    `VM "web" asks for CPU model "Skylake-Server", but this host's CPU lacks 5 of its features (hle, invpcid, pcid, tsc-deadline, x2apic): pick a model this host has all of (kvm64, qemu64), or "host"`,
  );
  expect(cpuModelProblem("web", "Nehalem", tcg)).toContain(`which this host's QEMU does not know`);
  expect(cpuModelProblem("web", "qemu64", { ...tcg, models: new Map(), error: "exit 1" })).toContain("could not be asked which models it has (exit 1)");
  expect(usableModels(tcg)).toEqual(["kvm64", "qemu64"]);
});

test("a running VM with the host's own CPU moves live only to a host with exactly the features it booted with", () => {
  expect(liveCpuProblem("web", "host", tcg.features, tcg)).toBeUndefined();
  expect(liveCpuProblem("web", "host", ["avx", "sse4.2"], tcg)).toContain("has 2 it never saw (avx2, x2apic)");
  const problem = liveCpuProblem("web", "host", ["avx", "avx512f", "sha-ni"], tcg);
  expect(problem).toContain("lacks 2 of the features the guest booted with (avx512f, sha-ni) and has 3 it never saw (avx2, sse4.2, x2apic)");
  expect(problem).toContain("this host has kvm64, qemu64");
  // A named model is the same CPU everywhere it starts; a stopped VM boots afresh.
  expect(liveCpuProblem("web", "qemu64", ["avx512f"], tcg)).toBeUndefined();
  expect(liveCpuProblem("web", "host", null, tcg)).toBeUndefined();
});

test("a long list of missing features is cut, saying how many more", () => {
  const many = Array.from({ length: 20 }, (_, i) => `f${String(i).padStart(2, "0")}`);
  expect(liveCpuProblem("web", "host", many, tcg)).toContain("f11, … 8 more");
});
