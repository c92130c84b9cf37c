import { isKvmError } from "../../sdk/errors";
import { checkCapacity } from "./vm-capacity";

const host = { cpus: 2, memoryMiB: 4096, overcommit: false };

test("one VM with more vCPUs than the host has CPUs, or more memory than it has, is refused with the host's figures", () => {
  expect(() => checkCapacity({ name: "big", vcpus: 3, memoryMiB: 512 }, host)).toThrow(/VM "big" asks for 3 vCPUs, but this host has 2 CPUs: give it at most 2, or start hostd with --allow-overcommit/);
  try {
    checkCapacity({ name: "fat", vcpus: 1, memoryMiB: 4097 }, host);
    throw new Error("not refused");
  } catch (e) {
    expect(isKvmError(e, "over_capacity")).toBe(true);
    expect((e as Error).message).toMatch(/4097 MiB of memory, but this host has 4096 MiB in all/);
    expect((e as { details: unknown }).details).toEqual({ vcpus: 1, memoryMiB: 4097, hostCpus: 2, hostMemoryMiB: 4096 });
  }
});

test("a VM the size of the host is allowed, and with overcommit a larger one too", () => {
  expect(() => checkCapacity({ name: "whole", vcpus: 2, memoryMiB: 4096 }, host)).not.toThrow();
  expect(() => checkCapacity({ name: "big", vcpus: 64, memoryMiB: 1 << 20 }, { ...host, overcommit: true })).not.toThrow();
});
