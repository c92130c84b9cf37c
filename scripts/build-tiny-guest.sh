#!/usr/bin/env bash
# Build a tiny Linux test guest for QEMU direct kernel boot, from Debian
# packages only (fetched with `apt-get download`):
#
#   .cache/guest/tiny/vmlinuz        Debian's linux-image-6.1.0-N-cloud-amd64 kernel
#   .cache/guest/tiny/initrd.img     gzip'd newc cpio: busybox-static, virtio/ACPI
#                                    modules and the files in scripts/tiny-guest/rootfs
#   .cache/guest/tiny/manifest.json  what was built and the recipe hash
#
# With --flavour=generic (TINY_GUEST_FLAVOUR=generic) the same guest on
# Debian's generic kernel (linux-image-6.1.0-N-amd64) in .cache/guest/tiny-generic:
# the cloud kernel has no drivers for emulated hardware such as AHCI (sata)
# and e1000e, which the device tests need. modules.list says which modules
# only the generic flavour loads.
#
# The guest loads its modules, sets the hostname from `hostname=` on the
# kernel command line, runs udhcpc on every ethN (unless `tiny.dhcp=off`),
# starts acpid so the ACPI power button (QMP system_powerdown) powers it off,
# prints exactly one line
#
#   READY ip=<eth0 address or none> mem=<MemTotal kB> cpus=<n>
#
# on the console once eth0 has a lease (or has not got one within ~5 s), and
# then keeps a root shell on /dev/ttyS0. CPUs and memory hot-added to the
# running VM come online by themselves (auto_online_blocks, a CPU watcher).
#
# Boot it with at least 96 MiB of memory, a NIC model (virtio-net-pci) and the
# command line from the manifest (console=ttyS0 no_timer_check ...).
#
# Idempotent: does nothing when the outputs exist and were made by the same
# recipe (this script + scripts/tiny-guest/). Rebuild anyway with --force or
# TINY_GUEST_FORCE=1. Output folder: TINY_GUEST_OUT (default
# <repo>/.cache/guest/tiny, or tiny-generic). Kernel: TINY_GUEST_KERNEL_PACKAGE
# (default: what the linux-image-cloud-amd64, or for generic the
# linux-image-amd64, metapackage depends on). Runs as root.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
RECIPE_DIR="$SCRIPT_DIR/tiny-guest"
FLAVOUR=${TINY_GUEST_FLAVOUR:-cloud}
FORCE=${TINY_GUEST_FORCE:-0}
CMDLINE="console=ttyS0 no_timer_check panic=-1"

log() { echo "build-tiny-guest: $*" >&2; }
die() { log "error: $*"; exit 1; }

for a in "$@"; do
	case "$a" in
	--force|-f) FORCE=1 ;;
	--flavour=*) FLAVOUR=${a#--flavour=} ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $a (usage: $0 [--force] [--flavour=cloud|generic])" ;;
	esac
done
case "$FLAVOUR" in
cloud) METAPACKAGE=linux-image-cloud-amd64 KSUFFIX=-cloud-amd64 DEFAULT_OUT=tiny ;;
generic) METAPACKAGE=linux-image-amd64 KSUFFIX=-amd64 DEFAULT_OUT=tiny-generic ;;
*) die "unknown flavour $FLAVOUR (cloud or generic)" ;;
esac
OUT_DIR=${TINY_GUEST_OUT:-$REPO_ROOT/.cache/guest/$DEFAULT_OUT}

# ---------------------------------------------------------------- checks ----
[ "$(id -u)" = 0 ] || die "must run as root (apt-get download, device nodes in the initramfs)"
if [ ! -d "$RECIPE_DIR/rootfs" ] || [ ! -f "$RECIPE_DIR/modules.list" ]; then
	die "recipe folder $RECIPE_DIR is incomplete"
fi

missing_cmds=() missing_pkgs=()
need() { # need COMMAND DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 || { missing_cmds+=("$1"); missing_pkgs+=("$2"); }
}
need apt-get apt
need apt-cache apt
need dpkg-deb dpkg
need cpio cpio
need gzip gzip
need sha256sum coreutils
need flock util-linux
need find findutils
need awk mawk
if [ ${#missing_cmds[@]} -gt 0 ]; then
	declare -A uniq=()
	for p in "${missing_pkgs[@]}"; do uniq[$p]=1; done
	die "missing commands: ${missing_cmds[*]} -- install them with: apt-get install -y ${!uniq[*]}"
fi

# Recipe hash: this script and every file (name, mode, content) of the recipe folder.
recipe_hash() {
	(
		cd "$SCRIPT_DIR"
		echo "script $(sha256sum <"$(basename "${BASH_SOURCE[0]}")" | cut -d' ' -f1)"
		find tiny-guest -type f -print0 | LC_ALL=C sort -z | while IFS= read -r -d '' f; do
			x=-; [ -x "$f" ] && x=x
			echo "$f $x $(sha256sum <"$f" | cut -d' ' -f1)"
		done
		echo "kernel-override ${TINY_GUEST_KERNEL_PACKAGE:-}"
		echo "flavour $FLAVOUR"
	) | sha256sum | cut -d' ' -f1
}
RECIPE_HASH=$(recipe_hash)

up_to_date() {
	[ -s "$OUT_DIR/vmlinuz" ] && [ -s "$OUT_DIR/initrd.img" ] && [ -s "$OUT_DIR/manifest.json" ] &&
		grep -q "\"recipeHash\": \"$RECIPE_HASH\"" "$OUT_DIR/manifest.json"
}

if [ "$FORCE" != 1 ] && up_to_date; then
	log "up to date: $OUT_DIR (recipe $RECIPE_HASH)"
	exit 0
fi

mkdir -p "$OUT_DIR"
# One build at a time per output folder; a waiting build re-checks afterwards.
exec 9>"$OUT_DIR/.lock"
flock 9
if [ "$FORCE" != 1 ] && up_to_date; then
	log "up to date: $OUT_DIR (built by a concurrent run)"
	exit 0
fi

# Be gentle with a machine that builds other things at the same time.
renice -n 10 -p $$ >/dev/null 2>&1 || true

WORK=$(mktemp -d "$OUT_DIR/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK" # lets apt's _apt user write its downloads here

# -------------------------------------------------------------- packages ----
apt_download() { # apt_download PACKAGE -> path of the .deb in $WORK/debs
	mkdir -p "$WORK/debs"
	chmod 777 "$WORK/debs"
	(cd "$WORK/debs" && apt-get download -q -o Acquire::Retries=5 "$1" >"$WORK/apt-$1.log" 2>&1) || {
		cat "$WORK/apt-$1.log" >&2
		die "apt-get download $1 failed"
	}
	local deb
	deb=$(find "$WORK/debs" -maxdepth 1 -name "${1}_*.deb" | head -n1)
	[ -n "$deb" ] || die "apt-get download $1 produced no .deb"
	echo "$deb"
}

resolve_kernel_package() {
	apt-cache depends "$METAPACKAGE" 2>/dev/null |
		awk -v suffix="$KSUFFIX" '$1 == "Depends:" && $2 ~ "^linux-image-[0-9]" && substr($2, length($2) - length(suffix) + 1) == suffix { print $2; exit }'
}

KPKG=${TINY_GUEST_KERNEL_PACKAGE:-}
if [ -z "$KPKG" ]; then
	KPKG=$(resolve_kernel_package)
	if [ -z "$KPKG" ]; then
		log "apt does not know $METAPACKAGE yet; running apt-get update"
		apt-get update -q >"$WORK/apt-update.log" 2>&1 || { cat "$WORK/apt-update.log" >&2; die "apt-get update failed"; }
		KPKG=$(resolve_kernel_package)
	fi
	[ -n "$KPKG" ] || die "cannot resolve the kernel package from $METAPACKAGE's Depends (apt-cache depends $METAPACKAGE)"
fi

log "downloading $KPKG and busybox-static"
KDEB=$(apt_download "$KPKG")
BDEB=$(apt_download busybox-static)
KVER=$(dpkg-deb -f "$KDEB" Version)
BVER=$(dpkg-deb -f "$BDEB" Version)
log "kernel $KPKG $KVER, busybox-static $BVER"

mkdir -p "$WORK/kpkg" "$WORK/bpkg"
dpkg-deb -x "$KDEB" "$WORK/kpkg"
dpkg-deb -x "$BDEB" "$WORK/bpkg"

KREL=${KPKG#linux-image-}
VMLINUZ="$WORK/kpkg/boot/vmlinuz-$KREL"
KCONFIG="$WORK/kpkg/boot/config-$KREL"
MODDIR="$WORK/kpkg/lib/modules/$KREL"
[ -f "$VMLINUZ" ] || die "$KPKG has no boot/vmlinuz-$KREL"
[ -f "$KCONFIG" ] || die "$KPKG has no boot/config-$KREL"
[ -d "$MODDIR" ] || die "$KPKG has no lib/modules/$KREL"
for opt in BLK_DEV_INITRD RD_GZIP DEVTMPFS SERIAL_8250_CONSOLE PACKET; do
	grep -qx "CONFIG_$opt=y" "$KCONFIG" || die "kernel $KREL lacks CONFIG_$opt=y, which the tiny guest needs"
done
BUSYBOX="$WORK/bpkg/bin/busybox"
[ -x "$BUSYBOX" ] || die "busybox-static has no bin/busybox"

# --------------------------------------------------------------- modules ----
ROOT="$WORK/root"
mkdir -p "$ROOT/lib/modules/tiny"

norm() { echo "${1//-/_}"; }
# Path of module $1 (any compression) under $MODDIR, or nothing.
find_module() {
	local n
	n=$(norm "$1")
	find "$MODDIR" -type f \( -name "$n.ko*" -o -name "${n//_/-}.ko*" \) | head -n1
}
is_builtin() { # per the kernel's modules.builtin (generated from its config)
	local n
	n=$(norm "$1")
	[ -f "$MODDIR/modules.builtin" ] &&
		sed 's#.*/##; s#\.ko$##; s#-#_#g' "$MODDIR/modules.builtin" | grep -qx "$n"
}
module_deps() { # names in the depends= field of the module's .modinfo
	local f=$1 tmp
	case "$f" in
	*.ko) tmp=$f ;;
	*) tmp="$WORK/dep.ko"; decompress_module "$f" "$tmp" ;;
	esac
	grep -a -o 'depends=[^[:cntrl:]]*' "$tmp" | head -n1 | sed 's/^depends=//; s/,/ /g'
}
decompress_module() { # decompress_module SRC DEST
	case "$1" in
	*.ko) cp "$1" "$2" ;;
	*.ko.xz) command -v xz >/dev/null || die "module $1 is xz-compressed: apt-get install -y xz-utils"; xz -dc "$1" >"$2" ;;
	*.ko.zst) command -v zstd >/dev/null || die "module $1 is zstd-compressed: apt-get install -y zstd"; zstd -qdc "$1" >"$2" ;;
	*.ko.gz) gzip -dc "$1" >"$2" ;;
	*) die "unknown module format: $1" ;;
	esac
}

ORDER=()
declare -A SEEN=()
add_module() { # add_module NAME CHAIN: dependencies first, each once
	local n f d
	n=$(norm "$1")
	[ -z "${SEEN[$n]:-}" ] || return 0
	SEEN[$n]=1
	f=$(find_module "$n")
	if [ -z "$f" ]; then
		if is_builtin "$n"; then
			log "module $n is built into $KREL; skipped"
			return 0
		fi
		die "module $n (needed by: $2) is neither in $KPKG nor built in"
	fi
	for d in $(module_deps "$f"); do
		add_module "$d" "$2 -> $n"
	done
	decompress_module "$f" "$ROOT/lib/modules/tiny/$n.ko"
	ORDER+=("$n.ko")
}
while read -r m only _; do
	case "$m" in ''|'#'*) continue ;; esac
	[ -z "$only" ] || [ "$only" = "$FLAVOUR" ] || continue
	add_module "$m" "$m"
done <"$RECIPE_DIR/modules.list"
printf '%s\n' "${ORDER[@]}" >"$ROOT/lib/modules/tiny/order"
log "modules: $(sed 's/\.ko$//' "$ROOT/lib/modules/tiny/order" | tr '\n' ' ')"

# ------------------------------------------------------------- initramfs ----
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,root,var/log,etc}
chmod 1777 "$ROOT/tmp"
chmod 700 "$ROOT/root"
install -m 755 "$BUSYBOX" "$ROOT/bin/busybox"
# One link per applet, in busybox's own layout (/bin, /sbin, /usr/bin, ...).
"$BUSYBOX" --list-full | while read -r p; do
	case "$p" in
	bin/busybox) continue ;;
	bin/*) rel=busybox ;;
	*/*/*) rel=../../bin/busybox ;;
	*) rel=../bin/busybox ;;
	esac
	ln -sf "$rel" "$ROOT/$p"
done
ln -sf bin/busybox "$ROOT/init" # the kernel runs /init -> busybox init(8)
cp -R "$RECIPE_DIR/rootfs/." "$ROOT/"
find "$ROOT/etc" "$ROOT/usr/share/udhcpc" -type f -exec sh -c '
	for f; do if head -c2 "$f" | grep -q "^#!"; then chmod 755 "$f"; else chmod 644 "$f"; fi; done' sh {} +
mknod -m 600 "$ROOT/dev/console" c 5 1
mknod -m 666 "$ROOT/dev/null" c 1 3
mknod -m 666 "$ROOT/dev/ttyS0" c 4 64
if [ ! -x "$ROOT/etc/init.d/rcS" ] || [ ! -f "$ROOT/etc/inittab" ]; then
	die "recipe rootfs lacks etc/init.d/rcS or etc/inittab"
fi

# Reproducible archive: fixed owner and mtime, sorted names.
find "$ROOT" -exec touch -h -d @0 {} +
(cd "$ROOT" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
	cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) |
	gzip -9 -n >"$WORK/initrd.img"
install -m 644 "$VMLINUZ" "$WORK/vmlinuz"

KSHA=$(sha256sum <"$WORK/vmlinuz" | cut -d' ' -f1)
ISHA=$(sha256sum <"$WORK/initrd.img" | cut -d' ' -f1)
MODS_JSON=$(printf '"%s", ' "${ORDER[@]%.ko}")
cat >"$WORK/manifest.json" <<EOF
{
  "kernel": "vmlinuz",
  "initrd": "initrd.img",
  "cmdline": "$CMDLINE",
  "flavour": "$FLAVOUR",
  "kernelPackage": "$KPKG",
  "version": "$KVER",
  "kernelRelease": "$KREL",
  "busyboxVersion": "$BVER",
  "modules": [${MODS_JSON%, }],
  "minMemoryMiB": 96,
  "readyLine": "READY ip=<addr|none> mem=<MemTotal kB> cpus=<n>",
  "kernelSha256": "$KSHA",
  "initrdSha256": "$ISHA",
  "recipeHash": "$RECIPE_HASH"
}
EOF

# Move into place; manifest.json last, so a manifest with this recipe hash
# always describes complete files (readers see no manifest meanwhile).
rm -f "$OUT_DIR/manifest.json"
mv -f "$WORK/vmlinuz" "$OUT_DIR/vmlinuz"
mv -f "$WORK/initrd.img" "$OUT_DIR/initrd.img"
sync -f "$OUT_DIR/initrd.img" 2>/dev/null || true
mv -f "$WORK/manifest.json" "$OUT_DIR/manifest.json"
log "built $OUT_DIR: vmlinuz $(stat -c %s "$OUT_DIR/vmlinuz") B, initrd.img $(stat -c %s "$OUT_DIR/initrd.img") B ($KPKG $KVER)"
