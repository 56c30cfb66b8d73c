#!/usr/bin/env bash
# Boots a disk image in QEMU (TCG, no KVM) and checks the boot marker that the kaplan boot-proof golden
# (Tests/lab/make-debian-golden.sh) prints on the serial console (anywhere on a line: a getty's "login:" may
# come first):
#   KAPLAN-BOOT-MARKER hostname=H root-uuid=U state=S rw=yes|no swap=UUID[,UUID]|none failed=UNIT[,UNIT]|none
#
#   boot-clone.sh IMG --firmware bios|uefi --hostname H --root-uuid U [--swap-uuid S] [--timeout SECONDS] [--log FILE]
#
# The image is never written: QEMU runs with -snapshot (writes go to a temporary overlay). UEFI uses OVMF
# (Debian `ovmf`) with a writable copy of its VARS file. QEMU is killed by its PID at the timeout (default 300 s)
# and on any exit of this script.
# Exit 0 only when the marker shows hostname H, root UUID U, state `running` with no failed unit, / read-write,
# and exactly the clone's swap active (S when given, else the UUID of the image's own swap partition). Otherwise
# exit 1 with the reason and the last 30 lines of the serial log.
set -euo pipefail

usage() {
  echo "usage: $0 IMG --firmware bios|uefi --hostname H --root-uuid U [--swap-uuid S] [--timeout SECONDS] [--log FILE]" >&2
  exit 2
}
img='' firmware='' want_host='' want_root='' want_swap='' timeout=300 log=''
while [[ $# -gt 0 ]]; do
  case $1 in
    --firmware) firmware=${2:-}; shift 2 ;;
    --hostname) want_host=${2:-}; shift 2 ;;
    --root-uuid) want_root=${2:-}; shift 2 ;;
    --swap-uuid) want_swap=${2:-}; shift 2 ;;
    --timeout) timeout=${2:-}; shift 2 ;;
    --log) log=${2:-}; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "boot-clone: unknown option $1" >&2; usage ;;
    *) [[ -z $img ]] || usage; img=$1; shift ;;
  esac
done
[[ -n $img && -n $want_host && -n $want_root ]] || usage
[[ $firmware == bios || $firmware == uefi ]] || { echo "boot-clone: --firmware must be bios or uefi" >&2; usage; }
[[ $timeout =~ ^[0-9]+$ && $timeout -gt 0 ]] || { echo "boot-clone: --timeout wants a whole number of seconds" >&2; exit 2; }
[[ -r $img ]] || { echo "boot-clone: cannot read $img" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "boot-clone: qemu-system-x86_64 is missing (Debian qemu-system-x86)" >&2; exit 1; }

work=$(mktemp -d /tmp/kaplan-boot.XXXXXX)
[[ -n $log ]] || log=$work/serial.log
: > "$log"
qemu_pid=''
cleanup() {
  set +e
  if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill -TERM "$qemu_pid" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$qemu_pid" 2>/dev/null
    wait "$qemu_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "boot-clone: FAIL $img ($firmware): $1" >&2
  echo "---- last 30 lines of the serial log ($log) ----" >&2
  tail -n 30 "$log" | tr -d '\r' >&2
  exit 1
}

# The swap the clone must use: its own swap partition's UUID, read from the image's table (offset loop, read-only).
if [[ -z $want_swap ]]; then
  swapstart=$(sfdisk -J "$img" | python3 -c '
import json, sys
t = json.load(sys.stdin)["partitiontable"]
swap = {"82", "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"}
for p in t["partitions"]:
    if p["type"].upper() in swap:
        print(p["start"] * 512, p["size"] * 512); break')
  if [[ -n $swapstart ]]; then
    read -r off sz <<<"$swapstart"
    loop=$(losetup -r -f --show -o "$off" --sizelimit "$sz" "$img")
    want_swap=$(blkid -p -s UUID -o value "$loop" || true)  # -p: never the cache (a reused loop number)
    losetup -d "$loop"
  fi
  want_swap=${want_swap:-none}
fi

args=(-accel tcg -machine q35 -m 1024 -smp 2 -nographic -no-reboot -snapshot
      -drive "file=$img,format=raw,if=virtio"
      -nic none -serial "file:$log" -monitor none)
if [[ $firmware == uefi ]]; then
  code='' vars=''
  for pair in /usr/share/OVMF/OVMF_CODE_4M.fd:/usr/share/OVMF/OVMF_VARS_4M.fd /usr/share/OVMF/OVMF_CODE.fd:/usr/share/OVMF/OVMF_VARS.fd; do
    if [[ -r ${pair%%:*} && -r ${pair#*:} ]]; then code=${pair%%:*} vars=${pair#*:}; break; fi
  done
  [[ -n $code ]] || { echo "boot-clone: no OVMF firmware in /usr/share/OVMF (Debian ovmf)" >&2; exit 1; }
  cp "$vars" "$work/vars.fd"
  args+=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$code" -drive "if=pflash,format=raw,unit=1,file=$work/vars.fd")
fi

# The marker line, once QEMU has written all of it (only newline-terminated lines count).
find_marker() { tr -d '\r' < "$log" | perl -ne 'print if /\n\z/' | grep -a -o -m1 'KAPLAN-BOOT-MARKER .*' || true; }

started=$SECONDS
qemu-system-x86_64 "${args[@]}" </dev/null >"$work/qemu.out" 2>&1 &
qemu_pid=$!
marker=''
while :; do
  marker=$(find_marker)
  [[ -z $marker ]] || break
  if ! kill -0 "$qemu_pid" 2>/dev/null; then
    wait "$qemu_pid" && status=0 || status=$?
    qemu_pid=''
    marker=$(find_marker)
    [[ -n $marker ]] && break
    fail "QEMU exited (status $status) after $((SECONDS - started)) s without a boot marker; QEMU said: $(tail -n 3 "$work/qemu.out" | tr '\n' ' ')"
  fi
  # States a boot never leaves by itself: fail at once instead of waiting for the timeout.
  stuck=$(tr -d '\r' < "$log" | grep -a -o -m1 -E 'grub rescue>|^grub> |Kernel panic[^\x1b]*|\(initramfs\) |Gave up waiting for [a-z ]+' || true)
  [[ -z $stuck ]] || fail "the boot stopped at \"$stuck\" after $((SECONDS - started)) s (QEMU killed)"
  (( SECONDS - started < timeout )) || fail "no boot marker within $timeout s (QEMU killed)"
  sleep 1
done
seconds=$((SECONDS - started))
# Let the guest power off by itself (a few seconds), then make sure QEMU is gone.
for _ in $(seq 1 30); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 1; done

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$marker"; }
host=$(field hostname) root=$(field root-uuid) state=$(field state) rw=$(field rw) swap=$(field swap) failed=$(field failed)
problems=()
[[ $host == "$want_host" ]] || problems+=("hostname is '$host', expected '$want_host'")
[[ $root == "$want_root" ]] || problems+=("root filesystem UUID is '$root', expected '$want_root'")
[[ $state == running ]] || problems+=("systemctl is-system-running says '$state', expected 'running'")
[[ $failed == none ]] || problems+=("failed units: $failed")
[[ $rw == yes ]] || problems+=("/ is mounted read-only")
[[ $swap == "$want_swap" ]] || problems+=("active swap is '$swap', expected '$want_swap'")
if [[ ${#problems[@]} -gt 0 ]]; then
  fail "$(IFS=';'; echo "${problems[*]}") — marker: $marker"
fi
echo "boot-clone: OK $img ($firmware) booted in $seconds s: $marker"
