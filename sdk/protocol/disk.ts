/**
 * Disks and the image cache. A Disk is a host file (qcow2 or raw) with a
 * life of its own: it outlives the VMs that use it, grows in place and is
 * never shrunk. Images are base files downloaded once per host, verified
 * by sha256, and shared copy-on-write by clones.
 */
import { z } from "zod";
import { HostId, HostPath, Name, Owner, Timestamp } from "./common";
import { fieldTable, specShape } from "./fields";
import { defineMethod } from "./method";

export const DISK_LIMITS = {
  minSizeGiB: 1,
  /** 64 TiB: qcow2's practical limit with default clusters. */
  maxSizeGiB: 64 * 1024,
} as const;

export const SizeGiB = z.int().min(DISK_LIMITS.minSizeGiB).max(DISK_LIMITS.maxSizeGiB);

export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, "must be a sha256 digest: 64 lowercase hex characters");

/** Image URLs: http(s) only, no credentials in the URL (they would end up in logs and state). */
export const ImageUrl = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .refine((u) => !/^[a-z]+:\/\/[^/]*@/i.test(u), "must not contain user:password@");

export const DiskFormat = z.enum(["qcow2", "raw"]);
export type DiskFormat = z.infer<typeof DiskFormat>;

export const DiskSource = z.discriminatedUnion("kind", [
  /** An empty disk of `sizeGiB`. */
  z.strictObject({ kind: z.literal("blank") }),
  /**
   * An image downloaded once per host into the image cache and verified.
   * `clone: true` (default) makes a thin copy-on-write overlay on the cached
   * base; `false` a standalone copy.
   */
  z.strictObject({ kind: z.literal("url"), url: ImageUrl, sha256: Sha256, clone: z.boolean().default(true) }),
  /**
   * An image file already on the host; copied, or cloned copy-on-write with `clone: true` (it must then never change).
   * hostd takes it only if the caller could read it themselves, and only a regular file holding a qcow2 or raw image;
   * `blockDevice: true` takes a block device instead (root callers only).
   */
  z.strictObject({ kind: z.literal("hostPath"), path: HostPath, clone: z.boolean().default(false), blockDevice: z.boolean().optional() }),
]);
export type DiskSource = z.output<typeof DiskSource>;

/** Every field of a Disk, once (see fields.ts for what is read from it). */
export const DISK_FIELDS = fieldTable({
  name: { schema: Name, required: true, doc: "Disk name on the host; generated from the resource name when not given, and kept across updates.", defaultDoc: "`<namePrefix>-<hash>`, kept across updates", effect: "replace" },
  sizeGiB: {
    schema: SizeGiB,
    doc: "Size in GiB; for image sources it may only be the image's size or larger.",
    defaultDoc: "the image's size (required for blank disks)",
    effect: "grow",
    effectDoc: "grows in place — online through QMP when a running VM uses it (the guest sees it without a reboot); shrinking is refused at preview",
  },
  format: { schema: DiskFormat, default: "qcow2", doc: "`qcow2` or `raw`.", effect: "replace" },
  source: {
    schema: DiskSource,
    default: { kind: "blank" },
    doc: "Where the content comes from: `{ kind: \"blank\" }`, `{ kind: \"url\", url, sha256, clone? }` (downloaded once per host into the image cache, verified; `clone` (default true) makes a thin copy-on-write overlay on the cached base) or `{ kind: \"hostPath\", path, clone?, blockDevice? }` (a copy, or an overlay, of a qcow2 or raw image already on the host, taken only if the caller could read it themselves — see docs/security.md; `blockDevice: true` takes a block device, from root callers only).",
    effect: "replace",
    effectDoc: "replace (the preview says the data is lost)",
  },
  timeoutSeconds: { schema: z.int().min(1).max(86_400), default: 3600, where: "provider", doc: "Bound on creating the disk, downloads included, in seconds.", effect: "none" },
});

const DiskSpecShape = z.strictObject(specShape(DISK_FIELDS));

/** The rules that span fields (shared by the spec and the create params). */
function diskRules<T extends z.ZodType<z.output<typeof DiskSpecShape>>>(s: T) {
  return s
    .refine((d) => d.source.kind !== "blank" || d.sizeGiB !== undefined, {
      message: "a blank disk needs sizeGiB",
      path: ["sizeGiB"],
    })
    .refine((d) => !(d.source.kind !== "blank" && d.source.clone && d.format !== "qcow2"), {
      message: "a copy-on-write clone must be qcow2",
      path: ["format"],
    });
}

export const DiskSpec = diskRules(DiskSpecShape);
export type DiskSpec = z.output<typeof DiskSpec>;

/** A create: the spec, and who declares it (see {@link Owner}). */
export const DiskCreate = diskRules(DiskSpecShape.extend({ owner: Owner.optional() }));
export type DiskCreate = z.output<typeof DiskCreate>;

export const DiskUpdate = z.strictObject({
  name: Name,
  /** The new size: larger than the current one (disks are never shrunk). */
  sizeGiB: DISK_FIELDS.sizeGiB.schema,
});

/** A Disk moving by itself to or from another host (a Disk of a moving VM has its VM's mark instead). */
export const DiskMoveMark = z.strictObject({
  role: z.enum(["source", "destination"]),
  peerHostId: HostId,
  since: Timestamp,
});
export type DiskMoveMark = z.infer<typeof DiskMoveMark>;

export const DiskInfo = z.strictObject({
  id: z.uuid(),
  name: Name,
  spec: DiskSpec,
  /** Who declared it (null: made without an owner). */
  owner: Owner.nullable(),
  format: DiskFormat,
  /** Where the file lives on the host. */
  path: z.string(),
  /** The size the guest sees; null when the file is gone (see `problem`). */
  virtualSizeBytes: z.int().nullable(),
  /** Bytes the file really takes on the host (a clone takes little); null when the file is gone. */
  actualSizeBytes: z.int().nullable(),
  /** The cached base image a clone reads through, if any. */
  backingFile: z.string().nullable(),
  /** The VM using the disk, if any. */
  attachedTo: Name.nullable(),
  /** Why the Disk cannot be used now (its file was deleted outside hostd), or null. The provider's refresh reads such a Disk as gone. */
  problem: z.string().nullable(),
  /** Set while the Disk moves by itself: a destination's copy is not usable until the move finishes. */
  migration: DiskMoveMark.nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type DiskInfo = z.infer<typeof DiskInfo>;

export const ImageInfo = z.strictObject({
  sha256: Sha256,
  url: z.string(),
  path: z.string(),
  format: z.string(),
  sizeBytes: z.int(),
  downloadedAt: Timestamp,
  /** Disks cloned from this image; an image in use is never pruned. */
  usedBy: z.array(Name),
});
export type ImageInfo = z.infer<typeof ImageInfo>;

export const DiskRef = z.strictObject({ name: Name });

export const diskCreate = defineMethod("disk.create", DiskCreate, DiskInfo, { mutating: true });
export const diskGet = defineMethod("disk.get", DiskRef, DiskInfo, { mutating: false });
export const diskList = defineMethod("disk.list", z.strictObject({}), z.strictObject({ disks: z.array(DiskInfo) }), { mutating: false });
export const diskUpdate = defineMethod(
  "disk.update",
  DiskUpdate,
  z.strictObject({ disk: DiskInfo, online: z.boolean() }),
  { mutating: true },
);
export const diskDelete = defineMethod(
  "disk.delete",
  z.strictObject({
    name: Name,
    /** Delete only if the disk still has this id. */
    id: z.uuid().optional(),
    /** Delete only if the disk is this owner's (`not_owner` otherwise). */
    owner: Owner.optional(),
    /** Delete only on this host (`wrong_host` anywhere else). */
    hostId: HostId.optional(),
  }),
  z.strictObject({ existed: z.boolean() }),
  { mutating: true },
);
export const imageList = defineMethod(
  "image.list",
  z.strictObject({}),
  z.strictObject({
    images: z.array(ImageInfo),
    downloads: z.array(z.strictObject({ sha256: Sha256, url: z.string(), bytes: z.int(), totalBytes: z.int().nullable() })),
  }),
  { mutating: false },
);
export const imagePrune = defineMethod(
  "image.prune",
  z.strictObject({ sha256: Sha256.optional() }),
  z.strictObject({ removed: z.array(Sha256) }),
  { mutating: true },
);
