#!/usr/bin/env bash
# Builds a golden disk image for kaplan's local-apply tests (root; loop devices):
#   dos table: #1 ext4 / (400 MiB), #2 swap (64 MiB), #3 xfs /home (the rest, ≥ 320 MiB)
# with files that exercise what a clone must keep: xattrs (user + security), POSIX ACLs, a hard-link group,
# a sparse file, symlinks, a device node, a fifo, long and non-ASCII names, unusual modes and owners, and
# /scratch (excluded by the lab plans) with content and mode 1770 owned 1234:5678.
# Usage: make-golden.sh OUT.img [SIZE_MiB]   — cleans up its loops and mounts even on failure.
set -euo pipefail
out=$1
size=${2:-1024}
work=$(mktemp -d /tmp/kaplan-golden.XXXXXX)
loops=()
cleanup() {
  for m in "$work/mnt/home" "$work/mnt"; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

rm -f "$out"
truncate -s "${size}M" "$out"
sfdisk -q "$out" <<'TABLE'
label: dos
start=2048, size=819200, type=83, bootable
size=131072, type=82
type=83
TABLE
part() {  # start and size in bytes of partition $1
  sfdisk -J "$out" | python3 -c "import json,sys; p=json.load(sys.stdin)['partitiontable']['partitions'][$1-1]; print(p['start']*512, p['size']*512)"
}
attach() { read -r off sz < <(part "$1"); losetup -f --show -o "$off" --sizelimit "$sz" "$out"; }
# Each device is recorded in the parent shell (a $(…) runs in a subshell) so that cleanup detaches it.
root=$(attach 1); loops+=("$root")
swap=$(attach 2); loops+=("$swap")
home=$(attach 3); loops+=("$home")
mkfs.ext4 -q -F -L goldroot "$root"
mkswap -q -L goldswap "$swap" >/dev/null
mkfs.xfs -q -f -L goldhome "$home"
mkdir -p "$work/mnt"
mount "$root" "$work/mnt"
mkdir -p "$work/mnt/home"
mount "$home" "$work/mnt/home"
r=$work/mnt
uuid() { blkid -p -s UUID -o value "$1"; }  # -p: never blkid's cache (loop numbers are reused)

mkdir -p "$r"/{etc,var/lib,usr/bin,tmp,dev,proc,sys,run,boot} "$r/etc/ssh" "$r/etc/udev/rules.d" "$r/var/lib/dhcp"
chmod 1777 "$r/tmp"
cat > "$r/etc/fstab" <<FSTAB
# /etc/fstab of the golden (kaplan lab)
UUID=$(uuid "$root")	/	ext4	errors=remount-ro	0	1
UUID=$(uuid "$home")	/home	xfs	defaults	0	2
UUID=$(uuid "$swap")	none	swap	sw	0	0
tmpfs	/run/shm	tmpfs	defaults	0	0
FSTAB
echo golden > "$r/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tgolden\n' > "$r/etc/hosts"
echo 0123456789abcdef0123456789abcdef > "$r/etc/machine-id"
echo 'SUBSYSTEM=="net", NAME="eth0"' > "$r/etc/udev/rules.d/70-persistent-net.rules"
echo 'lease { }' > "$r/var/lib/dhcp/dhclient.eth0.leases"
for k in rsa ed25519; do echo "fake $k key" > "$r/etc/ssh/ssh_host_${k}_key"; chmod 600 "$r/etc/ssh/ssh_host_${k}_key"; done

# Content of every kind.
head -c 3145728 /dev/urandom > "$r/usr/bin/random.bin"
echo "hello" > "$r/etc/plain.txt"
: > "$r/etc/empty"
ln "$r/etc/plain.txt" "$r/etc/hardlink-a"; ln "$r/etc/plain.txt" "$r/usr/bin/hardlink-b"
ln -s plain.txt "$r/etc/rel-link"; ln -s /etc/plain.txt "$r/etc/abs-link"; ln -s /nowhere "$r/etc/dangling"
truncate -s 64M "$r/var/lib/sparse.img"; printf 'start' | dd of="$r/var/lib/sparse.img" conv=notrunc status=none
printf 'end' | dd of="$r/var/lib/sparse.img" bs=1M seek=40 conv=notrunc status=none
mknod "$r/dev/kaplan-null" c 1 3; mkfifo "$r/dev/kaplan-fifo"
setfattr -n user.kaplan -v golden "$r/etc/plain.txt"
setfattr -n security.kaplan -v secret "$r/usr/bin/random.bin"
setfacl -m u:1234:rwx,g:5678:r-x "$r/etc/empty"
long=$(printf 'n%.0s' $(seq 1 200)); echo long > "$r/etc/$long"
echo unicode > "$r/etc/résumé-日本語-ÆØÅ.txt"
mkdir -m 0700 "$r/root"; echo secret > "$r/root/.profile"
chown -R 1234:5678 "$r/usr/bin"
mkdir -p "$r/home/alice"; head -c 1048576 /dev/urandom > "$r/home/alice/data.bin"; chown -R 1000:1000 "$r/home/alice"
setfattr -n user.home -v yes "$r/home/alice/data.bin"
mkdir -p "$r/scratch/deep"; echo "do not copy" > "$r/scratch/deep/file"; chown 1234:5678 "$r/scratch"; chmod 1770 "$r/scratch"
sync
echo "golden image $out: root $(uuid "$root"), home $(uuid "$home"), swap $(uuid "$swap")"
