#!/usr/bin/env bash
# Boot test for the image made by scripts/build-debian-image.sh (not part of
# its recipe hash). For each firmware asked for (default: bios uefi):
#   - a 4 GiB thin qcow2 overlay of debian12.qcow2 and a NoCloud seed (FAT,
#     label CIDATA, attached read-only as virtio-blk) that creates user
#     "tester" with a fresh SSH key and sets local-hostname dbtest;
#   - qemu-system-x86_64 -machine q35 -accel tcg -m 512 -smp 2, user-mode
#     network with restrict=on (no traffic leaves the VM) and only
#     127.0.0.1:<port> -> guest :22 forwarded, a guest-agent socket;
#   - checks: `ssh ... hostname` prints dbtest (time to SSH measured),
#     guest-ping and guest-network-get-interfaces answer, / was grown to ~4G.
# Every qemu started is killed on exit.
#
# Usage: scripts/debian-image/smoke-test.sh [bios] [uefi]
# Env: DEBIAN_IMAGE_OUT (default <repo>/.cache/guest/debian12),
#      SMOKE_TIMEOUT (seconds to wait for SSH, default 300), SMOKE_KEEP=1
#      keeps the work folder (serial logs).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
OUT_DIR=${DEBIAN_IMAGE_OUT:-$REPO_ROOT/.cache/guest/debian12}
IMAGE="$OUT_DIR/debian12.qcow2"
TIMEOUT=${SMOKE_TIMEOUT:-300}
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd

log() { echo "smoke-test: $*" >&2; }
die() { log "error: $*"; exit 1; }

FIRMWARES=("$@")
[ ${#FIRMWARES[@]} -gt 0 ] || FIRMWARES=(bios uefi)
for fw in "${FIRMWARES[@]}"; do
	case "$fw" in bios|uefi) ;; *) die "unknown firmware '$fw' (usage: $0 [bios] [uefi])" ;; esac
done

missing=()
for c in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils ssh:openssh-client ssh-keygen:openssh-client \
	socat:socat mkfs.vfat:dosfstools mcopy:mtools ss:iproute2; do
	command -v "${c%%:*}" >/dev/null 2>&1 || missing+=("${c#*:}")
done
[ ${#missing[@]} -eq 0 ] || die "missing tools -- install them with: apt-get install -y ${missing[*]}"
[ -s "$IMAGE" ] || die "no image at $IMAGE; run scripts/build-debian-image.sh first"
if [[ " ${FIRMWARES[*]} " == *" uefi "* ]] && { [ ! -f "$OVMF_CODE" ] || [ ! -f "$OVMF_VARS" ]; }; then
	die "missing $OVMF_CODE / $OVMF_VARS -- install them with: apt-get install -y ovmf"
fi

D=$(mktemp -d /tmp/debian12-smoke.XXXXXX)
PIDS=()
cleanup() {
	local rc=$? p
	set +e
	for p in "${PIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill "$p"
			for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
			kill -9 "$p" 2>/dev/null
		fi
	done
	if [ "${SMOKE_KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then log "work folder kept: $D"; else rm -rf "$D"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ssh-keygen -q -t ed25519 -N '' -C smoke-test -f "$D/key"
PUBKEY=$(cat "$D/key.pub")

make_seed() { # make_seed INSTANCE-ID -> $D/seed-<id>.img
	local id=$1 s="$D/seed-$1"
	mkdir -p "$s"
	cat >"$s/meta-data" <<EOF
instance-id: $id
local-hostname: dbtest
EOF
	cat >"$s/user-data" <<EOF
#cloud-config
users:
  - name: tester
    shell: /bin/bash
    sudo: ALL=(ALL) NOPASSWD:ALL
    ssh_authorized_keys:
      - $PUBKEY
EOF
	truncate -s 2M "$s.img"
	mkfs.vfat -n CIDATA "$s.img" >/dev/null
	MTOOLS_SKIP_CHECK=1 mcopy -i "$s.img" "$s/meta-data" "$s/user-data" ::/
}

free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}

qga() { # qga SOCKET JSON -> one reply line
	# Keep the connection open until the reply arrives: QEMU drops the
	# client (and the reply) as soon as it half-closes.
	local line=
	coproc QGA { exec socat - "UNIX-CONNECT:$1"; }
	printf '%s\n' "$2" >&"${QGA[1]}"
	read -t 20 -r line <&"${QGA[0]}" || true
	kill "$QGA_PID" 2>/dev/null
	wait "$QGA_PID" 2>/dev/null || true
	printf '%s\n' "$line"
}

boot() { # boot FIRMWARE
	local fw=$1 port vm="$D/$1" start t pid out
	mkdir -p "$vm"
	make_seed "smoke-$fw-$$"
	qemu-img create -q -f qcow2 -b "$IMAGE" -F qcow2 "$vm/disk.qcow2" 4G
	port=$(free_port)
	local fwargs=()
	if [ "$fw" = uefi ]; then
		cp "$OVMF_VARS" "$vm/vars.fd"
		fwargs=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE"
			-drive "if=pflash,format=raw,unit=1,file=$vm/vars.fd")
	fi
	start=$(date +%s%3N)
	qemu-system-x86_64 -machine q35 -accel tcg -m 512 -smp 2 -nographic \
		"${fwargs[@]}" \
		-drive "if=virtio,format=qcow2,file=$vm/disk.qcow2" \
		-drive "if=virtio,format=raw,readonly=on,file=$D/seed-smoke-$fw-$$.img" \
		-nic "user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" \
		-chardev "socket,path=$vm/qga.sock,server=on,wait=off,id=qga0" \
		-device virtio-serial -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0 \
		</dev/null >"$vm/serial.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	log "$fw: qemu pid $pid, ssh on 127.0.0.1:$port, serial log $vm/serial.log"

	SSH=(ssh -p "$port" -i "$D/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
		-o LogLevel=ERROR -o ConnectTimeout=5 -o BatchMode=yes tester@127.0.0.1)
	out=
	while :; do
		kill -0 "$pid" 2>/dev/null || { tail -n 30 "$vm/serial.log" >&2; die "$fw: qemu exited"; }
		out=$("${SSH[@]}" hostname 2>/dev/null) && break
		if [ $(($(date +%s%3N) - start)) -ge $((TIMEOUT * 1000)) ]; then
			tail -n 40 "$vm/serial.log" >&2
			die "$fw: no SSH after ${TIMEOUT}s"
		fi
		sleep 2
	done
	t=$(($(date +%s%3N) - start))
	[ "$out" = dbtest ] || die "$fw: ssh hostname printed '$out', expected dbtest"
	printf 'RESULT %s ssh_hostname=%s boot_to_ssh_seconds=%d.%d\n' "$fw" "$out" $((t / 1000)) $((t % 1000 / 100))

	log "$fw: guest agent"
	out=$(qga "$vm/qga.sock" '{"execute":"guest-ping"}')
	echo "RESULT $fw guest-ping: $out"
	[ "$out" = '{"return": {}}' ] || die "$fw: guest-ping answered '$out'"
	out=$(qga "$vm/qga.sock" '{"execute":"guest-network-get-interfaces"}')
	echo "RESULT $fw guest-network-get-interfaces: $out"
	[[ "$out" == '{"return": ['* ]] || die "$fw: guest-network-get-interfaces answered '$out'"

	log "$fw: root file system size"
	out=$("${SSH[@]}" df -B1 --output=size / | tail -n1 | tr -d ' ')
	echo "RESULT $fw root_fs_bytes=$out ($("${SSH[@]}" df -h / | tail -n1))"
	[ "$out" -gt $((3500 * 1024 * 1024)) ] || die "$fw: / is only $out bytes; growpart/resizefs did not run"

	log "$fw: waiting for cloud-init to finish"
	out=$("${SSH[@]}" 'timeout 300 cloud-init status --wait >/dev/null; cloud-init status' 2>&1 || true)
	echo "RESULT $fw cloud-init $out"
	[ "$out" = "status: done" ] || die "$fw: cloud-init did not finish cleanly: $out"
	out=$("${SSH[@]}" 'test -d /sys/firmware/efi && echo uefi || echo bios')
	echo "RESULT $fw guest booted via $out"
	[ "$out" = "$fw" ] || die "$fw: guest reports it booted via $out"

	"${SSH[@]}" 'set -x; uname -r; cloud-init status --long; systemctl is-system-running; systemd-analyze;
		lsblk -o NAME,SIZE,FSTYPE,LABEL,MOUNTPOINTS; ip -br addr; networkctl --no-pager;
		ls /etc/systemd/network; readlink /etc/resolv.conf; systemctl --failed --no-pager;
		systemd-analyze blame --no-pager | head -n 12' >"$vm/guest-info.txt" 2>&1 || true
	echo "RESULT $fw guest info: $vm/guest-info.txt"
	sed 's/^/    /' "$vm/guest-info.txt"

	kill "$pid"
	wait "$pid" 2>/dev/null || true
}

for fw in "${FIRMWARES[@]}"; do boot "$fw"; done
log "all checks passed (${FIRMWARES[*]})"
