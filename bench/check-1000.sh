#!/usr/bin/env bash
# kaplan check on a 1,000-node plan with an explicit node list: warm wall-clock time, median of 10 runs.
#
#   bench/check-1000.sh [RUNS]          (default 10; target: median < 200 ms)
#
# Generates the plan into a temporary file (names, IPv4 addresses, MACs, per-node disks and disk sizes),
# builds kaplan in release mode (swift build -c release --product kaplan; KAPLAN_BENCH_SCRATCH picks another
# --scratch-path), checks the plan is valid, runs it once to warm the page cache, then times RUNS runs with
# hyperfine when installed, else with date +%s%N. KAPLAN_BENCH_STRICT=1 exits 1 when the median misses the target.
set -euo pipefail

runs=${1:-10}
target_ms=200
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

scratch_args=()
[[ -n ${KAPLAN_BENCH_SCRATCH:-} ]] && scratch_args=(--scratch-path "$KAPLAN_BENCH_SCRATCH")
echo "bench: swift build -c release --product kaplan ${scratch_args[*]}" >&2
swift build -c release --product kaplan "${scratch_args[@]}" >&2
bin_dir=$(swift build -c release --product kaplan "${scratch_args[@]}" --show-bin-path)
kaplan="$bin_dir/kaplan"

work=$(mktemp -d "${TMPDIR:-/tmp}/kaplan-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
plan="$work/plan-1000.yaml"
{
    cat <<'EOF'
version: 1
name: bench-1000
description: 1,000 nodes listed one by one (bench/check-1000.sh)
golden:
  disk: /dev/sda
table: gpt
partitions:
  - { id: esp, type: efi, size: 512MiB, filesystem: vfat, mount: /boot/efi, label: ESP }
  - { id: swap, type: swap, size: 8GiB, label: swap }
  - { id: root, type: linux, size: 60GiB, filesystem: ext4, mount: /, label: root, mount-options: [noatime, errors=remount-ro] }
  - { id: var, type: linux, size: 20%, filesystem: xfs, mount: /var, label: var }
  - { id: home, type: linux, size: fill, filesystem: ext4, mount: /home, label: home }
exclude:
  disks: [sdz]
  paths: [/tmp, /var/tmp, /var/cache/apt/archives]
nodes:
  disk-size: 480GB
  list:
EOF
    for ((i = 1; i <= 1000; i++)); do
        disk=/dev/sda
        size=480GB
        if ((i % 3 == 1)); then disk=/dev/nvme0n1; size=512GiB; fi
        if ((i % 7 == 0)); then disk=/dev/sdb; size=1TB; fi
        printf '    - { name: node%04d, address: 10.%d.%d.%d, mac: "52:54:%02x:%02x:%02x:%02x", disk: %s, disk-size: %s }\n' \
            "$i" $((i / 250 + 1)) $(((i / 100) % 250)) $((i % 100 + 10)) \
            $((i >> 24 & 255)) $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)) "$disk" "$size"
    done
    cat <<'EOF'
transport:
  kind: chain
  order: listed
  buffer: 64MiB
bootloader:
  kind: grub-efi
  initrd: { modules: [nvme, ahci] }
fixups:
  fstab: label
security:
  key-file: /etc/kaplan/session.key
policy:
  parallel: 16
  min-success: 95%
EOF
} >"$plan"

echo "bench: plan $(wc -c <"$plan") bytes, $(wc -l <"$plan") lines" >&2
if ! "$kaplan" check "$plan" >"$work/check.out"; then
    cat "$work/check.out" >&2
    echo "bench: the generated plan is not valid; fix the generator" >&2
    exit 1
fi
echo "bench: $(tail -1 "$work/check.out")" >&2

"$kaplan" check "$plan" >/dev/null # warm the page cache and the dynamic loader
if command -v hyperfine >/dev/null; then
    hyperfine --warmup 1 --runs "$runs" --export-json "$work/h.json" "$kaplan check $plan" >&2
    median_ms=$(python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$work/h.json")
    how=hyperfine
else
    times=()
    for ((r = 0; r < runs; r++)); do
        start=$(date +%s%N)
        "$kaplan" check "$plan" >/dev/null
        end=$(date +%s%N)
        times+=($(((end - start) / 1000)))
    done
    sorted=($(printf '%s\n' "${times[@]}" | sort -n))
    n=${#sorted[@]}
    if ((n % 2)); then median_us=${sorted[n / 2]}; else median_us=$(((sorted[n / 2 - 1] + sorted[n / 2]) / 2)); fi
    median_ms=$(awk -v us="$median_us" 'BEGIN { printf "%.1f", us / 1000 }')
    echo "bench: runs (µs): ${sorted[*]}" >&2
    how=$(awk -v lo="${sorted[0]}" -v hi="${sorted[n - 1]}" 'BEGIN { printf "min %.1f ms, max %.1f ms, date +%%s%%N", lo / 1000, hi / 1000 }')
fi
verdict=$(awk -v m="$median_ms" -v t="$target_ms" 'BEGIN { print (m < t) ? "meets" : "MISSES" }')
echo "kaplan check, 1,000-node plan: median ${median_ms} ms over $runs warm runs ($how); target < ${target_ms} ms: $verdict"
if [[ $verdict == MISSES && ${KAPLAN_BENCH_STRICT:-0} == 1 ]]; then exit 1; fi
