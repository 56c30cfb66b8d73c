#!/usr/bin/env bash
# Local stream throughput: kaplan's stream (libarchive pax + zstd or none, extracted as it arrives, every file's
# SHA-256 compared) against GNU `tar -c | tar -x` of the same tree, on this machine, in one run.
# Usage: bench/stream-vs-tar.sh [TREE_MiB] [ROUNDS]    (root not needed; writes under /tmp and removes it)
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-1024}
rounds=${2:-3}
swift build -c release --product kaplan 2>&1 | tail -1
kaplan=.build/release/kaplan
work=$(mktemp -d /tmp/kaplan-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
src=$work/src
mkdir -p "$src"
# The tree: 3/4 of the bytes in large incompressible files, 1/4 in small files (4–64 KiB) in nested directories.
big=$((mib * 3 / 4))
for i in $(seq 1 $((big / 64))); do head -c 64M /dev/urandom > "$src/big-$i.bin"; done
small_bytes=$((mib / 4 * 1048576))
python3 - "$src" "$small_bytes" <<'PY'
import os, sys, random
root, budget = sys.argv[1], int(sys.argv[2])
random.seed(7)
n = 0
while budget > 0:
    d = os.path.join(root, "d%02d" % (n % 50), "e%02d" % (n % 7))
    os.makedirs(d, exist_ok=True)
    size = random.randint(4096, 65536)
    with open(os.path.join(d, "f%06d" % n), "wb") as f:
        f.write(os.urandom(size // 2) + bytes(size - size // 2))
    budget -= size
    n += 1
print(f"tree: {n} small files", file=sys.stderr)
PY
sync
bytes=$(du -sb "$src" | cut -f1)
echo "tree: $(du -sh "$src" | cut -f1) in $(find "$src" -type f | wc -l) files"
run() {  # name command…  → seconds
  rm -rf "$work/dst"; mkdir "$work/dst"; sync
  local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; sync; t1=$(date +%s%N)
  echo "scale=3; ($t1 - $t0) / 1000000000" | bc
}
declare -A times
for r in $(seq 1 "$rounds"); do
  times[tar]+=" $(run bash -c "tar -C '$src' -cf - . | tar -C '$work/dst' -xf -")"
  times[none]+=" $(run "$kaplan" dev copy-tree --compression none "$src" "$work/dst")"
  times[zstd]+=" $(run "$kaplan" dev copy-tree --compression zstd "$src" "$work/dst")"
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t_tar=$(echo "${times[tar]}" | median); t_none=$(echo "${times[none]}" | median); t_zstd=$(echo "${times[zstd]}" | median)
rate() { echo "scale=1; $bytes / 1048576 / $1" | bc; }
echo "median of $rounds rounds, $(nproc) cores:"
printf '  %-44s %8s s  %8s MiB/s\n' "GNU tar -c | tar -x" "$t_tar" "$(rate "$t_tar")"
printf '  %-44s %8s s  %8s MiB/s  (%.2fx tar)\n' "kaplan stream, no compression, digests" "$t_none" "$(rate "$t_none")" "$(echo "$t_tar / $t_none" | bc -l)"
printf '  %-44s %8s s  %8s MiB/s  (%.2fx tar)\n' "kaplan stream, zstd -3, digests" "$t_zstd" "$(rate "$t_zstd")" "$(echo "$t_tar / $t_zstd" | bc -l)"
