#!/usr/bin/env bash
# The lab's ceiling for a chain, without kaplan (root): N model relays (bench/lib/relay-model.py: receive on one
# thread, forward on another, no disk, no crypto) in the namespaces of Tests/lab/netlab.sh, the golden sending
# MiB bytes through them, for each forwarding mode; per mode: iperf3 golden → n1 on the same lab just before, each
# node's rate from its first to its last byte in chain order, and the lab's tail drops (queue_drops).
#
#   bench/relay-model.sh [--nodes 16] [--rate 100mbit] [--mib 516] [--modes "1048576 262144 65536 0"] [--cc NAME]
#
# A mode is the piece a relay gathers before forwarding: 1048576 = whole 1 MiB chunks (store and forward, as
# kaplan's relays do), 0 = whatever each recv returns (cut-through). --cc NAME: every model socket and iperf3 use
# that TCP congestion control (default: the kernel's). Everything is removed at the end, also on
# failure: the lab, the processes (by PID), the payload file.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib/netlab-bench.sh
nodes=16 rate=100mbit mib=516 modes="1048576 262144 65536 0" cc=
while [ $# -gt 0 ]; do
  case $1 in
    --nodes) nodes=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --cc) cc=$2; shift 2 ;;
    *) echo "usage: bench/relay-model.sh [--nodes N] [--rate RATE] [--mib MiB] [--modes 'PIECE …'] [--cc NAME]" >&2; exit 64 ;;
  esac
done
lab=kbrm
work=$(mktemp -d /tmp/kaplan-relay-model.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$NETLAB" down $lab >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
warm_memory
head -c $((mib << 20)) /dev/urandom > "$work/payload"
model=$PWD/bench/lib/relay-model.py
for mode in $modes; do
  "$NETLAB" up $lab "$nodes" --rate "$rate" >/dev/null
  limit=$(LINK_LIMIT_CC=$cc link_limit $lab n1 5 2>/dev/null || echo 0)
  pids=()
  for i in $(seq "$nodes" -1 1); do  # the last node first: each relay connects to the next one
    next=-; [ "$i" -lt "$nodes" ] && next=$("$NETLAB" addr $lab "n$((i + 1))")
    piece=$mode; [ "$next" = - ] && piece=0
    "$NETLAB" exec $lab "n$i" -- timeout 300 nice -n -20 env RELAY_MODEL_CC="$cc" python3 "$model" relay "$("$NETLAB" addr $lab "n$i")" 9000 "$next" "$piece" \
      > "$work/n$i.out" 2>&1 &
    pids+=($!)
    sleep 0.1
  done
  sleep 1
  head -1 /proc/stat > "$work/stat0"
  "$NETLAB" exec $lab g -- timeout 300 nice -n -20 env RELAY_MODEL_CC="$cc" python3 "$model" send "$("$NETLAB" addr $lab n1)" 9000 "$work/payload"
  for p in "${pids[@]}"; do wait "$p" || true; done
  pids=()
  head -1 /proc/stat > "$work/stat1"
  rates=$(for i in $(seq 1 "$nodes"); do awk '{printf "%s ", $4}' "$work/n$i.out"; done)
  last=$(awk '{print $4}' "$work/n$nodes.out")
  ratio=$(python3 -c "print(f'{$last / $limit * 100:.1f} %' if $limit else '-')" 2>/dev/null || echo -)
  echo "piece $mode: iperf3 $limit; by node in chain order: $rates(last: $ratio of iperf3)"
  machine_since "$work/stat0:$work/stat1" "  machine"
  queue_drops $lab "  lab queue drops (iperf3 and relays)"
  "$NETLAB" down $lab >/dev/null
done
