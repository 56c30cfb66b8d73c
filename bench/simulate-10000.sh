#!/usr/bin/env bash
# kaplan simulate at scale: 10,000 nodes, 1 GiB stream, 1 MiB chunks, chain and multicast, with faults.
# Target: under 10 s each (release build). Prints wall and CPU time per run.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product kaplan 2>&1 | tail -1
k=.build/release/kaplan
run() {
  local label=$1; shift
  /usr/bin/time -f "$label: %e s wall, %U s user" "$k" simulate "$@" >/tmp/kaplan-sim.out 2>/tmp/kaplan-sim.time || true
  cat /tmp/kaplan-sim.time
  grep -E '^makespan' /tmp/kaplan-sim.out | sed 's/^/    /'
}
run "chain, 10000 nodes, no faults" plans/ka-doc-example.yaml --nodes 10000 --link 1gbit
run "chain, 10000 nodes, 2 kills + stall" plans/ka-doc-example.yaml --nodes 10000 --link 1gbit --kill node00007@40% --kill node00008@45% --stall node00100@10s
run "multicast, 10000 nodes, 1 pct loss" plans/multicast.yaml --nodes 10000 --link 1gbit --loss 1%
run "multicast, 10000 nodes, 1 pct loss + kill + late join" plans/multicast.yaml --nodes 10000 --link 1gbit --loss 1% --kill node00007@40% --late-join node00020@5s
