#!/usr/bin/env bash
# Chain transport benchmark (root): a golden with a large incompressible file deployed by `kaplan apply` over the
# chain to N agents in network namespaces (Tests/lab/netlab.sh), each writing its own image file, on tc-shaped
# links; the link limit (iperf3 TCP goodput, bench/lib/netlab-bench.sh) is measured in the same run, on the same
# lab, just before. udpcast (udp-sender/udp-receiver) runs on the same lab for the side-by-side figure.
#
#   bench/chain.sh [--big MiB] [--runs "100mbit:1 100mbit:4 1gbit:1 1gbit:4 none:2"] [--udpcast "1gbit:4"]
#                  [--kaplan PATH]   (default: .build/release/kaplan, built if missing)
#                  [--chunk SIZE]    (the plan's transport.chunk-size, e.g. 256KiB; default: the plan's default)
#                  [--keep-logs DIR] (each kaplan run's server events, server and agent logs go to DIR/RATE-N/)
#                  [--cc NAME]       (the plan's transport.congestion-control, e.g. system or bbr; default: the plan's
#                                     default, cubic)
#
# Per run it prints: link, N, iperf3 Mbit/s, per-node stream goodput (min / median, Mbit/s) = stream bytes / the
# node's stream-step time, the ratio min/iperf3, the whole deployment's wall time, and each agent's CPU seconds
# per GiB of stream (an agent relays AND writes its own disk: decrypting, extracting, hashing; the relay share is
# a part of it); then the transfer figure: min per-node goodput from the node's first stream byte to the end of its
# stream step (its first `progress` event with bytes > 0 → its step-succeeded, both stamped by apply), i.e.
# without the time a node that finished formatting early waits for the slowest one before the golden starts
# the stream (the chain starts when every node is ready; udpcast's figures also count from its transfer start),
# and its ratio to iperf3; on a second line, the relay's own share (the receiving and serving threads' CPU, sampled from
# /proc by bench/lib/thread-cpu.py, per GiB forwarded). The iperf3 figure is the higher of two runs when the
# kernel's default congestion control is not the one kaplan's data links use (cubic unless --cc): one with the
# kernel's default, one with kaplan's (iperf3 -C); both are printed. Everything (namespaces, processes, loops, files) is
# removed at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib/netlab-bench.sh
big=512
runs="100mbit:1 100mbit:4 1gbit:1 1gbit:4 none:2"
udp="1gbit:4"
k=
chunk=
keep=
cc=
while [ $# -gt 0 ]; do
  case $1 in
    --big) big=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --udpcast) udp=$2; shift 2 ;;
    --kaplan) k=$(realpath "$2"); shift 2 ;;
    --chunk) chunk=$2; shift 2 ;;
    --keep-logs) keep=${2:?}; shift 2 ;;
    --cc) cc=${2:?}; shift 2 ;;
    *) echo "usage: bench/chain.sh [--big MiB] [--runs 'RATE:N …'] [--udpcast 'RATE:N …'] [--kaplan PATH] [--chunk SIZE] [--keep-logs DIR] [--cc NAME]" >&2; exit 64 ;;
  esac
done
if [ -z "${k:-}" ]; then
  k=$PWD/.build/release/kaplan
  [ -x "$k" ] || swift build -c release --product kaplan 2>&1 | tail -1
fi
[ -x "$k" ] || { echo "bench/chain.sh: $k is not an executable kaplan" >&2; exit 64; }
work=$(mktemp -d /tmp/kaplan-bench-chain.XXXXXX)
lab=kbch
sampler=
cleanup() {
  if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null || true; fi
  "$NETLAB" down $lab >/dev/null 2>&1 || true
  for f in "$work"/*.img; do for l in $(losetup -j "$f" -O NAME -n 2>/dev/null); do losetup -d "$l" || true; done; done
  rm -rf "$work"
}
trap cleanup EXIT
warm_memory
echo "golden: lab tree + ${big} MiB incompressible (/home/big.bin)"
Tests/lab/make-golden.sh "$work/golden.img" $((big + 700)) >/dev/null
Tests/lab/add-big-file.sh "$work/golden.img" "$big"
head -c 32 /dev/urandom > "$work/session.key"; chmod 600 "$work/session.key"
plan() {  # N → plan.yaml
  { cat <<PLAN
version: 1
name: benchchain
golden: { image: golden.img }
table: dos
partitions:
  - { id: root, type: linux, size: 600MiB, filesystem: ext4, mount: /, bootable: true }
  - { id: swap, type: swap, size: 64MiB }
  - { id: home, type: linux, size: fill, filesystem: xfs, mount: /home }
nodes:
  disk-size: $((big + 1000))MiB
  list:
PLAN
    for i in $(seq 1 "$1"); do echo "    - { name: node$i, image: n$i.img }"; done
    cat <<PLAN
transport: { kind: chain, order: name, join-timeout: 120s${chunk:+, chunk-size: $chunk}${cc:+, congestion-control: $cc} }
bootloader: { kind: none, initrd: { rebuild: false } }
fixups: { ssh-host-keys: keep }
exclude: { paths: [/scratch] }
security: { key-file: session.key }
policy: { retries: 0 }
PLAN
  } > "$work/plan.yaml"
}
printf '%-8s %3s %10s %12s %12s %7s %8s %12s %7s %s\n' link N iperf3 min-Mbit/s med-Mbit/s ratio wall-s xfer-min xratio "agent CPU-s/GiB (node1..N)"
for r in $runs; do
  rate=${r%:*} n=${r#*:}
  "$NETLAB" up $lab "$n" --rate "$rate" >/dev/null
  limit=$(link_limit $lab n1 5 2>/dev/null || echo 0)
  # The same link with the congestion control kaplan's links use, where the kernel's default is another one.
  system_cc=$("$NETLAB" exec $lab g -- cat /proc/sys/net/ipv4/tcp_congestion_control)
  kaplan_cc=${cc:-cubic}; [ "$kaplan_cc" = system ] && kaplan_cc=$system_cc
  limits="iperf3 $system_cc (kernel default) $limit"
  if [ "$kaplan_cc" != "$system_cc" ]; then
    other=$(LINK_LIMIT_CC=$kaplan_cc link_limit $lab n1 5 2>/dev/null || echo 0)
    limits="$limits, $kaplan_cc $other"
    limit=$(python3 -c "print(max($limit, $other))")
  fi
  plan "$n"
  for i in $(seq 1 "$n"); do rm -f "$work/n$i.img"; truncate -s $((big + 1000))M "$work/n$i.img"; done
  rm -f "$work/threads.json" "$work/threads.stop"
  python3 bench/lib/thread-cpu.py "$work/threads.json" "$work/threads.stop" 1000 &
  sampler=$!
  pids=()
  for i in $(seq 1 "$n"); do
    "$NETLAB" exec $lab n$i -- /usr/bin/time -f "%U %S" -o "$work/cpu$i" timeout 900 \
      "$k" agent --server 10.213.0.1 --key "$work/session.key" --name node$i --disk "$work/n$i.img" --wait 120 \
      > "$work/agent$i.log" 2>&1 &
    pids+=($!)
  done
  head -1 /proc/stat > "$work/stat0"
  t0=$(date +%s.%N)
  status=0
  "$NETLAB" exec $lab g -- timeout 900 "$k" apply "$work/plan.yaml" --auto-approve --format json > "$work/server.jsonl" 2>"$work/server.err" || status=$?
  t1=$(date +%s.%N)
  head -1 /proc/stat > "$work/stat1"
  for p in "${pids[@]}"; do wait "$p" || true; done
  touch "$work/threads.stop"; wait "$sampler" || true
  python3 - "$work" "$n" "$rate" "$limit" "$status" "$t0" "$t1" <<'PY'
import json, sys, statistics
work, n, rate, limit, status, t0, t1 = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4] or 0), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
secs, nbytes, first, done = {}, {}, {}, {}
for line in open(f"{work}/server.jsonl"):
    try: e = json.loads(line)
    except ValueError: continue
    if e.get("event") == "step-succeeded" and e["step"].endswith(".stream"):
        secs[e["step"].split(".")[0]] = e["seconds"]
        done[e["step"].split(".")[0]] = e["t"]
    if e.get("event") == "progress" and e.get("bytes", 0) > 0 and e["node"] not in first:
        first[e["node"]] = (e["t"], e["bytes"])
    if e.get("event") == "report":
        for o in e["nodes"]: nbytes[o["node"]] = o["bytes"]
rates = [nbytes[k] * 8 / secs[k] / 1e6 for k in secs if k in nbytes and secs[k] > 0]
cpu = []
for i in range(1, n + 1):
    try:
        u, s = open(f"{work}/cpu{i}").read().split()[-2:]
        cpu.append((float(u) + float(s)) / (nbytes.get(f"node{i}", 0) / 2**30 or 1))
    except Exception: cpu.append(float("nan"))
if not rates or status not in (0,):
    print(f"{rate:<8} {n:>3}   FAILED (apply exit {status}); see {work}/server.err"); sys.exit(0)
mn, md = min(rates), statistics.median(rates)
ratio = f"{mn/limit*100:.1f}%" if limit else "-"
xfer = [(nbytes[k] - first[k][1]) * 8 / (done[k] - first[k][0]) / 1e6 for k in done
        if k in first and k in nbytes and done[k] > first[k][0]]
xmn = min(xfer) if len(xfer) == len(rates) else float("nan")
xratio = f"{xmn/limit*100:.1f}%" if limit and xmn == xmn else "-"
print(f"{rate:<8} {n:>3} {limit:>10.1f} {mn:>12.1f} {md:>12.1f} {ratio:>7} {t1-t0:>8.1f} {xmn:>12.1f} {xratio:>7} "
      + " ".join(f"{c:.2f}" for c in cpu))
if n > 1 and len(xfer) == n:
    # In chain order (the plan's `order: name`: node1, node10, …, node2, …): a figure that falls along the chain
    # is lost to the relays, not to the golden.
    order = sorted(done)
    print(f"{'':<8}     transfer Mbit/s by node in chain order ({order[0]} first): " + " ".join(
        f"{(nbytes[k] - first[k][1]) * 8 / (done[k] - first[k][0]) / 1e6:.1f}" for k in order))
# Each agent's closing line about its upstream link (ChainAgent.describe): the rate from its first to its last chunk
# (the network alone, without its disk's tail), and what held its upstream back (its disk or its downstream, behind
# by the whole window). The golden's line says how long it waited for its own producer.
import re
link, held = {}, []
for i in range(1, n + 1):
    try: text = open(f"{work}/agent{i}.log").read()
    except OSError: continue
    m = re.search(r"node\d+: received .*?\(([\d.]+) Mbit/s\)", text)
    if m: link[f"node{i}"] = float(m.group(1))
    m = re.search(r"the window held the upstream back ([^;\n]*)", text)
    if m: held.append(f"node{i}: {m.group(1)}")
if len(link) == n:
    order = sorted(link)
    print(f"{'':<8}     first-to-last-chunk Mbit/s in chain order: " + " ".join(f"{link[k]:.1f}" for k in order)
          + (f" (min {min(link.values()) / limit * 100:.1f} % of iperf3)" if limit else ""))
print(f"{'':<8}     upstream held back by a full window: " + ("; ".join(held) if held else "never"))
try:
    for line in open(f"{work}/server.err"):
        if "golden: served" in line: print(f"{'':<8}     {line.strip()[line.find('golden: served'):]}")
except OSError: pass
# The relay's own share: the threads that receive and verify (kaplan-upstream) and serve the next node
# (kaplan-data-serve, named kaplan-data-ser by Linux), per GiB forwarded; the last node forwards nothing.
try:
    threads = json.load(open(f"{work}/threads.json"))
except Exception:
    threads = {}
relay = []
for i in range(1, n):
    t = threads.get(f"node{i}", {})
    gib = nbytes.get(f"node{i}", 0) / 2**30
    if gib:
        relay.append(f"node{i} {(t.get('kaplan-upstream', 0) + t.get('kaplan-data-ser', 0)) / gib:.2f}")
if relay:
    print(f"{'':<8}     relay CPU-s/GiB forwarded (receive+verify+serve threads): " + ", ".join(relay))
# Where a middle node's CPU goes, by thread name (the busiest thread of each name), per GiB of its stream.
mid = f"node{min(2, n)}"
gib = nbytes.get(mid, 0) / 2**30
if gib and threads.get(mid):
    top = sorted(threads[mid].items(), key=lambda kv: -kv[1])[:6]
    print(f"{'':<8}     {mid} threads CPU-s/GiB: " + ", ".join(f"{k} {v / gib:.2f}" for k, v in top))
PY
  echo "             link limit: $limits (ratios against the higher); kaplan's data links: $kaplan_cc"
  machine_since "$work/stat0:$work/stat1" "             machine during apply"
  queue_drops $lab "             lab queue drops (iperf3 and apply)"
  if [ -n "$keep" ]; then
    mkdir -p "$keep/$rate-$n"
    cp "$work"/server.jsonl "$work"/server.err "$work"/agent*.log "$work"/threads.json "$work/plan.yaml" "$keep/$rate-$n/" 2>/dev/null || true
  fi
  "$NETLAB" down $lab >/dev/null
done
for r in $udp; do
  rate=${r%:*} n=${r#*:}
  "$NETLAB" up $lab "$n" --rate "$rate" --multicast >/dev/null
  head -c $((big << 20)) /dev/urandom > "$work/udp.bin"
  pids=()
  for i in $(seq 1 "$n"); do
    "$NETLAB" exec $lab n$i -- timeout 300 udp-receiver --nokbd --interface eth0 --rcvbuf 4194304 --file "$work/udp$i.out" >/dev/null 2>&1 &
    pids+=($!)
  done
  sleep 1
  t0=$(date +%s.%N)
  "$NETLAB" exec $lab g -- timeout 300 udp-sender --nokbd --min-receivers "$n" --interface eth0 --file "$work/udp.bin" >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do wait "$p" || true; done
  t1=$(date +%s.%N)
  ok=0; for i in $(seq 1 "$n"); do cmp -s "$work/udp.bin" "$work/udp$i.out" && ok=$((ok + 1)); rm -f "$work/udp$i.out"; done
  python3 -c "import sys; b=$big*2**20*8; t=$t1-$t0; print(f'udpcast  {$n:>3} {\"\":>10} {b/t/1e6:>12.1f} {\"(whole send, $ok of $n intact)\":>12}')"
  rm -f "$work/udp.bin"
  "$NETLAB" down $lab >/dev/null
done
