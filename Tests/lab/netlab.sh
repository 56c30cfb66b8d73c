#!/usr/bin/env bash
# netlab.sh — a network lab of Linux network namespaces on one bridge, for kaplan's network tests and benchmarks.
#
#   netlab.sh up LAB N [--rate 100mbit|1gbit|RATE|none] [--loss PCT] [--multicast]
#   netlab.sh down LAB
#   netlab.sh exec LAB NODE -- CMD…          NODE = g | n1 … nN | switch
#   netlab.sh addr LAB NODE
#   netlab.sh loss LAB NODE PCT               0 removes the loss
#   netlab.sh rate LAB NODE RATE              0 or none removes the shaping
#   netlab.sh list                            labs with a state file
#
# Root only. LAB is 1–6 letters/digits (no '-'), so the namespaces of two labs never share a name.
#
# Layout of lab LAB with N nodes (everything lives inside the lab's own namespaces; nothing is created in the
# host's namespace, nothing routes outside 10.213.0.0/16: no default route, no NAT, no link to the host):
#
#   namespace LAB-switch   bridge `br0` (STP off); one port per node: `g`, `n1` … `nN` (veth)
#   namespace LAB-g        the golden: `eth0` (veth peer of switch port `g`),  10.213.0.1/16
#   namespace LAB-nI       node I:     `eth0` (veth peer of switch port `nI`), 10.213.A.B/16 with
#                          A = 1 + (I-1)/250, B = 1 + (I-1)%250  (n1 = 10.213.1.1, n250 = 10.213.1.250,
#                          n251 = 10.213.2.1, …; up to 62,750 nodes)
#
# Every address is given with `brd +` (broadcast 10.213.255.255). Two labs may use the same addresses: each
# lab is its own layer-2 domain in its own namespaces.
#
# --rate R   tbf on each node's eth0 egress AND on the switch port towards it (full duplex), golden included,
#            at R·1514/1538 so that a full 1514-byte frame costs what it costs on the wire with preamble,
#            SFD, FCS and inter-frame gap (iperf3 TCP goodput then reads ≈ 93 % of R).
# --loss P   drops P % of the IPv4 packets arriving at each node's eth0 (not the golden's), independently per
#            node (nftables netdev ingress, `numgen random`); ARP is never dropped. This kernel has no netem.
# --multicast  a 224.0.0.0/4 route on every eth0; IGMP snooping on the bridge with the bridge as querier
#            (like a managed switch); socket buffer limits raised where the kernel allows it.
#
# State: /run/kaplan-netlab/LAB.env (shell syntax) lists the namespaces and addresses (GOLDEN_ADDR=…,
# NODE_ADDR_1=…). A failed `up` removes what it created. `down` is idempotent and removes only LAB's
# namespaces (those named in the state file or named exactly LAB-switch, LAB-g, LAB-n<digits>); processes still
# running inside them are sent SIGTERM, then SIGKILL, by PID.
set -euo pipefail

STATE_DIR=${KAPLAN_NETLAB_STATE_DIR:-/run/kaplan-netlab}
SOCKBUF=${KAPLAN_NETLAB_SOCKBUF:-16777216}   # wanted rmem_max/wmem_max with --multicast (bytes)
PROG=netlab.sh

die() { echo "$PROG: error: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

need_root() { [[ $(id -u) == 0 ]] || die "must run as root (network namespaces need CAP_SYS_ADMIN); try: sudo $0 $*"; }

check_lab_name() {
  [[ ${1:-} =~ ^[A-Za-z0-9]{1,6}$ ]] ||
    die "lab name '${1:-}' is invalid: use 1–6 letters or digits (no '-'), e.g. 't1' — it prefixes every namespace"
}

state_file() { echo "$STATE_DIR/$1.env"; }

# node_ns LAB NODE → namespace name (NODE = g | switch | nI)
node_ns() {
  local lab=$1 node=$2
  case $node in
    g | switch) echo "$lab-$node" ;;
    n[1-9] | n[1-9][0-9] | n[1-9][0-9][0-9] | n[1-9][0-9][0-9][0-9] | n[1-9][0-9][0-9][0-9][0-9]) echo "$lab-$node" ;;
    *) die "node '$node' is not one of: g, switch, n1 … nN" ;;
  esac
}

# node_addr I → address of node I (0 = golden)
node_addr() {
  local i=$1
  if ((i == 0)); then echo 10.213.0.1; return; fi
  echo "10.213.$((1 + (i - 1) / 250)).$((1 + (i - 1) % 250))"
}

# The lab's namespaces that exist right now: those in the state file and those named like LAB's.
lab_namespaces() {
  local lab=$1 f ns
  f=$(state_file "$lab")
  {
    if [[ -f $f ]]; then
      # shellcheck disable=SC1090
      (source "$f" && for ns in ${NAMESPACES:-}; do echo "$ns"; done)
    fi
    ip netns list | awk '{print $1}' | grep -E "^${lab}-(switch|g|n[1-9][0-9]*)\$" || true
  } | sort -u | while read -r ns; do
    [[ -e /run/netns/$ns ]] && echo "$ns"
  done
  return 0
}

require_lab() {
  local lab=$1
  [[ -f $(state_file "$lab") ]] || die "lab '$lab' is not up (no $(state_file "$lab")); start it with: $0 up $lab N"
}

require_ns() {
  local lab=$1 node=$2 ns
  ns=$(node_ns "$lab" "$node")
  [[ -e /run/netns/$ns || -f $(state_file "$lab") ]] || die "lab '$lab' is not up (no namespace $ns, no $(state_file "$lab")); start it with: $0 up $lab N"
  [[ -e /run/netns/$ns ]] || die "lab '$lab' has no node '$node' (namespace $ns does not exist); see $(state_file "$lab")"
  echo "$ns"
}

# rate_bits RATE → bit/s (accepts 100mbit, 1gbit, 1500kbit, 2000000bit, 10mbps is rejected to avoid confusion)
rate_bits() {
  local r=${1,,}
  [[ $r =~ ^([0-9]+)(bit|kbit|mbit|gbit)$ ]] ||
    die "rate '$1' is not understood: use a number of bits per second with kbit, mbit or gbit, e.g. 100mbit or 1gbit"
  local n=${BASH_REMATCH[1]}
  case ${BASH_REMATCH[2]} in
    bit) echo "$n" ;;
    kbit) echo $((n * 1000)) ;;
    mbit) echo $((n * 1000000)) ;;
    gbit) echo $((n * 1000000000)) ;;
  esac
}

# loss_permyriad PCT → packets in 10,000 to drop (0–10000); PCT may have two decimals.
loss_permyriad() {
  local p=$1
  [[ $p =~ ^([0-9]{1,3})(\.([0-9]{1,2}))?$ ]] || die "loss '$p' is not a percentage between 0 and 100 (e.g. 1, 0.5, 100)"
  local whole=${BASH_REMATCH[1]} frac=${BASH_REMATCH[3]:-0}
  [[ ${#frac} == 1 ]] && frac=${frac}0
  local v=$((10#$whole * 100 + 10#$frac))
  ((v <= 10000)) || die "loss '$p' is more than 100 %"
  echo "$v"
}

# shape NS DEV RATE — replace DEV's root qdisc with a tbf at RATE·1514/1538 (RATE none/0 removes it).
shape() {
  local ns=$1 dev=$2 rate=$3
  if [[ $rate == none || $rate == 0 ]]; then
    ip -n "$ns" link show dev "$dev" >/dev/null
    tc -n "$ns" qdisc del dev "$dev" root 2>/dev/null || true
    return 0
  fi
  local bits eff burst limit
  bits=$(rate_bits "$rate")
  eff=$((bits * 1514 / 1538))
  # burst: 1 ms worth of bytes, and at least one whole GSO segment (64 KiB + headers). A smaller burst makes tbf
  # cut every GSO segment into 1514-byte frames, each then crossing veth, bridge and TCP on its own: at 100 Mbit
  # that costs ~6x the CPU of the link itself (iperf3: 1.7 vs 0.3 CPU-s per 8 s, same 94 Mbit/s), a cost of the
  # emulation, not of a real link (a switch forwards in hardware, a NIC coalesces with GRO), and with 16 nodes
  # on 2 cores it was the bottleneck. The average rate stays R; bursts last ≤ 5.6 ms at 100 Mbit.
  # limit: 10 ms of queue at the rate, at least four bursts, so TCP sees the bottleneck, not a tail drop, and a UDP
  # sender that batches (UDP GSO, ~60 KB a packet) is held back by its socket buffer (2-3 batches in flight), not
  # dropped at the queue — a dropped packet frees its socket memory at once and gives no backpressure at all. (A
  # real NIC's queue holds 1000 packets of any size.)
  burst=$((eff / 8 / 1000)); ((burst >= 70000)) || burst=70000
  limit=$((eff / 8 / 100)); ((limit >= 4 * burst)) || limit=$((4 * burst))
  tc -n "$ns" qdisc replace dev "$dev" root tbf rate "${eff}bit" burst "$burst" limit "$limit" ||
    die "tc tbf on $ns/$dev failed (rate $rate): is the sch_tbf qdisc in this kernel? (tc qdisc add … tbf)"
}

# set_loss NS PCT — drop PCT % of IPv4 packets arriving at NS's eth0 (0 removes the rule).
set_loss() {
  local ns=$1 pct=$2 per
  per=$(loss_permyriad "$pct")
  # A real link loses frames one by one. A sender that batches UDP datagrams (UDP GSO: kaplan's multicast) hands
  # the bridge one packet per batch; with loss on, the switch port towards the node cuts batches into datagrams
  # (no tx-udp-segmentation on that port), so the rule below drops single datagrams, not whole batches.
  local sw=${ns%-*}-switch port=${ns##*-} seg=on
  ((per == 0)) || seg=off
  if ip netns list | grep -qx -- "$sw\( .*\)\?"; then
    command -v ethtool >/dev/null || die "ethtool is missing (Debian: ethtool; scripts/setup installs it): loss needs it"
    ip netns exec "$sw" ethtool -K "$port" tx-udp-segmentation $seg >/dev/null ||
      die "cannot set tx-udp-segmentation $seg on $sw/$port (ethtool -K)"
  fi
  ip netns exec "$ns" nft delete table netdev kaplanlab 2>/dev/null || true
  ((per == 0)) && return 0
  local match
  if ((per >= 10000)); then match="meta protocol ip"; else match="meta protocol ip numgen random mod 10000 < $per"; fi
  ip netns exec "$ns" nft -f - <<EOF || die "nftables loss rule on $ns/eth0 failed: needs nftables with netdev ingress (nf_tables_netdev)"
table netdev kaplanlab {
  chain ingress {
    type filter hook ingress device "eth0" priority 0; policy accept;
    $match counter drop
  }
}
EOF
}

# kill_ns_procs NS — SIGTERM then SIGKILL every process still inside NS, by PID.
kill_ns_procs() {
  local ns=$1 pids i
  pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ' || true)
  [[ -z ${pids// /} ]] && return 0
  note "namespace $ns still runs PIDs $pids— sending SIGTERM"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for i in $(seq 1 20); do
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ' || true)
    [[ -z ${pids// /} ]] && return 0
    sleep 0.1
  done
  note "namespace $ns: PIDs $pids survived SIGTERM for 2 s — sending SIGKILL"
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  for i in $(seq 1 20); do
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ' || true)
    [[ -z ${pids// /} ]] && return 0
    sleep 0.1
  done
  note "warning: namespace $ns: PIDs $pids are still alive after SIGKILL (stuck in the kernel?); the namespace goes away when they exit"
}

cmd_down() {
  local lab=$1 ns failed=0
  check_lab_name "$lab"
  need_root down
  local all
  all=$(lab_namespaces "$lab")
  # Processes first (a namespace with a process in it outlives `ip netns delete`), then nodes, switch last.
  for ns in $all; do kill_ns_procs "$ns"; done
  for ns in $(echo "$all" | grep -v -- '-switch$' || true) $(echo "$all" | grep -- '-switch$' || true); do
    if ! ip netns delete "$ns" 2>/dev/null && [[ -e /run/netns/$ns ]]; then
      note "cannot delete namespace $ns"
      failed=1
    fi
  done
  rm -f "$(state_file "$lab")" "$(state_file "$lab").tmp"
  ((failed == 0)) || die "lab '$lab' was not removed completely; see 'ip netns list' and retry: $0 down $lab"
  return 0
}

cmd_up() {
  local lab=${1:-} n=${2:-}
  check_lab_name "$lab"
  [[ $n =~ ^[1-9][0-9]*$ ]] && ((n <= 62750)) || die "node count '$n' must be a number from 1 to 62750"
  shift 2
  local rate=none loss=0 multicast=0
  while (($#)); do
    case $1 in
      --rate) rate=${2:?--rate needs a value}; shift 2 ;;
      --loss) loss=${2:?--loss needs a value}; shift 2 ;;
      --multicast) multicast=1; shift ;;
      *) die "unknown option '$1' for up (see: $0 help)" ;;
    esac
  done
  [[ $rate == none || $rate == 0 ]] && rate=none || rate_bits "$rate" >/dev/null
  loss_permyriad "$loss" >/dev/null
  need_root up
  for tool in ip tc nft; do command -v $tool >/dev/null || die "$tool is missing (Debian: iproute2, nftables; scripts/setup installs them)"; done
  mkdir -p "$STATE_DIR"

  local sw=$lab-switch g=$lab-g
  # Claim the lab name: `ip netns add` fails if the namespace exists, so two `up`s never share a lab.
  if [[ -e /run/netns/$sw ]] || [[ -f $(state_file "$lab") ]]; then
    note "lab '$lab' already exists (namespace $sw or $(state_file "$lab")); remove it with: $0 down $lab"
    exit 3
  fi
  ip netns add "$sw" 2>/dev/null || { note "lab '$lab' already exists (cannot create namespace $sw)"; exit 3; }
  # From here on, any failure (set -e, die, a signal) removes everything this lab created.
  UP_LAB=$lab
  trap 'rc=$?; if ((rc != 0)); then note "up $UP_LAB failed (exit $rc) — removing what it created"; (cmd_down "$UP_LAB") || true; fi' EXIT
  trap 'exit 130' INT TERM HUP

  local namespaces="$sw" f tmp
  f=$(state_file "$lab"); tmp=$f.tmp
  {
    echo "# kaplan network lab '$lab', made by $0 at $(date -u +%FT%TZ); remove with: $0 down $lab"
    echo "LAB=$lab"
    echo "NODES=$n"
    echo "RATE=$rate"
    echo "LOSS=$loss"
    echo "MULTICAST=$multicast"
    echo "PREFIX_LEN=16"
    echo "BROADCAST=10.213.255.255"
    echo "IFACE=eth0"
    echo "SWITCH_NS=$sw"
    echo "BRIDGE=br0"
  } >"$tmp"
  # Write the namespace list as we go, so that a `down` from another shell finds a half-built lab too.
  printf 'NAMESPACES="%s"\n' "$namespaces" >"$f"

  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge stp_state 0 forward_delay 0
  # A switch does not run the host's firewall: where br_netfilter is loaded, bridged frames would otherwise go
  # through iptables (per frame, per port). The sysctl is per namespace; absent without br_netfilter.
  ip netns exec "$sw" sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 \
    net.bridge.bridge-nf-call-arptables=0 2>/dev/null || true
  ip netns exec "$sw" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true

  local i ns port addr node
  for ((i = 0; i <= n; i++)); do
    if ((i == 0)); then node=g; else node=n$i; fi
    ns=$lab-$node; port=$node; addr=$(node_addr "$i")
    ip netns add "$ns"
    namespaces="$namespaces $ns"
    printf 'NAMESPACES="%s"\n' "$namespaces" >"$f"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
    ip -n "$sw" link add "$port" type veth peer name eth0 netns "$ns"
    ip -n "$sw" link set "$port" master br0
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$addr/16" brd + dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$sw" link set "$port" up
    if [[ $rate != none ]]; then
      shape "$ns" eth0 "$rate"
      shape "$sw" "$port" "$rate"
    fi
    if ((i > 0)) && [[ $loss != 0 ]]; then set_loss "$ns" "$loss"; fi
    if ((multicast)); then
      ip -n "$ns" route add 224.0.0.0/4 dev eth0
    fi
    if ((i == 0)); then
      echo "GOLDEN_NS=$ns" >>"$tmp"; echo "GOLDEN_ADDR=$addr" >>"$tmp"
    else
      echo "NODE_NS_$i=$ns" >>"$tmp"; echo "NODE_ADDR_$i=$addr" >>"$tmp"
    fi
  done

  local rmem=""
  if ((multicast)); then
    # IGMP snooping with the bridge as its own querier. The response interval must be set in a request of its
    # own before the querier is switched on, or the kernel arms the first query with the old 10 s delay.
    ip -n "$sw" link set br0 type bridge mcast_snooping 1 mcast_query_response_interval 100
    ip -n "$sw" link set br0 type bridge mcast_querier 1
    ip -n "$sw" link set br0 type bridge mcast_query_interval 1000 2>/dev/null || true
    # Socket buffer limits: per namespace on this kernel line, but read-only inside a child namespace on
    # newer kernels (inherited from the host when the namespace is made). Raise them where possible; else say so.
    for ns in $namespaces; do
      [[ $ns == "$sw" ]] && continue
      ip netns exec "$ns" sh -c "echo $SOCKBUF > /proc/sys/net/core/rmem_max && echo $SOCKBUF > /proc/sys/net/core/wmem_max" 2>/dev/null || true
    done
    rmem=$(ip netns exec "$g" cat /proc/sys/net/core/rmem_max)
    if ((rmem < SOCKBUF)); then
      note "note: net.core.rmem_max/wmem_max are read-only inside namespaces on this kernel; the lab inherits the host's $rmem bytes (wanted $SOCKBUF; raise them on the host before 'up' if a test needs more)"
    fi
  fi
  ip -n "$sw" link set br0 up
  if ((multicast)); then sleep 1.2; fi # lets the querier's first query go out (see above)
  [[ -n $rmem ]] && echo "RMEM_MAX=$rmem" >>"$tmp"
  printf 'NAMESPACES="%s"\n' "$namespaces" >>"$tmp"
  mv "$tmp" "$f"
  trap - EXIT INT TERM HUP
  echo "lab $lab up: $n node(s), golden 10.213.0.1, n1 $(node_addr 1)$( ((n > 1)) && echo " … n$n $(node_addr "$n")"), rate $rate, loss $loss %, multicast $([[ $multicast == 1 ]] && echo on || echo off); state in $f"
}

cmd_exec() {
  local lab=${1:-} node=${2:-} ns
  check_lab_name "$lab"
  shift 2 || usage
  [[ ${1:-} == -- ]] && shift
  (($#)) || die "exec needs a command: $0 exec $lab $node -- CMD…"
  need_root exec
  ns=$(require_ns "$lab" "$node")
  exec ip netns exec "$ns" "$@"
}

cmd_addr() {
  local lab=${1:-} node=${2:-} ns
  check_lab_name "$lab"
  require_lab "$lab"
  ns=$(node_ns "$lab" "$node")
  case $node in
    switch) die "the switch has no address (it is a bridge)" ;;
    g) (source "$(state_file "$lab")" && echo "$GOLDEN_ADDR") ;;
    *)
      local i=${node#n}
      local count v
      count=$(source "$(state_file "$lab")" && echo "$NODES")
      v=$(source "$(state_file "$lab")" && v=NODE_ADDR_$i && echo "${!v:-}")
      [[ -n $v ]] || die "lab '$lab' has no node '$node' (it has $count nodes, n1 … n$count; see $(state_file "$lab"))"
      echo "$v"
      ;;
  esac
}

cmd_loss() {
  local lab=${1:-} node=${2:-} pct=${3:-} ns
  check_lab_name "$lab"
  [[ -n $pct ]] || die "usage: $0 loss LAB NODE PCT (0 removes)"
  need_root loss
  [[ $node == switch ]] && die "loss applies to a node's ingress (g or nI), not to the switch"
  ns=$(require_ns "$lab" "$node")
  set_loss "$ns" "$pct"
}

cmd_rate() {
  local lab=${1:-} node=${2:-} rate=${3:-} ns
  check_lab_name "$lab"
  [[ -n $rate ]] || die "usage: $0 rate LAB NODE RATE (0 or none removes)"
  need_root rate
  [[ $node == switch ]] && die "rate applies to a node's link (g or nI), not to the switch"
  ns=$(require_ns "$lab" "$node")
  require_ns "$lab" switch >/dev/null
  shape "$ns" eth0 "$rate"
  shape "$lab-switch" "$node" "$rate"
}

main() {
  local cmd=${1:-help}
  shift || true
  case $cmd in
    up) cmd_up "$@" ;;
    down) [[ $# == 1 ]] || usage; cmd_down "$1" ;;
    exec) cmd_exec "$@" ;;
    addr) [[ $# == 2 ]] || usage; cmd_addr "$@" ;;
    loss) [[ $# == 3 ]] || usage; cmd_loss "$@" ;;
    rate) [[ $# == 3 ]] || usage; cmd_rate "$@" ;;
    list) ls "$STATE_DIR" 2>/dev/null | sed -n 's/\.env$//p' ;;
    help | -h | --help) usage 0 ;;
    *) note "unknown command '$cmd'"; usage ;;
  esac
}

main "$@"
