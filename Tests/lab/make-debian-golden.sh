#!/usr/bin/env bash
# Builds a real, bootable Debian bookworm golden disk image for kaplan's boot proof (root; loop devices, no udev).
#
#   make-debian-golden.sh --firmware bios|uefi [--no-cache] [--cache-dir DIR] OUT.img
#
#   bios: dos label   #1 ext4 / (bootable, 1792 MiB)   #2 swap (the rest)
#   uefi: gpt label   #1 ESP vfat /boot/efi (128 MiB)  #2 ext4 / (1664 MiB)  #3 swap (the rest)
#
# The image is 2 GiB and sparse. It holds debootstrap --variant=minbase bookworm (from the mirror apt is configured
# with on this machine: /etc/apt/sources.list and /etc/apt/sources.list.d/*.list|*.sources, read at run time),
# linux-image-amd64, systemd-sysv, initramfs-tools and grub-pc (bios) or grub-efi-amd64 (uefi), installed on the
# image itself, so the golden boots as a real golden would. Hostname `golden`; kernel command line console=ttyS0.
#
# kaplan-boot-marker.service prints ONE line to the serial console once boot-up has settled, then powers off:
#   KAPLAN-BOOT-MARKER hostname=H root-uuid=U state=S rw=yes|no swap=UUID[,UUID]|none failed=UNIT[,UNIT]|none
# (Tests/lab/boot-clone.sh boots an image and checks that line.)
#
# Cache: a finished image is kept in DIR (default /var/cache/kaplan-lab) under a key made of this script's hash
# and the firmware; a rerun copies it (sparse) instead of building (~75 s). --no-cache always rebuilds.
# Every loop device and mount is released on exit, success or failure.
set -euo pipefail

usage() { echo "usage: $0 --firmware bios|uefi [--no-cache] [--cache-dir DIR] OUT.img" >&2; exit 2; }
firmware='' out='' use_cache=1 cache_dir=/var/cache/kaplan-lab
while [[ $# -gt 0 ]]; do
  case $1 in
    --firmware) firmware=${2:-}; shift 2 ;;
    --firmware=*) firmware=${1#*=}; shift ;;
    --no-cache) use_cache=0; shift ;;
    --cache-dir) cache_dir=${2:-}; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "make-debian-golden: unknown option $1" >&2; usage ;;
    *) [[ -z $out ]] || usage; out=$1; shift ;;
  esac
done
[[ $firmware == bios || $firmware == uefi ]] || { echo "make-debian-golden: --firmware must be bios or uefi" >&2; usage; }
[[ -n $out ]] || usage
[[ $(id -u) == 0 ]] || { echo "make-debian-golden: must run as root (loop devices, mounts, chroot)" >&2; exit 1; }
for tool in debootstrap losetup sfdisk mkfs.ext4 mkswap blkid chroot; do
  command -v "$tool" >/dev/null || { echo "make-debian-golden: $tool is missing (scripts/setup installs it)" >&2; exit 1; }
done
[[ $firmware == bios ]] || command -v mkfs.vfat >/dev/null || { echo "make-debian-golden: mkfs.vfat is missing (dosfstools)" >&2; exit 1; }

started=$SECONDS
key=$( { cat "$0"; echo "firmware=$firmware"; } | sha256sum | cut -c1-16)
cached="$cache_dir/debian-golden-$firmware-$key.img"
if [[ $use_cache == 1 && -s $cached ]]; then
  cp --sparse=always "$cached" "$out.tmp.$$" && mv "$out.tmp.$$" "$out"
  echo "golden ($firmware) $out: reused $cached"
  exit 0
fi

# The mirror: the first `deb` entry whose suites include bookworm, in one-line or deb822 format.
mirror=$(
  shopt -s nullglob
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    # deb [options] URI SUITE COMPONENTS…
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    # Stanzas separated by blank lines; fields URIs/Suites/Types/Enabled.
    awk 'BEGIN { RS = ""; FS = "\n" }
      { types = ""; uris = ""; suites = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          line = $i; sub(/#.*/, "", line)
          if (match(line, /^[Tt]ypes:/)) types = substr(line, RLENGTH + 1)
          else if (match(line, /^URIs:/)) uris = substr(line, RLENGTH + 1)
          else if (match(line, /^Suites:/)) suites = substr(line, RLENGTH + 1)
          else if (match(line, /^Enabled:/)) enabled = substr(line, RLENGTH + 1)
        }
        if (enabled ~ /no/ || types !~ /(^|[ \t])deb([ \t]|$)/) next
        n = split(suites, s, /[ \t]+/)
        for (j = 1; j <= n; j++) if (s[j] == "bookworm") { split(uris, u, /[ \t]+/); for (k = 1; k in u; k++) if (u[k] != "") { print u[k]; exit } }
      }' "$f"
  done | head -n1
)
[[ -n $mirror ]] || {
  echo "make-debian-golden: no 'deb … bookworm' entry in /etc/apt/sources.list or /etc/apt/sources.list.d/*.{list,sources};" \
       "configure a Debian mirror for apt first" >&2
  exit 1
}

work=$(mktemp -d /tmp/kaplan-debian-golden.XXXXXX)
mnt=$work/root
loops=()
cleanup() {
  local status=$?
  set +e   # errexit would stop the cleanup at its first failing command
  if [[ -d $mnt ]]; then
    # Whatever is still mounted below the root, deepest first (the chroot's /dev, /proc, /sys, the ESP, /).
    findmnt -rn -o TARGET | grep -E "^$mnt(/|$)" | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
  fi
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$work"
  [[ $status == 0 ]] || rm -f "$out.tmp.$$"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

img=$out.tmp.$$
rm -f "$img"
truncate -s 2G "$img"
if [[ $firmware == bios ]]; then
  sfdisk -q "$img" <<'TABLE'
label: dos
start=2048, size=1792MiB, type=83, bootable
type=82
TABLE
  rootnr=1 swapnr=2 espnr=''
else
  sfdisk -q "$img" <<'TABLE'
label: gpt
start=2048, size=128MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system"
size=1664MiB, type=0FC63DAF-8483-4772-8E79-3D69C47D8E4F, name=root
type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name=swap
TABLE
  espnr=1 rootnr=2 swapnr=3
fi
part() {  # start and size in bytes of partition $1
  sfdisk -J "$img" | python3 -c "import json,sys; p=json.load(sys.stdin)['partitiontable']['partitions'][$1-1]; print(p['start']*512, p['size']*512)"
}
attach() { read -r off sz < <(part "$1"); losetup -f --show -o "$off" --sizelimit "$sz" "$img"; }
# Each device is recorded in this shell (a $(…) runs in a subshell) so that cleanup detaches it.
root=$(attach "$rootnr"); loops+=("$root")
swap=$(attach "$swapnr"); loops+=("$swap")
mkfs.ext4 -q -F -L goldroot "$root"
mkswap -q -L goldswap "$swap" >/dev/null
uuid() { blkid -p -s UUID -o value "$1"; }  # -p: never blkid's cache (loop numbers are reused)
mkdir -p "$mnt"
mount "$root" "$mnt"
if [[ -n $espnr ]]; then
  # The ESP is made but never mounted: kernels without vfat (this lab's has none, and no modules) are common
  # in containers and VMs. Its files are written with mtools from inside the chroot, below.
  esp=$(attach "$espnr"); loops+=("$esp")
  mkfs.vfat -F 32 -n GOLDESP "$esp" >/dev/null
  mkdir -p "$mnt/boot/efi"
fi

echo "make-debian-golden: debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$mnt" "$mirror" > "$work/debootstrap.log" 2>&1 || {
  echo "make-debian-golden: debootstrap failed; its last lines:" >&2; tail -n 20 "$work/debootstrap.log" >&2
  [[ -f $mnt/debootstrap/debootstrap.log ]] && tail -n 20 "$mnt/debootstrap/debootstrap.log" >&2
  exit 1
}

# Configuration a Debian installer would have written, before the packages that read it.
cat > "$mnt/etc/fstab" <<FSTAB
# /etc/fstab of the kaplan boot-proof golden ($firmware)
UUID=$(uuid "$root")	/	ext4	errors=remount-ro	0	1
${espnr:+UUID=$(uuid "${esp:-}")	/boot/efi	vfat	umask=0077	0	1}
UUID=$(uuid "$swap")	none	swap	sw	0	0
FSTAB
echo golden > "$mnt/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tgolden\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$mnt/etc/hosts"
echo "deb $mirror bookworm main" > "$mnt/etc/apt/sources.list"
mkdir -p "$mnt/etc/initramfs-tools/conf.d" "$mnt/etc/default"
echo "RESUME=UUID=$(uuid "$swap")" > "$mnt/etc/initramfs-tools/conf.d/resume"
cat > "$mnt/etc/default/grub" <<'GRUB'
# kaplan boot-proof golden: boot at once, kernel and GRUB on the serial console.
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0"
GRUB_TERMINAL="serial console"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
GRUB
printf '#!/bin/sh\nexit 101\n' > "$mnt/usr/sbin/policy-rc.d"   # no daemon starts inside the chroot
chmod 755 "$mnt/usr/sbin/policy-rc.d"

# The chroot gets a /dev of its own (a tmpfs): the host has no udev and its /dev must not be written, and
# grub-mkconfig writes root=UUID=… only when /dev/disk/by-uuid/<uuid> exists.
mount -t tmpfs -o mode=0755,size=1m kaplan-golden-dev "$mnt/dev"
for n in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0 console:5:1 ptmx:5:2; do
  IFS=: read -r name major minor <<<"$n"; mknod -m 666 "$mnt/dev/$name" c "$major" "$minor"
done
mkdir -p "$mnt/dev/pts" "$mnt/dev/shm" "$mnt/dev/disk/by-uuid"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$mnt/dev/pts"
whole=$(losetup -f --show "$img"); loops+=("$whole")
for dev in "${loops[@]}"; do
  IFS=: read -r major minor < "/sys/class/block/$(basename "$dev")/dev"
  mknod -m 660 "$mnt$dev" b "$major" "$minor"
done
for dev in "$root" "$swap" ${esp:+"$esp"}; do ln -s "$dev" "$mnt/dev/disk/by-uuid/$(uuid "$dev")"; done
mount -t proc proc "$mnt/proc"
mount -t sysfs sysfs "$mnt/sys"
in_chroot() { chroot "$mnt" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive "$@"; }

if [[ $firmware == bios ]]; then
  bootpkgs=(grub-pc)
  in_chroot debconf-set-selections <<'DEBCONF'
grub-pc grub-pc/install_devices multiselect
grub-pc grub-pc/install_devices_empty boolean true
DEBCONF
else
  bootpkgs=(grub-efi-amd64 dosfstools mtools)
fi
echo "make-debian-golden: installing linux-image-amd64 systemd-sysv initramfs-tools ${bootpkgs[*]}"
{ in_chroot apt-get update && in_chroot apt-get install -y --no-install-recommends \
    linux-image-amd64 systemd-sysv initramfs-tools e2fsprogs "${bootpkgs[@]}"; } > "$work/apt.log" 2>&1 || {
  echo "make-debian-golden: apt-get in the chroot failed; its last lines:" >&2; tail -n 30 "$work/apt.log" >&2; exit 1
}

# The boot marker. Type=idle, not oneshot: a oneshot's start job would keep boot-up unfinished, and
# `systemctl is-system-running --wait` would then wait for the marker itself.
cat > "$mnt/usr/local/sbin/kaplan-boot-marker" <<'MARKER'
#!/bin/sh
# Prints one line describing how this boot went to the serial console, then powers off.
state=$(timeout 240 systemctl is-system-running --wait 2>/dev/null) || true
[ -n "$state" ] || state=$(systemctl is-system-running 2>/dev/null || true)
case $(findmnt -no OPTIONS /) in rw,*|rw) rw=yes ;; *) rw=no ;; esac
swap=$(swapon --show=UUID --noheadings 2>/dev/null | tr -d ' ' | grep . | paste -sd, -)
failed=$(systemctl list-units --failed --plain --no-legend 2>/dev/null | awk '{print $1}' | paste -sd, -)
line="KAPLAN-BOOT-MARKER hostname=$(uname -n) root-uuid=$(findmnt -no UUID /) state=$state rw=$rw swap=${swap:-none} failed=${failed:-none}"
printf '\n%s\n' "$line" > /dev/ttyS0   # on a line of its own, whatever the getty printed last
echo "$line"
systemctl poweroff --no-block
MARKER
chmod 755 "$mnt/usr/local/sbin/kaplan-boot-marker"
cat > "$mnt/etc/systemd/system/kaplan-boot-marker.service" <<'UNIT'
[Unit]
Description=kaplan boot proof: report this boot on the serial console, then power off
After=multi-user.target

[Service]
Type=idle
ExecStart=/usr/local/sbin/kaplan-boot-marker
StandardOutput=journal

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/kaplan-boot-marker.service "$mnt/etc/systemd/system/multi-user.target.wants/kaplan-boot-marker.service"

# The bootloader, on the golden itself, from inside its chroot. / is on a loop device of its own, so grub-install
# sees a whole disk without a partition table and would leave the partition module out of the core image (GRUB
# then stops at "no such device: <uuid>" / grub rescue): name it.
if [[ $firmware == bios ]]; then
  in_chroot grub-install --target=i386-pc --modules=part_msdos "$whole" > "$work/grub.log" 2>&1 || { cat "$work/grub.log" >&2; exit 1; }
else
  # grub-install wants the ESP mounted as FAT, which this kernel cannot do: build the same EFI program with
  # grub-mkstandalone (GRUB, and its modules on a memdisk that stays the prefix, and a first grub.cfg that finds /
  # by UUID and hands over to /boot/grub/grub.cfg) and copy it with mtools to the fallback path EFI/BOOT/BOOTX64.EFI (firmware without a
  # boot entry for this disk starts that) and to EFI/debian/grubx64.efi.
  mkdir -p "$mnt/boot/grub"
  cat > "$mnt/tmp/kaplan-early.cfg" <<EARLY
search --no-floppy --fs-uuid --set=root $(uuid "$root")
configfile (\$root)/boot/grub/grub.cfg
EARLY
  { in_chroot grub-mkstandalone -O x86_64-efi -o /tmp/grubx64.efi --modules="part_gpt ext2 search search_fs_uuid" \
      "boot/grub/grub.cfg=/tmp/kaplan-early.cfg" &&
    in_chroot mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/debian &&
    in_chroot mcopy -i "$esp" /tmp/grubx64.efi ::/EFI/BOOT/BOOTX64.EFI &&
    in_chroot mcopy -i "$esp" /tmp/grubx64.efi ::/EFI/debian/grubx64.efi; } > "$work/grub.log" 2>&1 || { cat "$work/grub.log" >&2; exit 1; }
  rm -f "$mnt/tmp/grubx64.efi" "$mnt/tmp/kaplan-early.cfg"
fi
# grub-mkconfig's 10_linux emits no menu entry at all when / is on /dev/loop0…9 ("cannot cope with devices
# loop-mounted from files"): name the root by its by-uuid link for this one run (/etc/default/grub is read after
# grub-mkconfig probes the device, so the setting wins), then put the file back as it was.
cp -p "$mnt/etc/default/grub" "$work/default-grub"
echo "GRUB_DEVICE=/dev/disk/by-uuid/$(uuid "$root")" >> "$mnt/etc/default/grub"
in_chroot update-grub > "$work/update-grub.log" 2>&1 || { cat "$work/update-grub.log" >&2; exit 1; }
cp -p "$work/default-grub" "$mnt/etc/default/grub"
grep -q "root=UUID=$(uuid "$root")" "$mnt/boot/grub/grub.cfg" || {
  echo "make-debian-golden: grub.cfg does not boot root=UUID=$(uuid "$root"):" >&2; grep -m3 'linux' "$mnt/boot/grub/grub.cfg" >&2; exit 1
}

# What a golden does not carry: the build's caches, the chroot guard, this build's identity.
rm -f "$mnt/usr/sbin/policy-rc.d" "$mnt/etc/resolv.conf"
in_chroot apt-get clean >/dev/null
rm -rf "$mnt/var/lib/apt/lists/"* "$mnt/var/log/apt/"* "$mnt/var/cache/debconf/"*-old
umount "$mnt/sys" "$mnt/proc" "$mnt/dev/pts" "$mnt/dev"
fstrim "$mnt" 2>/dev/null || true
umount "$mnt"
sync
mv "$img" "$out"
echo "golden ($firmware) $out: root $(uuid "$root"), swap $(uuid "$swap")${espnr:+, esp $(uuid "${esp:-}")}, built in $((SECONDS - started)) s"
if [[ $use_cache == 1 ]]; then
  mkdir -p "$cache_dir"
  rm -f "$cache_dir/debian-golden-$firmware-"*.img
  cp --sparse=always "$out" "$cached.tmp" && mv "$cached.tmp" "$cached"
fi
