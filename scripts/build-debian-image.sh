#!/usr/bin/env bash
# Build a Debian 12 (bookworm) cloud image from Debian packages only:
#
#   .cache/guest/debian12/debian12.qcow2   2 GiB virtual, zstd-compressed qcow2
#   .cache/guest/debian12/manifest.json    what was built, sha256, recipe hash
#   .cache/guest/debian12/packages.txt     installed packages (name version arch)
#
# Recipe: debootstrap --variant=minbase, then apt-get --no-install-recommends
# of scripts/debian-image/packages.list (cloud kernel, systemd, cloud-init,
# openssh-server, qemu-guest-agent, ...) plus bookworm-updates and the
# security archive. No loop devices and no mounts of the image: the GPT disk
# is assembled in a plain file (sgdisk, mkfs.vfat + mtools, mkfs.ext4 -d, dd).
#
# Disk layout (like Debian's official cloud images):
#   p14  1 MiB..4 MiB     BIOS boot partition: GRUB core.img (i386-pc)
#   p15  4 MiB..128 MiB   EFI system partition, FAT32 label ESP:
#                         \EFI\BOOT\BOOTX64.EFI (removable path, no NVRAM entry)
#   p1   128 MiB..end     ext4 root, label rootfs, LAST so growpart can grow it
# Both GRUBs carry an embedded config (serial console, search root by UUID)
# and chain to /boot/grub/grub.cfg. Kernel command line:
#   root=UUID=<uuid> ro console=tty0 console=ttyS0,115200
# Boots with SeaBIOS and with OVMF (no Secure Boot). The -cloud- kernel has no
# AHCI driver: attach disks, including the NoCloud seed, as virtio-blk (or
# virtio-scsi). cloud-init: datasources [NoCloud, None], network renderer
# systemd-networkd, resolver systemd-resolved.
#
# Usage: scripts/build-debian-image.sh [--force]
# Idempotent: does nothing when the outputs exist and were made by the same
# recipe (this script + scripts/debian-image/, except smoke-test.sh and
# *.md). --force (or DEBIAN_IMAGE_FORCE=1) rebuilds. Caches debootstrap's and
# apt's .debs under .cache/guest/debian-cache/ so rebuilds download nothing.
# Environment:
#   DEBIAN_IMAGE_OUT        output folder (default <repo>/.cache/guest/debian12)
#   DEBIAN_IMAGE_CACHE      package cache (default <repo>/.cache/guest/debian-cache)
#   DEBIAN_MIRROR           default: the bookworm URI in this host's apt
#                           sources, else http://deb.debian.org/debian
#   DEBIAN_SECURITY_MIRROR  default: the bookworm-security URI in this host's
#                           apt sources, else <mirror>-security; "none" skips it
# Runs as root (debootstrap, chroot). Log: <out>/build.log.
# Note: a rebuild replaces debian12.qcow2; qcow2 overlays made on top of the
# old file (qemu-img create -b) must be recreated.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT_NAME=$(basename "${BASH_SOURCE[0]}")
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
RECIPE_DIR="$SCRIPT_DIR/debian-image"
OUT_DIR=${DEBIAN_IMAGE_OUT:-$REPO_ROOT/.cache/guest/debian12}
PKG_CACHE=${DEBIAN_IMAGE_CACHE:-$REPO_ROOT/.cache/guest/debian-cache}
FORCE=${DEBIAN_IMAGE_FORCE:-0}

SUITE=bookworm
IMAGE_NAME=debian12.qcow2
IMAGE_SIZE_MIB=2048
# partition table, in 512-byte sectors
BIOS_START=2048 BIOS_END=8191    # p14, 3 MiB
ESP_START=8192 ESP_END=262143    # p15, 124 MiB
ROOT_START=262144                # p1, up to the end of the disk
ROOT_LABEL=rootfs
ESP_LABEL=ESP
CMDLINE="console=tty0 console=ttyS0,115200"
GRUB_COMMON_MODULES="part_gpt part_msdos ext2 fat search search_fs_uuid search_label normal configfile linux echo test serial terminal boot minicmd ls cat sleep gzio"
GRUB_PC_MODULES="biosdisk $GRUB_COMMON_MODULES"
GRUB_EFI_MODULES="efi_gop $GRUB_COMMON_MODULES"

PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin # debootstrap, chroot, sgdisk, mkfs.*
START_TIME=$(date +%s)
log() { echo "build-debian-image: [$(($(date +%s) - START_TIME))s] $*" >&2; }
die() { echo "build-debian-image: error: $*" >&2; exit 1; }

for a in "$@"; do
	case "$a" in
	--force|-f) FORCE=1 ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $a (usage: $0 [--force])" ;;
	esac
done

# ---------------------------------------------------------------- checks ----
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot need it); try: sudo $0"
for f in packages.list mke2fs.conf cloud.cfg grub-embedded.cfg grub.cfg; do
	[ -f "$RECIPE_DIR/$f" ] || die "recipe file $RECIPE_DIR/$f is missing"
done

missing_cmds=() missing_pkgs=()
need() { # need COMMAND DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || { missing_cmds+=("$1"); missing_pkgs+=("$2"); }
}
need debootstrap debootstrap
need chroot coreutils
need sha256sum coreutils
need truncate coreutils
need dd coreutils
need qemu-img qemu-utils
need sgdisk gdisk
need mkfs.ext4 e2fsprogs
need mkfs.vfat dosfstools
need mcopy mtools
need mmd mtools
need flock util-linux
need mount mount
need awk mawk
need find findutils
if [ ${#missing_cmds[@]} -gt 0 ]; then
	declare -A uniq=()
	for p in "${missing_pkgs[@]}"; do uniq[$p]=1; done
	die "missing commands: ${missing_cmds[*]} -- install them with: apt-get install -y ${!uniq[*]}"
fi
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$KEYRING" ] || die "missing $KEYRING (debootstrap verifies the archive with it) -- install it with: apt-get install -y debian-archive-keyring"
if ! qemu-img create -f qcow2 -o help 2>/dev/null | grep -q compression_type; then
	die "this qemu-img cannot write zstd-compressed qcow2 (needs QEMU >= 5.1) -- install a newer one with: apt-get install -y qemu-utils"
fi

# Recipe hash: this script and every file (name, mode, content) of the recipe
# folder, except the smoke test and docs.
recipe_hash() {
	(
		cd "$SCRIPT_DIR"
		echo "script $(sha256sum <"$SCRIPT_NAME" | cut -d' ' -f1)"
		find debian-image -type f ! -name smoke-test.sh ! -name '*.md' -print0 | LC_ALL=C sort -z |
			while IFS= read -r -d '' f; do
				x=-; [ -x "$f" ] && x=x
				echo "$f $x $(sha256sum <"$f" | cut -d' ' -f1)"
			done
	) | sha256sum | cut -d' ' -f1
}
RECIPE_HASH=$(recipe_hash)

up_to_date() {
	[ -s "$OUT_DIR/$IMAGE_NAME" ] && [ -s "$OUT_DIR/manifest.json" ] &&
		grep -q "\"recipeHash\": \"$RECIPE_HASH\"" "$OUT_DIR/manifest.json" &&
		grep -q "\"sizeBytes\": $(stat -c %s "$OUT_DIR/$IMAGE_NAME")," "$OUT_DIR/manifest.json"
}

if [ "$FORCE" != 1 ] && up_to_date; then
	log "up to date: $OUT_DIR/$IMAGE_NAME (recipe $RECIPE_HASH)"
	exit 0
fi

mkdir -p "$OUT_DIR" "$PKG_CACHE/debootstrap" "$PKG_CACHE/apt-archives"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
PKG_CACHE=$(cd "$PKG_CACHE" && pwd)
# One build at a time per output folder; a waiting build re-checks afterwards.
exec 9>"$OUT_DIR/.lock"
if ! flock -n 9; then
	log "another build of $OUT_DIR is running; waiting for it"
	flock 9
fi
if [ "$FORCE" != 1 ] && up_to_date; then
	log "up to date: $OUT_DIR/$IMAGE_NAME (built by a concurrent run)"
	exit 0
fi

# ---------------------------------------------------------------- mirror ----
# Prints "URI SUITE" for each deb source of this host (one-line and deb822).
host_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '{ sub(/#.*/, "") } $1 == "deb" { sub(/\[[^]]*\]/, ""); $0 = $0; print $2, $3 }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
			function flush() { if (types ~ /(^| )deb( |$)/ && enabled != "no") { n = split(uris, u, " "); m = split(suites, s, " "); for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print u[i], s[j] } types = uris = suites = ""; enabled = "" }
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			{ key = tolower($1); sub(/^[^:]*:[ \t]*/, "") }
			key == "types:" { types = $0 } key == "uris:" { uris = $0 } key == "suites:" { suites = $0 } key == "enabled:" { enabled = tolower($0) }
			END { flush() }' "$f"
	done
}
HOST_SOURCES=$(host_sources 2>/dev/null || true)
MIRROR=${DEBIAN_MIRROR:-$(awk -v s="$SUITE" '$2 == s { print $1; exit }' <<<"$HOST_SOURCES")}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
MIRROR=${MIRROR%/}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-$(awk -v s="$SUITE-security" '$2 == s { print $1; exit }' <<<"$HOST_SOURCES")}
SECURITY_MIRROR=${SECURITY_MIRROR:-$MIRROR-security}
SECURITY_MIRROR=${SECURITY_MIRROR%/}
[ "$SECURITY_MIRROR" != none ] || SECURITY_MIRROR=

# ----------------------------------------------------------------- setup ----
renice -n 10 -p $$ >/dev/null 2>&1 || true
LOG="$OUT_DIR/build.log"
: >"$LOG"
WORK=$(mktemp -d "$OUT_DIR/.build.XXXXXX")
chmod 755 "$WORK"
ROOT="$WORK/root"

# Unmount everything below $WORK (deepest first), then delete it; never
# delete through a mount that would not go away.
unmount_below() {
	local m i
	for i in 1 2 3; do
		mapfile -t mounts < <(awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r)
		[ ${#mounts[@]} -gt 0 ] || return 0
		for m in "${mounts[@]}"; do
			m=$(printf '%b' "$m") # /proc/mounts escapes blanks as \040
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
	done
	awk -v p="$1/" 'index($2, p) == 1 { found = 1 } END { exit !found }' /proc/mounts && return 1
	return 0
}
cleanup() {
	local rc=$?
	set +e
	if unmount_below "$WORK"; then
		rm -rf --one-file-system "$WORK"
	else
		echo "build-debian-image: warning: could not unmount everything below $WORK; left it in place" >&2
	fi
	if [ "$rc" != 0 ]; then
		echo "build-debian-image: FAILED (exit $rc); last lines of $LOG:" >&2
		tail -n 30 "$LOG" | sed 's/^/  | /' >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run() { # run CMD...: append output to the log; show it on failure (via cleanup)
	echo "+ $*" >>"$LOG"
	"$@" >>"$LOG" 2>&1
}
in_root() { # in_root CMD...: run in the image root with a clean environment
	run chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true "$@"
}
# Acquire::Retries: a name lookup or a connection to the mirror fails now and then; retry
# each download instead of failing the build.
APT_OPTS=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
	-o Dpkg::Options::=--force-unsafe-io -o Dpkg::Use-Pty=0 -o Acquire::Retries=5)

log "building $SUITE image (recipe $RECIPE_HASH), mirror $MIRROR, security ${SECURITY_MIRROR:-none}; log: $LOG"

# ------------------------------------------------------------ debootstrap ----
log "debootstrap --variant=minbase $SUITE"
run debootstrap --variant=minbase --arch=amd64 --components=main \
	--keyring="$KEYRING" --cache-dir="$PKG_CACHE/debootstrap" \
	"$SUITE" "$ROOT" "$MIRROR" ||
	{ [ -f "$ROOT/debootstrap/debootstrap.log" ] && tail -n 20 "$ROOT/debootstrap/debootstrap.log" >>"$LOG"; die "debootstrap failed"; }

# Only what package scripts need; unmounted by cleanup() in any case.
mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys"
mkdir -p "$ROOT/dev/pts"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$ROOT/dev/pts"

# No daemon may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
# Before the kernel is installed: no resume device probing in the initramfs.
mkdir -p "$ROOT/etc/initramfs-tools/conf.d"
echo "RESUME=none" >"$ROOT/etc/initramfs-tools/conf.d/resume"

write_sources() { # write_sources MIRROR [SECURITY-MIRROR]
	rm -f "$ROOT/etc/apt/sources.list"
	{
		printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$1" "$SUITE" "$SUITE"
		[ -z "${2:-}" ] || printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$2" "$SUITE"
	} >"$ROOT/etc/apt/sources.list.d/debian.sources"
}

# ------------------------------------------------------------------- apt ----
write_sources "$MIRROR" "$SECURITY_MIRROR"
log "apt-get update ($SUITE, $SUITE-updates${SECURITY_MIRROR:+, $SUITE-security})"
if ! in_root apt-get "${APT_OPTS[@]}" update || grep -q '^[EW]: Failed to fetch' "$LOG"; then
	[ -n "$SECURITY_MIRROR" ] || die "apt-get update failed (mirror $MIRROR)"
	log "warning: apt-get update failed with $SECURITY_MIRROR; building without security updates"
	SECURITY_MIRROR=
	write_sources "$MIRROR"
	in_root apt-get "${APT_OPTS[@]}" update || die "apt-get update failed (mirror $MIRROR)"
fi

# share_debs FROM TO: hard-link (else copy) FROM/*.deb missing in TO
share_debs() {
	local f
	for f in "$1"/*.deb; do
		[ -e "$f" ] || continue
		[ -e "$2/${f##*/}" ] || ln "$f" "$2/" 2>/dev/null || cp "$f" "$2/"
	done
}
# Reuse the .debs of earlier builds (apt checks their hashes).
share_debs "$PKG_CACHE/apt-archives" "$ROOT/var/cache/apt/archives"

mapfile -t PACKAGES < <(sed 's/#.*//' "$RECIPE_DIR/packages.list" | awk 'NF && $1 !~ /^linux-image-/ { print $1 }')
mapfile -t KERNEL_PACKAGES < <(sed 's/#.*//' "$RECIPE_DIR/packages.list" | awk 'NF && $1 ~ /^linux-image-/ { print $1 }')
[ ${#KERNEL_PACKAGES[@]} -gt 0 ] || die "$RECIPE_DIR/packages.list lists no linux-image-* package"
log "apt-get dist-upgrade and install of $((${#PACKAGES[@]} + ${#KERNEL_PACKAGES[@]})) packages (and dependencies)"
in_root apt-get "${APT_OPTS[@]}" dist-upgrade || die "apt-get dist-upgrade failed"
# Download everything first: installing systemd-resolved turns the chroot's
# /etc/resolv.conf into a link to a stub that does not exist there, so later
# downloads could not resolve the mirror.
in_root apt-get "${APT_OPTS[@]}" --no-install-recommends --download-only install "${PACKAGES[@]}" "${KERNEL_PACKAGES[@]}" ||
	die "apt-get download of the packages failed"
# The kernel last, on its own: its initramfs is then generated once (not again
# by triggers that other packages activate).
in_root apt-get "${APT_OPTS[@]}" --no-install-recommends install "${PACKAGES[@]}" || die "apt-get install failed"
in_root apt-get "${APT_OPTS[@]}" --no-install-recommends install "${KERNEL_PACKAGES[@]}" || die "apt-get install ${KERNEL_PACKAGES[*]} failed"

# Keep exactly this build's .debs in the cache.
for f in "$PKG_CACHE/apt-archives"/*.deb; do
	[ -e "$f" ] || continue
	[ -e "$ROOT/var/cache/apt/archives/$(basename "$f")" ] || rm -f "$f"
done
share_debs "$ROOT/var/cache/apt/archives" "$PKG_CACHE/apt-archives"
in_root apt-get clean

KREL=$(find "$ROOT/lib/modules" -mindepth 1 -maxdepth 1 -type d -name '*-cloud-amd64' -printf '%f\n' | sort -V | tail -n1)
[ -n "$KREL" ] || die "no cloud kernel was installed (no /lib/modules/*-cloud-amd64)"
[ -f "$ROOT/boot/initrd.img-$KREL" ] || in_root update-initramfs -c -k "$KREL" || die "update-initramfs failed"
{ [ -f "$ROOT/boot/vmlinuz-$KREL" ] && [ -f "$ROOT/boot/initrd.img-$KREL" ]; } || die "kernel $KREL has no vmlinuz/initrd.img in /boot"
# GRUB boots /vmlinuz and /initrd.img (Debian's kernel packages maintain them).
[ -e "$ROOT/vmlinuz" ] || ln -sf "boot/vmlinuz-$KREL" "$ROOT/vmlinuz"
[ -e "$ROOT/initrd.img" ] || ln -sf "boot/initrd.img-$KREL" "$ROOT/initrd.img"
log "kernel $KREL"

# ------------------------------------------------------------- configure ----
ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)
ESP_VOLID=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')

install -m 644 "$RECIPE_DIR/cloud.cfg" "$ROOT/etc/cloud/cloud.cfg.d/90-pulumi-kvm.cfg"
# C.UTF-8 is built into libc; other locales would need locale-gen first.
echo "LANG=C.UTF-8" >"$ROOT/etc/default/locale"
cat >"$ROOT/etc/fstab" <<EOF
# <file system> <mount point> <type> <options> <dump> <pass>
UUID=$ROOT_UUID / ext4 rw,discard,errors=remount-ro 0 1
EOF
mkdir -p "$ROOT/boot/grub"
sed -e "s/@ROOT_UUID@/$ROOT_UUID/g" -e "s/@CMDLINE@/$CMDLINE/g" "$RECIPE_DIR/grub.cfg" >"$ROOT/boot/grub/grub.cfg"
# Guest's own apt sources: the public mirror, not whatever this host uses.
write_sources http://deb.debian.org/debian http://deb.debian.org/debian-security

# units: ssh and the network on, slow or chatty timers off
in_root systemctl enable ssh.service systemd-networkd.service systemd-resolved.service ||
	die "systemctl enable failed"
# qemu-guest-agent is started by udev when its virtio port appears (the unit
# is static); enable it anyway where the package offers it.
in_root systemctl enable qemu-guest-agent.service || true
# e2scrub_reap costs ~12 s of boot under TCG; apt-daily* would only try
# (and fail) to reach the network in isolated test VMs.
for unit in e2scrub_reap.service apt-daily.timer apt-daily-upgrade.timer; do
	in_root systemctl disable "$unit" || true
done
in_root systemctl set-default multi-user.target
# ssh host keys are made at first boot by cloud-init; without cloud-init,
# ssh-keygen -A makes any that are missing.
mkdir -p "$ROOT/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=/usr/bin/ssh-keygen -A\n' >"$ROOT/etc/systemd/system/ssh.service.d/10-host-keys.conf"

# ---------------------------------------------------------------- GRUB ----
mkdir -p "$ROOT/root/grub-build"
# The embedded config runs in GRUB's rescue parser, which knows no comments
# (and an apostrophe in one would open a quote): drop them.
sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' -e "s/@ROOT_UUID@/$ROOT_UUID/g" \
	"$RECIPE_DIR/grub-embedded.cfg" >"$ROOT/root/grub-build/embedded.cfg"
# shellcheck disable=SC2086
in_root grub-mkimage -O i386-pc -o /root/grub-build/core.img -c /root/grub-build/embedded.cfg \
	-p /boot/grub $GRUB_PC_MODULES || die "grub-mkimage -O i386-pc failed"
# shellcheck disable=SC2086
in_root grub-mkimage -O x86_64-efi -o /root/grub-build/BOOTX64.EFI -c /root/grub-build/embedded.cfg \
	-p /boot/grub $GRUB_EFI_MODULES || die "grub-mkimage -O x86_64-efi failed"
mv "$ROOT/root/grub-build" "$WORK/grub"
cp "$ROOT/usr/lib/grub/i386-pc/boot.img" "$WORK/grub/boot.img"

# ------------------------------------------------------- per-instance state ----
# shellcheck disable=SC2016
dpkg_list=$(chroot "$ROOT" dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version} ${Architecture}\n')
awk '$1 == "ii" { print $2, $3, $4 }' <<<"$dpkg_list" | LC_ALL=C sort >"$WORK/packages.txt"
PACKAGE_COUNT=$(wc -l <"$WORK/packages.txt")
PACKAGE_LIST_HASH=$(sha256sum <"$WORK/packages.txt" | cut -d' ' -f1)
KVERSION=$(awk -v p="linux-image-$KREL" '$1 == p { print $2 }' "$WORK/packages.txt")
DEBIAN_VERSION=$(cat "$ROOT/etc/debian_version")

unmount_below "$ROOT" || die "cannot unmount the chroot's proc/sys/dev/pts"
rm -f "$ROOT/usr/sbin/policy-rc.d"
rm -f "$ROOT"/etc/ssh/ssh_host_*
: >"$ROOT/etc/machine-id"
[ -L "$ROOT/var/lib/dbus/machine-id" ] || rm -f "$ROOT/var/lib/dbus/machine-id"
echo localhost >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n' >"$ROOT/etc/hosts"
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$ROOT/etc/resolv.conf"
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/debconf/*-old \
	"$ROOT"/var/lib/dpkg/*-old "$ROOT/var/lib/systemd/random-seed" "$ROOT"/var/lib/cloud/* \
	"$ROOT"/tmp/* "$ROOT"/tmp/.[!.]* "$ROOT"/var/tmp/* "$ROOT"/run/* "$ROOT"/root/.[!.]*_history
mkdir -p "$ROOT/var/lib/apt/lists/partial"
find "$ROOT/var/log" -type f \( -name '*.gz' -o -name '*.[0-9]' \) -delete
find "$ROOT/var/log" -type f -exec truncate -s 0 {} +

# ------------------------------------------------------------------ disk ----
log "assembling the GPT disk ($IMAGE_SIZE_MIB MiB): BIOS boot + ESP + ext4 root"
DISK="$WORK/disk.raw"
truncate -s "${IMAGE_SIZE_MIB}M" "$DISK"
run sgdisk \
	-n "14:$BIOS_START:$BIOS_END" -t 14:EF02 -c 14:BIOS-boot \
	-n "15:$ESP_START:$ESP_END" -t 15:EF00 -c 15:EFI-system \
	-n "1:$ROOT_START:0" -t 1:8300 -c 1:root \
	"$DISK" || die "sgdisk failed"
ROOT_END=$(sgdisk -i 1 "$DISK" | awk '/^Last sector:/ { print $3 }')
[ -n "$ROOT_END" ] || die "cannot read the root partition's last sector back from sgdisk"

# BIOS: boot.img in the MBR's code area (the protective MBR's partition table
# stays), core.img in p14. Done by hand like grub-bios-setup would: boot.img
# learns core.img's first sector (offset 0x5c), its boot-drive check is
# disabled (0x66: two NOPs; for hard disks), and the block list at the end of
# core.img's first sector (offset 500) points at its remaining sectors.
le64() { local v=$1 i s=''; for i in 0 1 2 3 4 5 6 7; do s+=$(printf '\\x%02x' $(((v >> (8 * i)) & 255))); done; printf '%b' "$s"; }
le16_at() { od -An -tu2 -j "$2" -N2 "$1" | tr -d ' '; }
core="$WORK/grub/core.img"
core_size=$(stat -c %s "$core")
core_sectors=$(((core_size + 511) / 512))
[ "$core_sectors" -le $((BIOS_END - BIOS_START + 1)) ] || die "core.img ($core_size bytes) does not fit the BIOS boot partition"
[ "$(le16_at "$core" 508)" = $((core_sectors - 1)) ] ||
	die "unexpected core.img layout: block list length $(le16_at "$core" 508), expected $((core_sectors - 1))"
le64 $((BIOS_START + 1)) | dd of="$core" bs=1 seek=500 conv=notrunc status=none
bootimg="$WORK/grub/boot.img"
le64 "$BIOS_START" | dd of="$bootimg" bs=1 seek=$((0x5c)) conv=notrunc status=none
printf '\x90\x90' | dd of="$bootimg" bs=1 seek=$((0x66)) conv=notrunc status=none
dd if="$bootimg" of="$DISK" bs=440 count=1 conv=notrunc status=none
dd if="$core" of="$DISK" bs=512 seek="$BIOS_START" conv=notrunc status=none

# ESP: FAT32 with GRUB at the removable-media path.
ESP_IMG="$WORK/esp.img"
truncate -s $(((ESP_END - ESP_START + 1) * 512)) "$ESP_IMG"
run mkfs.vfat -F 32 -n "$ESP_LABEL" -i "$ESP_VOLID" "$ESP_IMG" || die "mkfs.vfat failed"
export MTOOLS_SKIP_CHECK=1
run mmd -i "$ESP_IMG" ::/EFI ::/EFI/BOOT || die "mmd failed"
run mcopy -i "$ESP_IMG" "$WORK/grub/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI || die "mcopy failed"
dd if="$ESP_IMG" of="$DISK" bs=1M seek=$((ESP_START * 512)) oflag=seek_bytes conv=notrunc status=none
rm -f "$ESP_IMG"

# Root: ext4 filled from the tree (mkfs.ext4 -d), no mounting.
log "mkfs.ext4 -d (root file system, UUID $ROOT_UUID)"
ROOT_IMG="$WORK/root.img"
truncate -s $(((ROOT_END - ROOT_START + 1) * 512 / 4096 * 4096)) "$ROOT_IMG"
MKE2FS_CONFIG="$RECIPE_DIR/mke2fs.conf" run mkfs.ext4 -q -F -t ext4 -L "$ROOT_LABEL" -U "$ROOT_UUID" \
	-E lazy_itable_init=0,lazy_journal_init=0 -d "$ROOT" "$ROOT_IMG" || die "mkfs.ext4 -d failed"
run e2fsck -fn "$ROOT_IMG" || die "e2fsck found problems in the new root file system"
dd if="$ROOT_IMG" of="$DISK" bs=1M seek=$((ROOT_START * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
rm -f "$ROOT_IMG"
rm -rf --one-file-system "$ROOT"
run sgdisk -v "$DISK" || die "sgdisk -v: the partition table is damaged"

log "qemu-img convert -c (zstd)"
run qemu-img convert -f raw -O qcow2 -c -o compression_type=zstd "$DISK" "$WORK/$IMAGE_NAME" || die "qemu-img convert failed"
rm -f "$DISK"
run qemu-img check "$WORK/$IMAGE_NAME" || die "qemu-img check failed"

# -------------------------------------------------------------- manifest ----
SIZE=$(stat -c %s "$WORK/$IMAGE_NAME")
SHA=$(sha256sum <"$WORK/$IMAGE_NAME" | cut -d' ' -f1)
VSIZE=$(qemu-img info --output=json "$WORK/$IMAGE_NAME" | awk -F'[:,]' '/"virtual-size"/ { gsub(/ /, "", $2); print $2; exit }')
BUILD_SECONDS=$(($(date +%s) - START_TIME))
cat >"$WORK/manifest.json" <<EOF
{
  "file": "$IMAGE_NAME",
  "format": "qcow2",
  "compression": "zstd",
  "sizeBytes": $SIZE,
  "sha256": "$SHA",
  "virtualSizeBytes": $VSIZE,
  "distribution": "debian",
  "suite": "$SUITE",
  "debianVersion": "$DEBIAN_VERSION",
  "kernelRelease": "$KREL",
  "kernelVersion": "$KVERSION",
  "cmdline": "root=UUID=$ROOT_UUID ro $CMDLINE",
  "firmware": ["bios", "uefi"],
  "partitions": [
    { "number": 14, "type": "bios-boot", "startSector": $BIOS_START, "endSector": $BIOS_END },
    { "number": 15, "type": "efi-system", "filesystem": "vfat", "label": "$ESP_LABEL", "startSector": $ESP_START, "endSector": $ESP_END },
    { "number": 1, "type": "linux", "filesystem": "ext4", "label": "$ROOT_LABEL", "uuid": "$ROOT_UUID", "startSector": $ROOT_START, "endSector": $ROOT_END }
  ],
  "cloudInit": { "datasources": ["NoCloud", "None"], "networkRenderer": "networkd" },
  "packageCount": $PACKAGE_COUNT,
  "packageList": "packages.txt",
  "packageListHash": "$PACKAGE_LIST_HASH",
  "mirror": "$MIRROR",
  "securityMirror": "${SECURITY_MIRROR:-}",
  "recipeHash": "$RECIPE_HASH",
  "buildDate": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "buildSeconds": $BUILD_SECONDS
}
EOF

# Move into place; manifest.json last, so a manifest with this recipe hash
# always describes a complete image (readers see no manifest meanwhile).
rm -f "$OUT_DIR/manifest.json"
mv -f "$WORK/packages.txt" "$OUT_DIR/packages.txt"
mv -f "$WORK/$IMAGE_NAME" "$OUT_DIR/$IMAGE_NAME"
sync -f "$OUT_DIR/$IMAGE_NAME" 2>/dev/null || true
mv -f "$WORK/manifest.json" "$OUT_DIR/manifest.json"
log "built $OUT_DIR/$IMAGE_NAME: $SIZE bytes (virtual $VSIZE), $PACKAGE_COUNT packages, kernel $KREL, in ${BUILD_SECONDS}s"
