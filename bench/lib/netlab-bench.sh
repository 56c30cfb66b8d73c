#!/usr/bin/env bash
# Sourceable helpers for benchmarks that run on a network lab made by Tests/lab/netlab.sh.
#
#   source bench/lib/netlab-bench.sh
#   link_limit LAB NODE [SECONDS]   → prints the TCP goodput golden → NODE in Mbit/s (e.g. "93.4")
#   warm_memory                     → once per boot, touches the free memory (a VM's first-touch cost; below)
#   machine_since FILE [LABEL]      → the machine's CPU since FILE (a copy of /proc/stat's first line), steal included
#   queue_drops LAB [LABEL]         → packets the lab's shapers dropped since it came up: each node's egress (the
#                                     golden's too) and the switch's ports towards the nodes, the busiest named
#
# link_limit runs an iperf3 server in NODE's namespace (one test, then it exits) and an iperf3 client in the
# golden's namespace, parses the client's JSON with python3 and prints the receiver's goodput. This is the
# "link limit" that the chain and multicast benchmarks report their ratios against; measure it in the same run
# (same machine load) as the transport it is compared with. LINK_LIMIT_CC=NAME makes iperf3 use that TCP
# congestion control (iperf3 -C) instead of the kernel's default. Every child has a hard timeout and is killed by PID.
# Needs: root, iperf3, python3, a lab that is up.

NETLAB_BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NETLAB=${NETLAB:-$NETLAB_BENCH_ROOT/Tests/lab/netlab.sh}

link_limit() {
  local lab=${1:?usage: link_limit LAB NODE [SECONDS]} node=${2:?usage: link_limit LAB NODE [SECONDS]} seconds=${3:-${LINK_LIMIT_SECONDS:-5}}
  command -v iperf3 >/dev/null || { echo "link_limit: iperf3 is missing (Debian: iperf3; scripts/setup installs it)" >&2; return 1; }
  local addr golden port=5201 work rc=0 spid i
  addr=$("$NETLAB" addr "$lab" "$node") || return 1
  golden=$("$NETLAB" addr "$lab" g) || return 1
  work=$(mktemp -d /tmp/kaplan-linklimit.XXXXXX)
  # Server: one test only (-1), bound to the node's address, hard timeout.
  timeout --kill-after=5 $((seconds + 30)) "$NETLAB" exec "$lab" "$node" -- \
    iperf3 -s -1 -B "$addr" -p "$port" >"$work/server.log" 2>&1 &
  spid=$!
  # Wait (bounded: 5 s) until the server listens.
  for i in $(seq 1 50); do
    if "$NETLAB" exec "$lab" "$node" -- ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then break; fi
    if ! kill -0 "$spid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if ! timeout --kill-after=5 $((seconds + 20)) "$NETLAB" exec "$lab" g -- \
    iperf3 -c "$addr" -B "$golden" -p "$port" -t "$seconds" -O 1 ${LINK_LIMIT_CC:+-C "$LINK_LIMIT_CC"} -J >"$work/client.json" 2>"$work/client.err"; then
    echo "link_limit: iperf3 client in $lab-g → $node ($addr) failed; server log: $(tr '\n' ' ' <"$work/server.log"); client: $(head -c 600 "$work/client.json" "$work/client.err" | tr '\n' ' ')" >&2
    rc=1
  fi
  if kill -0 "$spid" 2>/dev/null; then kill -TERM "$spid" 2>/dev/null; sleep 0.5; kill -KILL "$spid" 2>/dev/null; fi
  wait "$spid" 2>/dev/null || true
  if ((rc == 0)); then
    python3 - "$work/client.json" <<'PY' || rc=1
import json, sys
with open(sys.argv[1]) as f:
    r = json.load(f)
if "error" in r:
    sys.exit(f"link_limit: iperf3 reported: {r['error']}")
bps = r["end"]["sum_received"]["bits_per_second"]
print(f"{bps / 1e6:.1f}")
PY
  fi
  rm -rf "$work"
  return $rc
}

# warm_memory: once per boot (a marker in /run names the boot), touches the machine's available memory but 2 GiB
# and gives it back. On a virtual machine whose memory the host backs on first touch (this lab's: 20 GiB took 66 s
# of system time the first time), a benchmark run soon after boot otherwise pays for that in every page-cache page
# its nodes write (16 chain nodes: ~0.75 of a core in copy_folio_from_iter_atomic), which is the hypervisor's cost,
# not the transport's. bench/RESULTS.md (chain, sixth run) has the figures.
warm_memory() {
  local marker=/run/kaplan-bench-warm boot
  boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null) || return 0
  [ "$(cat "$marker" 2>/dev/null)" = "$boot" ] && return 0
  echo "warming memory: the first benchmark since boot touches the free memory once (a VM's host backs it on first touch)"
  python3 - <<'PY' || true
import mmap
avail = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemAvailable:")) * 1024
n = max(0, avail - (2 << 30)) & ~0xFFFFF
if n:
    m = mmap.mmap(-1, n)
    for i in range(0, n, 4096):
        m[i] = 1
    m.close()
PY
  echo "$boot" > "$marker" 2>/dev/null || true
}

# machine_since FILE [LABEL]: the machine's CPU since FILE (a copy of /proc/stat's first line; or FILE:END for the
# interval between two copies): user, system, softirq, idle and steal (time the hypervisor gave this machine's cores
# to other guests; a paced stream loses it for good). This kernel has no IRQ time accounting: softirq work done in a
# task's context is counted as that task's system time.
machine_since() {
  python3 - "$1" "${2:-machine}" <<'PY'
import sys
start, _, end = sys.argv[1].partition(":")
a = [int(x) for x in open(start).read().split()[1:9]]
b = [int(x) for x in (open(end).read() if end else open("/proc/stat").readline()).split()[1:9]]
d = [y - x for x, y in zip(a, b)]; t = sum(d) or 1
print(f"{sys.argv[2]}: user {d[0]*100/t:.0f}%, system {d[2]*100/t:.0f}%, softirq {d[6]*100/t:.0f}%, "
      f"idle {(d[3]+d[4])*100/t:.0f}%, steal {d[7]*100/t:.0f}%")
PY
}

# queue_drops LAB [LABEL]: the lab's tbf queues that overflowed (tail drops make TCP back off; a relay's own data
# and the ACKs of the flow it receives share its egress queue). Reads `tc -s qdisc` in every namespace of LAB.
queue_drops() {
  local lab=${1:?usage: queue_drops LAB [LABEL]} label=${2:-queue drops} ns dev n
  local egress=() ports=()
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$lab-(g|n[0-9]+|switch)\$"); do
    while read -r dev n; do
      [ "$n" -gt 0 ] || continue
      if [ "$ns" = "$lab-switch" ]; then ports+=("$dev:$n"); else egress+=("${ns#"$lab"-}:$n"); fi
    done < <(tc -s -n "$ns" qdisc show 2>/dev/null | awk '/^qdisc tbf/ {dev=$5} /dropped/ && dev {gsub(",", ""); print dev, $7; dev=""}')
  done
  python3 - "$label" "${egress[*]:-}" "${ports[*]:-}" <<'PY'
import sys
label, egress, ports = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
def show(items):
    pairs = sorted(((int(n), name) for name, n in (i.rsplit(":", 1) for i in items)), reverse=True)
    total = sum(n for n, _ in pairs)
    return f"{total}" + (" (" + ", ".join(f"{name} {n}" for n, name in pairs[:4]) + (", …" if len(pairs) > 4 else "") + ")" if pairs else "")
print(f"{label}: node egress {show(egress)}; switch ports {show(ports)}")
PY
}
