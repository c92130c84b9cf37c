#!/usr/bin/env bash
# Run Debian's libvirtd + virtlogd inside a private network namespace (and a
# private mount namespace whose /etc/libvirt, /var/lib/libvirt, /var/log/libvirt,
# /var/cache/libvirt and /run/libvirt are directories under .cache/peer/libvirt),
# so the libvirt bridge, dnsmasq and every guest live in that netns and the
# host's libvirt files are never touched.
#
#   bash bench/peer/libvirt.sh start    # idempotent; waits for `virsh version`
#   bash bench/peer/libvirt.sh stop     # kills everything in the netns, deletes it; idempotent
#   bash bench/peer/libvirt.sh status
#
# Clients connect with  LIBVIRT_DEFAULT_URI=qemu+unix:///system?socket=$PEER_SOCK  (see env.sh).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$HERE/env.sh"

log() { printf '[libvirt] %s\n' "$*"; }
S="$PEER_STATE"
NS="$PEER_NETNS"

# awk reads the whole list (a `grep -q` could exit early and fail the pipeline under pipefail).
ns_exists() { ip netns list | awk -v ns="$NS" '$1 == ns { found = 1 } END { exit !found }'; }
alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
virsh_ok() { timeout 10 virsh -q -c "$LIBVIRT_DEFAULT_URI" version >/dev/null 2>&1; }

write_config() {
  # Fresh private config from Debian's defaults, minus the NAT'ed "default" network.
  rm -rf "$S/etc"; mkdir -p "$S/etc"
  cp -a /etc/libvirt/. "$S/etc/"
  rm -f "$S/etc/qemu/networks/"*.xml "$S/etc/qemu/networks/autostart/"*.xml "$S/etc/qemu/"*.xml
  cat >> "$S/etc/libvirtd.conf" <<'EOF'

# --- bench/peer tweaks ---
# No polkit/dbus here: the socket is root-only (0700), so no extra auth.
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_rw_perms = "0700"
unix_sock_ro_perms = "0700"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
  cat >> "$S/etc/virtlogd.conf" <<'EOF'

# --- bench/peer tweaks ---
log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
EOF
  cat >> "$S/etc/qemu.conf" <<'EOF'

# --- bench/peer tweaks (no systemd, no cgroup delegation, no AppArmor in this sandbox) ---
# QEMU runs as root and libvirt does not chown the kernel/initrd under /work.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
# No systemd/machined and no writable cgroup hierarchy for libvirt: don't use cgroups.
cgroup_controllers = [ ]
# No SELinux/AppArmor confinement.
security_driver = "none"
# Don't give each QEMU a private /dev mount namespace.
namespaces = [ ]
EOF
}

start() {
  [[ -x "$(command -v libvirtd)" ]] || { echo "libvirtd missing: run bench/peer/setup.sh" >&2; exit 1; }
  if ns_exists && alive "$S/run/libvirtd.pid" && virsh_ok; then
    log "already running (netns $NS, socket $PEER_SOCK)"; return 0
  fi
  # Half-started leftovers: clean them first.
  stop_all quiet
  mkdir -p "$S"/{run,lib,log,cache}
  write_config
  # Mount points on the host for the private bind mounts (left empty on the host).
  mkdir -p /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt /run/libvirt

  log "creating netns $NS (loopback only, no links to the host)"
  ip netns add "$NS"
  ip -n "$NS" link set lo up

  log "starting virtlogd + libvirtd inside netns $NS"
  ip netns exec "$NS" unshare --mount --propagation private bash -euc '
    S="$1"
    mount --bind "$S/etc"   /etc/libvirt
    mount --bind "$S/lib"   /var/lib/libvirt
    mount --bind "$S/log"   /var/log/libvirt
    mount --bind "$S/cache" /var/cache/libvirt
    mount --bind "$S/run"   /run/libvirt
    virtlogd --daemon --pid-file "$S/run/virtlogd.pid"
    for _ in $(seq 1 50); do [ -S /run/libvirt/virtlogd-sock ] && break; sleep 0.1; done
    libvirtd --daemon --pid-file "$S/run/libvirtd.pid"
  ' _ "$S"

  for _ in $(seq 1 100); do virsh_ok && break; sleep 0.2; done
  if ! virsh_ok; then
    log "libvirtd did not answer; last log lines:"; tail -20 "$S/log/libvirtd.log" 2>/dev/null || true
    stop_all quiet; exit 1
  fi
  log "up: virtlogd pid $(cat "$S/run/virtlogd.pid"), libvirtd pid $(cat "$S/run/libvirtd.pid")"
  log "URI: $LIBVIRT_DEFAULT_URI"
  virsh -c "$LIBVIRT_DEFAULT_URI" version
}

stop_all() {
  local quiet="${1:-}"
  say() { [[ -n "$quiet" ]] || log "$*"; }
  if virsh_ok; then
    for d in $(virsh -q -c "$LIBVIRT_DEFAULT_URI" list --all --name); do
      say "destroying domain $d"
      virsh -q -c "$LIBVIRT_DEFAULT_URI" destroy "$d" >/dev/null 2>&1 || true
      virsh -q -c "$LIBVIRT_DEFAULT_URI" undefine "$d" --nvram >/dev/null 2>&1 || true
    done
    for n in $(virsh -q -c "$LIBVIRT_DEFAULT_URI" net-list --all --name); do
      say "destroying network $n"
      virsh -q -c "$LIBVIRT_DEFAULT_URI" net-destroy "$n" >/dev/null 2>&1 || true
      virsh -q -c "$LIBVIRT_DEFAULT_URI" net-undefine "$n" >/dev/null 2>&1 || true
    done
  fi
  local f all=""
  ns_exists && all="$(ip netns pids "$NS" 2>/dev/null | tr '\n' ' ')"
  for f in libvirtd virtlogd; do
    if alive "$S/run/$f.pid"; then say "stopping $f (pid $(cat "$S/run/$f.pid"))"; kill "$(cat "$S/run/$f.pid")" 2>/dev/null || true; fi
  done
  if ns_exists; then
    # Everything left in the netns (qemu, dnsmasq, daemons): TERM, then KILL.
    local pids i
    for i in $(seq 1 50); do
      pids="$(ip netns pids "$NS" 2>/dev/null | tr '\n' ' ')"
      [[ -z "${pids// }" ]] && break
      if ((i == 1)); then say "terminating pids in netns: $pids"; fi
      # shellcheck disable=SC2086
      if ((i < 30)); then kill $pids 2>/dev/null || true; else kill -9 $pids 2>/dev/null || true; fi
      sleep 0.2
    done
    pids="$(ip netns pids "$NS" 2>/dev/null | tr '\n' ' ')"
    [[ -z "${pids// }" ]] || { echo "processes still in netns $NS: $pids" >&2; }
    say "deleting netns $NS"
    ip netns del "$NS" || true
  fi
  # Killed daemons are reaped by PID 1 a moment later: wait until they are gone.
  local p
  for _ in $(seq 1 50); do
    local left=""
    for p in $all; do [[ -n "$(ps -o stat= -p "$p" 2>/dev/null)" ]] && left+=" $p"; done
    [[ -z "$left" ]] && break
    sleep 0.1
  done
  # Runtime + libvirt state are private and disposable.
  rm -rf "$S/run" "$S/lib" "$S/cache"
  rmdir /run/libvirt 2>/dev/null || true
  # Terraform state refers to objects that are gone now.
  rm -f "$PEER_CACHE/work/terraform.tfstate" "$PEER_CACHE/work/terraform.tfstate.backup"
  say "stopped"
}

status() {
  if ns_exists; then log "netns $NS exists; pids: $(ip netns pids "$NS" | tr '\n' ' ')"; else log "no netns $NS"; fi
  if virsh_ok; then virsh -c "$LIBVIRT_DEFAULT_URI" list --all; virsh -c "$LIBVIRT_DEFAULT_URI" net-list --all; else log "libvirtd not answering"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop_all ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
