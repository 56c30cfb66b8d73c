#!/usr/bin/env bash
# Adds an incompressible file of SIZE MiB as /home/big.bin to a lab golden (Tests/lab/make-golden.sh), so that a
# stream lasts long enough to kill or stall a node in the middle of it. Root; cleans up its loop and mount.
# Usage: add-big-file.sh GOLDEN.img SIZE_MiB
set -euo pipefail
img=$1 size=$2
work=$(mktemp -d /tmp/kaplan-big.XXXXXX)
loop=
cleanup() { mountpoint -q "$work" && umount "$work"; [ -n "$loop" ] && losetup -d "$loop"; rmdir "$work"; }
trap cleanup EXIT
read -r start length < <(sfdisk -J "$img" | python3 -c "import json,sys; p=json.load(sys.stdin)['partitiontable']['partitions'][2]; print(p['start']*512, p['size']*512)")
loop=$(losetup -f --show -o "$start" --sizelimit "$length" "$img")
mount -t xfs "$loop" "$work"
head -c "$((size << 20))" /dev/urandom > "$work/big.bin"
umount "$work"
