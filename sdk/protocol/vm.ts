/**
 * Virtual machine methods. `VmCreate` is the whole desired spec; `VmUpdate`
 * names the fields to change. Both are strict: unknown fields are errors,
 * so a typo never silently does nothing.
 */
import { z } from "zod";
import { Accelerator } from "./host";
import { HostPath, Name, Timestamp } from "./common";
import { defineMethod } from "./method";

export const VM_LIMITS = {
  minVcpus: 1,
  maxVcpus: 128,
  /** Below this no ordinary kernel even unpacks. */
  minMemoryMiB: 64,
  /** 1 TiB. */
  maxMemoryMiB: 1024 * 1024,
  /** x86 COMMAND_LINE_SIZE. */
  maxCmdlineBytes: 2048,
} as const;

export const Vcpus = z.int().min(VM_LIMITS.minVcpus).max(VM_LIMITS.maxVcpus);
export const MemoryMiB = z.int().min(VM_LIMITS.minMemoryMiB).max(VM_LIMITS.maxMemoryMiB);

/** Kernel command line: printable ASCII only, bounded by the kernel's own limit. */
export const KernelCmdline = z
  .string()
  .max(VM_LIMITS.maxCmdlineBytes)
  .regex(/^[\x20-\x7e]*$/, "must be printable ASCII without control characters");

/** Direct kernel boot: QEMU loads the kernel (and initrd) from host files. */
export const KernelBoot = z.strictObject({
  /** Path of the kernel image (bzImage) on the host. */
  path: HostPath,
  /** Path of the initrd on the host. */
  initrd: HostPath.optional(),
  cmdline: KernelCmdline.optional(),
});
export type KernelBoot = z.infer<typeof KernelBoot>;

/**
 * The desired spec of a VM. Disks, firmware, cloud-init and network
 * interfaces join this object in later protocol versions (announced as
 * capabilities); a VM then needs exactly one boot source.
 */
export const VmSpec = z.strictObject({
  name: Name,
  vcpus: Vcpus.default(1),
  memoryMiB: MemoryMiB.default(512),
  /** Desired power state. */
  running: z.boolean().default(true),
  /** Direct kernel boot source. Required until disk boot exists. */
  kernel: KernelBoot,
});
export type VmSpec = z.output<typeof VmSpec>;
export type VmSpecInput = z.input<typeof VmSpec>;

export const VmCreate = VmSpec;

export const VmUpdate = z
  .strictObject({
    name: Name,
    vcpus: Vcpus.optional(),
    memoryMiB: MemoryMiB.optional(),
    running: z.boolean().optional(),
    kernel: KernelBoot.optional(),
    /** How long a graceful shutdown may take before power-off, when a restart is needed. */
    stopTimeoutSeconds: z.int().min(0).max(3600).optional(),
  })
  .refine((u) => Object.keys(u).some((k) => k !== "name" && k !== "stopTimeoutSeconds"), {
    message: "an update must change at least one of vcpus, memoryMiB, running, kernel",
  });
export type VmUpdate = z.output<typeof VmUpdate>;

export const VmState = z.enum([
  /** QEMU is running the guest. */
  "running",
  /** QEMU is alive but the guest is paused or in an error state (see qemuStatus). */
  "paused",
  /** No QEMU process; the VM was stopped (by the user, hostd or the guest). */
  "stopped",
  /** No QEMU process, and nobody asked it to stop: it crashed or was killed (see lastExit). */
  "crashed",
]);
export type VmState = z.infer<typeof VmState>;

export const ExitReason = z.enum([
  /** The guest powered itself off. */
  "guest-shutdown",
  /** hostd stopped it on request (vm.stop, vm.update restart, vm.delete). */
  "hostd-stop",
  /** Someone on the host signalled QEMU to quit (SIGTERM, SIGINT, SIGHUP). */
  "host-signal",
  /** The process vanished without a shutdown event: killed or crashed. */
  "vanished",
]);
export type ExitReason = z.infer<typeof ExitReason>;

export const VmInfo = z.strictObject({
  /** hostd's id for this VM; stable for the VM's life, new if it is recreated. */
  id: z.uuid(),
  name: Name,
  spec: VmSpec,
  state: VmState,
  /** QMP run state (`running`, `paused`, `internal-error`, ...) when QEMU is alive. */
  qemuStatus: z.string().nullable(),
  pid: z.int().nullable(),
  accelerator: Accelerator.nullable(),
  /** What QEMU really has, read over QMP; null when not running. */
  actual: z
    .strictObject({
      memoryMiB: z.int(),
      vcpus: z.int(),
    })
    .nullable(),
  lastExit: z
    .strictObject({
      reason: ExitReason,
      at: Timestamp,
      detail: z.string().optional(),
    })
    .nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type VmInfo = z.infer<typeof VmInfo>;

export const VmRef = z.strictObject({ name: Name });

export const VmStop = z.strictObject({
  name: Name,
  /** Power off at once instead of asking the guest (ACPI) first. */
  force: z.boolean().default(false),
  /** How long the guest gets to shut down before it is powered off. */
  timeoutSeconds: z.int().min(0).max(3600).default(60),
});

export const VmDelete = z.strictObject({
  name: Name,
  /** Delete only if the VM still has this id (guards against deleting a namesake). */
  id: z.uuid().optional(),
});

export const vmCreate = defineMethod("vm.create", VmCreate, VmInfo, { mutating: true });
export const vmGet = defineMethod("vm.get", VmRef, VmInfo, { mutating: false });
export const vmList = defineMethod(
  "vm.list",
  z.strictObject({}),
  z.strictObject({ vms: z.array(VmInfo) }),
  { mutating: false },
);
export const vmUpdate = defineMethod(
  "vm.update",
  VmUpdate,
  z.strictObject({
    vm: VmInfo,
    /** True when QEMU was restarted to apply the change. */
    restarted: z.boolean(),
  }),
  { mutating: true },
);
export const vmStart = defineMethod("vm.start", VmRef, VmInfo, { mutating: true });
export const vmStop = defineMethod("vm.stop", VmStop, VmInfo, { mutating: true });
export const vmDelete = defineMethod(
  "vm.delete",
  VmDelete,
  z.strictObject({ existed: z.boolean() }),
  { mutating: true },
);
