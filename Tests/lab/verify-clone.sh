#!/usr/bin/env bash
# Verifies a clone made from the lab golden (Tests/lab/make-golden.sh) by any kaplan transport (root):
# the trees equal the golden's (treecmp.py) but for what the fix-ups change on purpose, /scratch is empty with
# mode 1770 and owner 1234:5678, /etc/hostname is the node's, and /etc/fstab names the clone's own UUIDs.
# Usage: verify-clone.sh GOLDEN.img CLONE.img NODE_NAME   (clone layout: #1 ext4 /, #2 swap, #3 xfs /home)
# Attaches read-only offset loops and cleans them up even on failure. Exit 0 when the clone is right.
set -euo pipefail
golden=$1 clone=$2 node=$3
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/kaplan-verify.XXXXXX)
loops=() mounts=()
cleanup() {
  for ((i=${#mounts[@]}-1; i>=0; i--)); do umount "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" || true; done
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
attach() {  # image partition-number → prints the loop device (read-only)
  local geometry
  geometry=$(sfdisk -J "$1" | python3 -c "import json,sys; p=[q for q in json.load(sys.stdin)['partitiontable']['partitions'] if q['node'].endswith('$2')][0]; print(p['start']*512, p['size']*512)")
  set -- "$1" $geometry
  losetup -r -f --show -o "$2" --sizelimit "$3" "$1"
}
mountp() {  # image number type dir
  local l; l=$(attach "$1" "$2"); loops+=("$l")
  mkdir -p "$4"
  mount -t "$3" -o "$([ "$3" = xfs ] && echo ro,norecovery || echo ro,noload)" "$l" "$4"; mounts+=("$4")
}
mountp "$golden" 1 ext4 "$work/g"; mountp "$golden" 3 xfs "$work/g/home"
mountp "$clone" 1 ext4 "$work/c"; mountp "$clone" 3 xfs "$work/c/home"
fail=0
python3 "$here/treecmp.py" "$work/g" "$work/c" --changed etc/fstab etc/hostname etc/hosts etc/machine-id etc/initramfs-tools \
  etc/udev/rules.d/70-persistent-net.rules var/lib/dhcp var/lib/kaplan scratch lost+found home/lost+found || fail=1
if [ -n "$(ls -A "$work/c/scratch")" ] || [ "$(stat -c '%a %u:%g' "$work/c/scratch")" != "1770 1234:5678" ]; then
  echo "verify-clone: /scratch is not empty with mode 1770 1234:5678: $(stat -c '%a %u:%g' "$work/c/scratch") $(ls -A "$work/c/scratch" | head -3)"; fail=1
fi
[ "$(cat "$work/c/etc/hostname")" = "$node" ] || { echo "verify-clone: /etc/hostname is '$(cat "$work/c/etc/hostname")', expected '$node'"; fail=1; }
for n in 1 3; do
  l=$(attach "$clone" $n); loops+=("$l")
  uuid=$(blkid -p -s UUID -o value "$l")
  grep -q "UUID=$uuid" "$work/c/etc/fstab" || { echo "verify-clone: /etc/fstab does not name partition $n's UUID $uuid"; fail=1; }
done
[ $fail = 0 ] && echo "verify-clone: $clone is a correct clone for $node"
exit $fail
