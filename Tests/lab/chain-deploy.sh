#!/usr/bin/env bash
# Deploys a plan over the chain transport inside a network lab (root): the golden's `kaplan apply PLAN` runs in
# the lab's golden namespace (10.213.0.1), one `kaplan agent` per node in its own namespace, each writing the
# image file given for it. Prints the server's output (the per-node report at the end); the agents' logs go to
# LOGDIR. Exit status: kaplan apply's (0 all OK, 3 partial, 1 failure). The lab, the agents and any loop device
# left on the images are removed at the end, also on failure or interruption.
# Usage: chain-deploy.sh [--kaplan BIN] [--logs DIR] PLAN NODE=IMAGE [NODE=IMAGE …]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kaplan=$here/../../.build/debug/kaplan
logs=
while [ $# -gt 0 ]; do
  case $1 in
    --kaplan) kaplan=$2; shift 2 ;;
    --logs) logs=$2; shift 2 ;;
    *) break ;;
  esac
done
plan=${1:?usage: chain-deploy.sh [--kaplan BIN] [--logs DIR] PLAN NODE=IMAGE …}; shift
[ $# -ge 1 ] || { echo "chain-deploy.sh: name at least one NODE=IMAGE" >&2; exit 64; }
key=$(python3 -c "
import sys, os, re
text = open(sys.argv[1]).read()
m = re.search(r'key-file:\s*(\S+)', text)
print(os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), m.group(1)) if m else '')" "$plan")
[ -n "$key" ] && [ -s "$key" ] || { echo "chain-deploy.sh: $plan names no security.key-file, or the file is missing" >&2; exit 1; }
logs=${logs:-$(mktemp -d /tmp/kaplan-chain-logs.XXXXXX)}
mkdir -p "$logs"
lab=kc$$
lab=${lab:0:6}
images=() pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  "$here/netlab.sh" down "$lab" >/dev/null 2>&1 || true
  for f in "${images[@]}"; do for l in $(losetup -j "$f" -O NAME -n 2>/dev/null); do losetup -d "$l" 2>/dev/null || true; done; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$here/netlab.sh" up "$lab" $# >/dev/null
i=0
for pair in "$@"; do
  i=$((i + 1))
  node=${pair%%=*} image=$(realpath "${pair#*=}")
  images+=("$image")
  ip netns exec "$lab-n$i" timeout 3600 "$kaplan" agent --server 10.213.0.1 --key "$key" --name "$node" --disk "$image" \
    --wait 300 > "$logs/agent-$node.log" 2>&1 &
  pids+=($!)
done
status=0
ip netns exec "$lab-g" timeout 3600 "$kaplan" apply "$plan" --auto-approve || status=$?
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
echo "chain-deploy: agents' logs in $logs"
exit $status
