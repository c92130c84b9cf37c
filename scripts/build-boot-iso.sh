#!/usr/bin/env bash
# Build two tiny bootable images, unmodified GRUB rescue ISOs made by Debian's
# grub-mkrescue, for the boot tests (test/devices.test.ts):
#
#   .cache/guest/boot-iso/cdrom.iso      prints BOOTED-FROM-CDROM on the serial console
#   .cache/guest/boot-iso/disk.iso       prints BOOTED-FROM-DISK
#   .cache/guest/boot-iso/manifest.json  file -> marker, and the recipe hash
#
# Each boots under BIOS (grub-pc-bin: El Torito, and an MBR as a hybrid image,
# so the same file is a bootable raw disk) and under UEFI (grub-efi-amd64-bin:
# an EFI system partition in the image), prints its marker on COM1 (115200
# baud) and then idles, so that which image a VM booted is read from its serial
# log. Neither has a kernel or anything else: GRUB is the whole guest.
#
# Idempotent: does nothing when the outputs exist and were made by the same
# recipe (this script and the GRUB packages' versions); --force (or
# BOOT_ISO_FORCE=1) rebuilds. Output folder: BOOT_ISO_OUT (default
# <repo>/.cache/guest/boot-iso). Needs grub-common, grub-pc-bin,
# grub-efi-amd64-bin, xorriso and mtools (scripts/debian-packages).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
OUT_DIR=${BOOT_ISO_OUT:-$REPO_ROOT/.cache/guest/boot-iso}
FORCE=${BOOT_ISO_FORCE:-0}
GRUB_PACKAGES=(grub-common grub-pc-bin grub-efi-amd64-bin)
# file name -> marker; the tests read the pairs from the manifest.
declare -A MARKERS=([cdrom.iso]=BOOTED-FROM-CDROM [disk.iso]=BOOTED-FROM-DISK)

log() { echo "build-boot-iso: $*" >&2; }
die() { log "error: $*"; exit 1; }

for a in "$@"; do
	case "$a" in
	--force|-f) FORCE=1 ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $a (usage: $0 [--force])" ;;
	esac
done

missing=()
for p in "${GRUB_PACKAGES[@]}" xorriso mtools; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || die "missing Debian packages: ${missing[*]} -- install them with: apt-get install -y ${missing[*]}"
# Both platforms, or the image would boot under one firmware only.
for platform in i386-pc x86_64-efi; do
	[ -d "/usr/lib/grub/$platform" ] || die "/usr/lib/grub/$platform is missing (grub-pc-bin / grub-efi-amd64-bin)"
done

RECIPE_HASH=$(
	{
		sha256sum <"${BASH_SOURCE[0]}" | cut -d' ' -f1
		dpkg-query -W -f='${Package} ${Version}\n' "${GRUB_PACKAGES[@]}"
	} | sha256sum | cut -d' ' -f1
)

up_to_date() {
	[ -s "$OUT_DIR/manifest.json" ] && grep -q "\"recipeHash\": \"$RECIPE_HASH\"" "$OUT_DIR/manifest.json" || return 1
	local f
	for f in "${!MARKERS[@]}"; do [ -s "$OUT_DIR/$f" ] || return 1; done
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

WORK=$(mktemp -d "$OUT_DIR/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

entries=()
for f in $(printf '%s\n' "${!MARKERS[@]}" | LC_ALL=C sort); do
	marker=${MARKERS[$f]}
	mkdir -p "$WORK/$f.d/boot/grub"
	# The firmware's own console may be a screen that nobody sees: GRUB talks
	# to COM1 itself. The marker is echoed on a line of its own, then GRUB
	# idles (a `halt` would power off the VM and end the evidence).
	cat >"$WORK/$f.d/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
echo "$marker"
while true; do sleep 3600; done
EOF
	# Only what the config uses, no fonts, locales or themes: a ~5 MB image.
	grub-mkrescue -o "$WORK/$f" --fonts= --locales= --themes= \
		--install-modules="serial terminal echo sleep normal configfile test" \
		"$WORK/$f.d" >"$WORK/$f.log" 2>&1 || { cat "$WORK/$f.log" >&2; die "grub-mkrescue for $f failed"; }
	entries+=("\"$f\": \"$marker\"")
done

joined=$(printf '%s, ' "${entries[@]}")
cat >"$WORK/manifest.json" <<EOF
{
  "markers": { ${joined%, } },
  "grub": "$(dpkg-query -W -f='${Version}' grub-common)",
  "recipeHash": "$RECIPE_HASH"
}
EOF
rm -f "$OUT_DIR/manifest.json"
for f in "${!MARKERS[@]}"; do mv -f "$WORK/$f" "$OUT_DIR/$f"; done
mv -f "$WORK/manifest.json" "$OUT_DIR/manifest.json"
log "built $OUT_DIR: $(cd "$OUT_DIR" && stat -c '%n %s B' "${!MARKERS[@]}" | paste -sd ' ')"
