#!/usr/bin/env bash
# The link limit: iperf3 TCP goodput golden → node over one shaped lab link (Tests/lab/netlab.sh), in Mbit/s.
# The chain and multicast benchmarks report their goodput as a ratio of this figure.
# Usage: bench/link-limit.sh [--rate 100mbit|1gbit] [--seconds S] [--runs K]     (root; needs iperf3, python3)
# Builds a 1-node lab with a unique name, measures K times (default 1), prints one line per run, tears down.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=100mbit seconds=10 runs=1
while (($#)); do
  case $1 in
    --rate) rate=${2:?--rate needs a value, e.g. 100mbit or 1gbit}; shift 2 ;;
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    -h | --help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "link-limit.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $seconds =~ ^[1-9][0-9]*$ && $seconds -le 600 ]] || { echo "link-limit.sh: --seconds must be 1–600" >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]*$ && $runs -le 20 ]] || { echo "link-limit.sh: --runs must be 1–20" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "link-limit.sh: must run as root (network namespaces)" >&2; exit 1; }
# shellcheck source=lib/netlab-bench.sh
source bench/lib/netlab-bench.sh

lab=ll$(printf '%04x' $(($$ % 65536)))
trap '"$NETLAB" down "$lab" >/dev/null || echo "link-limit.sh: could not remove lab $lab; run: $NETLAB down $lab" >&2' EXIT
trap 'exit 130' INT TERM
"$NETLAB" up "$lab" 1 --rate "$rate" >/dev/null
echo "link limit, $rate link, iperf3 TCP golden → n1, ${seconds} s per run (load: $(cut -d' ' -f1-3 /proc/loadavg)):"
for i in $(seq 1 "$runs"); do
  mbps=$(link_limit "$lab" n1 "$seconds")
  echo "run $i: $mbps Mbit/s"
done
