#!/usr/bin/env bash
# Multicast transport benchmark (root), side by side with udpcast on the same lab, in the same run.
#
#   bench/multicast.sh [--big MiB] [--runs "RATE:N[:LOSS%] …"] [--tools "udpcast kaplan"] [--stall]
#                      [--kaplan PATH] [--kaplan-max-rate none|PCT] [--kaplan-fec DATA:PARITY]
#                      [--udpcast-max-bitrate none|PCT] [--keep-logs DIR]
#
# Per RATE:N[:LOSS] it brings up a lab (Tests/lab/netlab.sh up kbmc N --rate RATE --multicast [--loss LOSS]),
# measures the link limit once (iperf3 TCP goodput golden → n1, bench/lib/netlab-bench.sh, with n1's loss lifted
# for those seconds: the denominator is the lossless link), then runs, one after the other on that lab:
#   udpcast  udp-sender in the golden, udp-receiver in every node, a random file of --big MiB; every received
#            file is compared with cmp ("k of N intact").
#   kaplan   `kaplan apply plan.yaml --auto-approve --format json` (transport: multicast, group 239.255.0.1) in the
#            golden, `kaplan agent` in every node, deploying the lab golden whose /home/big.bin holds --big MiB of
#            incompressible data; "k of N OK" from the final report, and apply's exit code.
# Columns: stream = per-receiver goodput, min / median, Mbit/s (kaplan: a node's stream bytes / its stream-step
# seconds, as bench/chain.sh; udpcast: file bits / (receiver's exit − sender's "Starting transfer")); ratio = min
# stream / iperf3; wall = whole run (kaplan: apply start → exit, partitioning and fix-ups included; udpcast: sender
# start → last receiver exit, handshake included); wall-ratio = payload bits / wall / iperf3. kaplan's rows end with
# its ratio to udpcast's row just above (stream min, wall rate): the figure that counts where the CPU is the limit.
# Under each row, the machine's CPU during that run (/proc/stat), steal included: on a shared host the time the
# hypervisor gives the cores to other guests is lost for good by a stream paced at the link's rate.
#
# --stall: dead-receiver experiment at 100 Mbit, N=4, lossless, after the runs: node2's receiver (udp-receiver;
# kaplan's agent) is killed with SIGKILL at ~40 % of its stream (kaplan: node2's progress events in apply's JSON);
# the figure is the longest time the survivors made no progress after the kill, and when that was (seconds after
# the kill). udpcast: the survivors' output file sizes sampled every 0.1 s. kaplan: the gaps between the survivors'
# progress events in apply's JSON, stamped on arrival (the first gap counts from the kill), beside the normal gap
# between progress events and the server's first line about node2 after the kill. udpcast runs twice: with its
# default --retries-until-drop 200 and with --retries-until-drop 50 (Clonezilla's setting). --runs "" runs it alone.
#
# --kaplan-fec DATA:PARITY sets the plan's transport.fec (default: none, kaplan's own default blocks).
#
# udpcast runs with --full-duplex --rexmit-hello-interval 100 (faster joins under loss) and, on shaped links,
# --max-bitrate PCT % of the link (default 95: measured here, it beat no limit at 100 Mbit with and without loss;
# --udpcast-max-bitrate none turns it off); receivers with --rcvbuf = the lab's rmem_max.
#
# Every child has a hard timeout and runs under a small python supervisor that stamps its output lines; on exit
# (normal, failure, Ctrl-C) the supervisors and their children are stopped by PID, the lab is taken down, loop
# devices on this run's images are detached and the temporary directory is removed. One lab at a time (kbmc).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib/netlab-bench.sh

big=512
runs="100mbit:1 100mbit:4 100mbit:8 100mbit:1:1 100mbit:4:1 100mbit:8:1 1gbit:1 1gbit:4 1gbit:8 1gbit:1:1 1gbit:4:1 1gbit:8:1"
tools="udpcast kaplan"
stall=0
kbin=
kmax=none
kfec=
umax=95
keep=
lab=kbmc
usage() {
  echo "usage: bench/multicast.sh [--big MiB] [--runs 'RATE:N[:LOSS%] …'] [--tools 'udpcast kaplan'] [--stall]" >&2
  echo "                          [--kaplan PATH] [--kaplan-max-rate none|PCT] [--kaplan-fec DATA:PARITY] [--udpcast-max-bitrate none|PCT]" >&2
  echo "                          [--keep-logs DIR]" >&2
  exit 64
}
while [ $# -gt 0 ]; do
  case $1 in
    --big) big=${2:?}; shift 2 ;;
    --runs) runs=${2?}; shift 2 ;;
    --tools) tools=${2:?}; shift 2 ;;
    --stall) stall=1; shift ;;
    --kaplan) kbin=${2:?}; shift 2 ;;
    --kaplan-max-rate) kmax=${2:?}; shift 2 ;;
    --kaplan-fec) kfec=${2:?}; shift 2 ;;
    --udpcast-max-bitrate) umax=${2:?}; shift 2 ;;
    --keep-logs) keep=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
die() { echo "bench/multicast.sh: $*" >&2; exit 1; }
[[ $big =~ ^[1-9][0-9]*$ ]] || die "--big '$big' must be a whole number of MiB (e.g. 512)"
for r in $runs; do
  [[ $r =~ ^(none|[0-9]+(kbit|mbit|gbit)):[1-9][0-9]?(:[0-9]+(\.[0-9]{1,2})?)?$ ]] ||
    die "--runs entry '$r' is not RATE:N[:LOSS%] (e.g. 100mbit:8 or 1gbit:4:1)"
done
for t in $tools; do [[ $t == udpcast || $t == kaplan ]] || die "--tools '$t': the tools are udpcast and kaplan"; done
[[ $kmax == none || $kmax =~ ^[1-9][0-9]*$ ]] || die "--kaplan-max-rate '$kmax': none or a percentage of the link"
[[ -z ${kfec:-} || $kfec =~ ^[1-9][0-9]*:[0-9]+$ ]] || die "--kaplan-fec '$kfec': DATA:PARITY (transport.fec), e.g. 200:0"
[[ $umax == none || $umax =~ ^[1-9][0-9]*$ ]] || die "--udpcast-max-bitrate '$umax': none or a percentage of the link"
has() { [[ " $tools " == *" $1 "* ]]; }
[[ $(id -u) == 0 ]] || die "must run as root (network namespaces, loop devices); try: sudo $0"
need="python3 iperf3 timeout cmp"
has udpcast && need="$need udp-sender udp-receiver"
for c in $need; do command -v "$c" >/dev/null || die "$c is missing (Debian: udpcast, iperf3, python3, coreutils, diffutils)"; done
[[ -e /run/kaplan-netlab/$lab.env || -e /run/netns/$lab-switch ]] &&
  die "lab '$lab' is already up (another bench/multicast.sh running?); if it is a leftover: Tests/lab/netlab.sh down $lab"
if has kaplan; then
  if [ -z "$kbin" ]; then
    scratch=${KAPLAN_BENCH_SCRATCH:-.build}
    kbin=$PWD/$scratch/release/kaplan
    [ -x "$kbin" ] || swift build -c release --scratch-path "$scratch" --product kaplan 2>&1 | tail -1
  fi
  [ -x "$kbin" ] || die "no kaplan binary at $kbin (build: swift build -c release --product kaplan, or pass --kaplan PATH)"
fi

work=$(mktemp -d /tmp/kaplan-bench-mcast.XXXXXX)
sups=() # PIDs of this run's supervisors (each owns one child under timeout)
cleanup() {
  local p i
  trap - EXIT INT TERM HUP
  for p in "${sups[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for i in $(seq 1 30); do
    local alive=0
    for p in "${sups[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.2
  done
  for p in "${sups[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  "$NETLAB" down $lab >/dev/null 2>&1 || true
  for f in "$work"/*.img; do
    [ -e "$f" ] || continue
    for l in $(losetup -j "$f" -O NAME -n 2>/dev/null); do losetup -d "$l" 2>/dev/null || true; done
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "bench/multicast.sh: interrupted; cleaning up" >&2; exit 130' INT TERM HUP

cat >"$work/mb.py" <<'PY'
# Supervisor and figures for bench/multicast.sh (see the script's header).
import json, os, selectors, signal, statistics, subprocess, sys, time

def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    kids = [int(x) for x in f.read().split()]
                out += kids; todo += kids
        except OSError:
            pass
    return out

def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f: return f.read().strip()
    except OSError:
        return ""

def kill_named(root, name):
    """SIGKILL the descendant of root called name (the deepest); its PID, or None."""
    for p in reversed(descendants(root)):
        if comm(p) == name:
            try: os.kill(p, signal.SIGKILL); return p
            except OSError: return None
    return None

def run(argv):
    # run PREFIX [--kill NODE BYTES AFTER_START_S SUPERVISOR_PID NAME] -- CMD…
    prefix, argv = argv[0], argv[1:]
    kill = None
    if argv[0] == "--kill":
        kill = dict(node=argv[1], bytes=int(argv[2]), after=float(argv[3]), root=int(argv[4]), name=argv[5])
        argv = argv[6:]
    assert argv[0] == "--"
    start = time.time()
    child = subprocess.Popen(argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stop = {"at": None}
    def on_signal(sig, _):
        if stop["at"] is None:
            stop["at"] = time.time()
            try: child.send_signal(signal.SIGTERM)
            except OSError: pass
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP): signal.signal(s, on_signal)
    outs = {child.stdout.fileno(): open(prefix + ".out", "w"), child.stderr.fileno(): open(prefix + ".err", "w")}
    rest = {fd: b"" for fd in outs}
    sel = selectors.DefaultSelector()
    for fd in outs: sel.register(fd, selectors.EVENT_READ)
    stream_start = None
    def check_kill(line, now):
        nonlocal stream_start
        if not kill or "done" in kill: return
        fire = False
        try:
            e = json.loads(line)
            if e.get("event") == "progress" and e.get("node") == kill["node"] and e.get("bytes", 0) >= kill["bytes"]:
                fire = True
            if e.get("event") == "step-started" and e.get("step") == kill["node"] + ".stream": stream_start = now
        except ValueError:
            pass
        if stream_start is not None and now - stream_start >= kill["after"]: fire = True
        if fire:
            kill["done"] = True
            pid = kill_named(kill["root"], kill["name"])
            with open(prefix + ".kill", "w") as f: f.write(f"{time.time():.3f} {pid or 0}\n")
    while sel.get_map():
        for key, _ in sel.select(timeout=0.1):
            fd = key.fd
            data = os.read(fd, 65536)
            now = time.time()
            if not data:
                sel.unregister(fd)
                if rest[fd]: outs[fd].write(f"{now:.3f} {rest[fd].decode(errors='replace')}\n")
                continue
            parts = (rest[fd] + data).replace(b"\r", b"\n").split(b"\n")
            rest[fd] = parts.pop()
            for p in parts:
                if not p.strip(): continue
                line = p.decode(errors="replace")
                outs[fd].write(f"{now:.3f} {line}\n")
                if fd == child.stdout.fileno(): check_kill(line, now)
            outs[fd].flush()
        if kill and stream_start is not None: check_kill("", time.time())
        if stop["at"] is not None and time.time() - stop["at"] > 10:
            try: child.kill()
            except OSError: pass
    rc = child.wait()
    with open(prefix + ".exit", "w") as f: f.write(f"{start:.3f} {time.time():.3f} {rc}\n")

def stamped(path):
    try:
        with open(path) as f:
            for line in f:
                t, _, rest = line.rstrip("\n").partition(" ")
                yield float(t), rest
    except OSError:
        return

def exit_of(prefix):
    try:
        a, b, rc = open(prefix + ".exit").read().split()
        return float(a), float(b), int(rc)
    except (OSError, ValueError):
        return None

def fmt_row(tool, rate, n, loss, limit, mins, meds, wall, wallrate, result):
    ratio = f"{mins / limit * 100:.1f}%" if limit and mins is not None else "-"
    wratio = f"{wallrate / limit * 100:.1f}%" if limit and wallrate else "-"
    stream = f"{mins:.1f} / {meds:.1f}" if mins is not None else "-"
    print(f"{tool:<8} {rate:<7} {n:>2} {loss + '%':>5} {limit:>8.1f} {stream:>15} {ratio:>7} {wall:>7.1f} {wallrate:>8.1f} {wratio:>7}  {result}",
          flush=True)

def urow(argv):
    # urow WORK RATE N LOSS LIMIT BYTES INTACT
    work, rate, n, loss, limit, nbytes, intact = argv[0], argv[1], int(argv[2]), argv[3], float(argv[4] or 0), int(argv[5]), int(argv[6])
    s = exit_of(f"{work}/usend")
    if s is None:
        print(f"udpcast  {rate:<7} {n:>2} {loss + '%':>5}  FAILED: udp-sender did not run; see {work}/usend.err"); return
    start_xfer, rexmit = None, "-"
    for t, line in stamped(f"{work}/usend.err"):
        if start_xfer is None and "Starting transfer" in line: start_xfer = t
        if "re-xmits=" in line and "(" in line: rexmit = line.split("(")[1].split(")")[0].strip()
    ends = [e[1] for e in (exit_of(f"{work}/urecv{i}") for i in range(1, n + 1)) if e]
    if not ends or start_xfer is None:
        print(f"udpcast  {rate:<7} {n:>2} {loss + '%':>5}  FAILED: no transfer (sender exit {s[2]}, {len(ends)} receivers exited); "
              f"see {work}/usend.err", flush=True); return
    rates = sorted(nbytes * 8 / (e - start_xfer) / 1e6 for e in ends)
    wall = max(ends) - s[0]
    with open(f"{work}/udp.fig", "w") as f: f.write(f"{rates[0]} {nbytes * 8 / wall / 1e6}\n")
    fmt_row("udpcast", rate, n, loss, limit, rates[0], statistics.median(rates), wall, nbytes * 8 / wall / 1e6,
            f"{intact} of {n} intact, sender exit {s[2]}, re-xmits {rexmit}")

def events(work):
    for t, line in stamped(f"{work}/apply.out"):
        try: yield t, json.loads(line)
        except ValueError: continue

def krow(argv):
    # krow WORK RATE N LOSS LIMIT
    work, rate, n, loss, limit = argv[0], argv[1], int(argv[2]), argv[3], float(argv[4] or 0)
    a = exit_of(f"{work}/apply")
    secs, nbytes, ok, done = {}, {}, 0, {}
    for t, e in events(work):
        if e.get("event") == "step-succeeded" and e.get("step", "").endswith(".stream"):
            secs[e["step"].split(".")[0]] = e["seconds"]
            done[e["step"].split(".")[0]] = t
        if e.get("event") == "report":
            for o in e.get("nodes", []):
                nbytes[o["node"]] = o["bytes"]; ok += 1 if o.get("ok") else 0
    rates = sorted(nbytes[k] * 8 / secs[k] / 1e6 for k in secs if k in nbytes and secs[k] > 0)
    if a is None or not rates:
        err = ""
        try: err = " ".join(l.split(" ", 1)[1] for l in open(f"{work}/apply.err").read().splitlines()[-3:])[:300]
        except (OSError, IndexError): pass
        print(f"kaplan   {rate:<7} {n:>2} {loss + '%':>5}  FAILED (apply exit {a[2] if a else '?'}): {err or 'no stream step finished'}"
              f" — logs in {work}/apply.err, agent*.err", flush=True)
        return
    wall = a[1] - a[0]
    wallrate = min(nbytes.values()) * 8 / wall / 1e6
    vs = ""
    try:
        us, uw = (float(x) for x in open(f"{work}/udp.fig").read().split())
        vs = f"; vs udpcast: stream {rates[0] / us:.2f}x, wall {wallrate / uw:.2f}x"
    except (OSError, ValueError, ZeroDivisionError):
        pass
    # As udpcast's figure: from the golden's start of the stream (its "multicast: streaming to" line; every node
    # that finished formatting early waits for it inside its stream step) to the node's stream step end.
    start = next((t for t, line in stamped(f"{work}/apply.err") if "multicast: streaming to" in line), None)
    xfer = ""
    if start is not None and done and all(k in nbytes and done[k] > start for k in done):
        xm = min(nbytes[k] * 8 / (done[k] - start) / 1e6 for k in done)
        xfer = f"; from stream start: min {xm:.1f} Mbit/s" + (f" ({xm / limit * 100:.1f}%)" if limit else "")
    fmt_row("kaplan", rate, n, loss, limit, rates[0], statistics.median(rates), wall, wallrate,
            f"{ok} of {n} OK, apply exit {a[2]}{vs}{xfer}")

def udpwatch(argv):
    # udpwatch OUTJSON DONEFLAG LIMIT_S KILL_BYTES TOTAL VICTIM_FILE VICTIM_SUPERVISOR SURVIVOR_FILE…
    out, done, limit, kill_bytes, total, vfile, vroot = argv[0], argv[1], float(argv[2]), int(argv[3]), int(argv[4]), argv[5], int(argv[6])
    files = argv[7:]
    size = lambda f: os.stat(f).st_size if os.path.exists(f) else 0
    t_end = time.time() + limit
    kill_t, vbytes, pid = None, 0, None
    last, grown, longest, complete, window = {}, {}, {}, set(), {}
    open_end = False
    while time.time() < t_end:
        now = time.time()
        if kill_t is None:
            vb = size(vfile)
            if vb >= kill_bytes:
                pid = kill_named(vroot, "udp-receiver"); kill_t = time.time(); vbytes = vb
                for f in files: last[f] = size(f); grown[f] = kill_t; longest[f] = 0.0
        else:
            for f in files:
                if f in complete: continue
                s = size(f)
                if s > last[f]:
                    if now - grown[f] > longest[f]: longest[f] = now - grown[f]; window[f] = (grown[f] - kill_t, now - kill_t)
                    grown[f] = now; last[f] = s
                if s >= total: complete.add(f)
            if len(complete) == len(files): break
        if os.path.exists(done):
            if kill_t is not None:
                for f in files:
                    if f not in complete and now - grown[f] > longest[f]:
                        longest[f] = now - grown[f]; window[f] = (grown[f] - kill_t, now - kill_t); open_end = True
            break
        time.sleep(0.1)
    else:
        open_end = True
        for f in files:
            if kill_t is not None and f not in complete and time.time() - grown[f] > longest[f]:
                longest[f] = time.time() - grown[f]; window[f] = (grown[f] - kill_t, time.time() - kill_t)
    r = {"killed": kill_t is not None, "pid": pid, "kill_t": kill_t, "victim_bytes": vbytes, "total": total,
         "stall": max(longest.values()) if longest else None, "open": open_end,
         "window": window[max(longest, key=longest.get)] if window else None}
    with open(out, "w") as f: json.dump(r, f)

def kstall(argv):
    # kstall WORK N VICTIM TOTAL → one line of figures for kaplan's dead-receiver run
    work, n, victim, total = argv[0], int(argv[1]), argv[2], int(argv[3])
    try:
        kt, pid = open(f"{work}/apply.kill").read().split(); kt = float(kt); pid = int(pid)
    except (OSError, ValueError):
        return print(json.dumps({"killed": False}))
    prog, done, vbytes = {}, {}, 0
    for t, e in events(work):
        if e.get("event") == "progress":
            prog.setdefault(e["node"], []).append((t, e["bytes"]))
            if e["node"] == victim and t <= kt: vbytes = max(vbytes, e["bytes"])
        if e.get("event") == "step-succeeded" and e.get("step", "").endswith(".stream"): done[e["step"].split(".")[0]] = t
    longest, window, before = {}, {}, []
    for node, ps in prog.items():
        if node == victim: continue
        pre = [b - a for (a, _), (b, _) in zip(ps, ps[1:]) if b <= kt]
        before += pre
        prev = kt; gap = 0.0; win = None
        at_kill = max([b for t, b in ps if t <= kt], default=0)
        for t, b in ps:
            if t <= kt or b <= at_kill: continue
            if t - prev > gap: gap = t - prev; win = (prev - kt, t - kt)
            prev = t
        end = done.get(node)
        if end is not None and end - prev > gap: gap = end - prev; win = (prev - kt, end - kt)
        longest[node] = gap; window[node] = win
    lost = None
    for t, line in stamped(f"{work}/apply.err"):
        if t > kt and victim in line: lost = (round(t - kt, 2), line[:140]); break
    print(json.dumps({"killed": True, "pid": pid, "victim_bytes": vbytes, "total": total,
                      "stall": max(longest.values()) if longest else None,
                      "window": window[max(longest, key=longest.get)] if longest else None,
                      "normal_gap": statistics.median(before) if before else None, "lost": lost}))

if __name__ == "__main__":
    {"run": run, "urow": urow, "krow": krow, "udpwatch": udpwatch, "kstall": kstall}[sys.argv[1]](sys.argv[2:])
PY

# sup PREFIX [--kill …] -- CMD… : runs CMD under the supervisor in the background; its PID is in $sup_pid.
sup() {
  python3 "$work/mb.py" run "$@" &
  sup_pid=$!
  sups+=("$sup_pid")
}
# waitpid PID: waits for one of this run's background children and forgets it (no stale PID is ever signalled).
waitpid() {
  wait "$1" 2>/dev/null || true
  local keep=() p
  for p in "${sups[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  sups=("${keep[@]}")
}
rate_mbit() { case $1 in none) echo 1000 ;; *gbit) echo $((${1%gbit} * 1000)) ;; *mbit) echo "${1%mbit}" ;; *kbit) echo 1 ;; esac; }
# Hard limit for one transfer of $big MiB at RATE: 8× the ideal time plus 3 minutes (joins, mkfs, fix-ups, loss).
limit_s() { echo $((180 + big * 8 * 1049 / 1000 * 8 / $(rate_mbit "$1"))); }

golden_ready=0
prepare_kaplan() {
  ((golden_ready)) && return 0
  echo "golden: lab tree + ${big} MiB incompressible (/home/big.bin)"
  # The golden's /home (xfs) needs ≥ 300 MiB besides big.bin's room: at least 1 GiB in all.
  Tests/lab/make-golden.sh "$work/golden.img" $((big + 700 < 1024 ? 1024 : big + 700)) >/dev/null
  Tests/lab/add-big-file.sh "$work/golden.img" "$big"
  head -c 32 /dev/urandom >"$work/session.key"; chmod 600 "$work/session.key"
  golden_ready=1
}
plan() { # N RATE → plan.yaml
  local maxrate=""
  if [[ $kmax != none && $2 != none ]]; then maxrate=", max-rate: $(($(rate_mbit "$2") * 1000 * kmax / 100))kbit"; fi
  if [[ -n ${kfec:-} ]]; then maxrate+=", fec: {data: ${kfec%%:*}, parity: ${kfec##*:}}"; fi
  {
    cat <<PLAN
version: 1
name: benchmcast
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
transport: { kind: multicast, group: 239.255.0.1, data-port: 30766, interface: eth0, join-timeout: 120s$maxrate }
bootloader: { kind: none, initrd: { rebuild: false } }
fixups: { ssh-host-keys: keep }
exclude: { paths: [/scratch] }
security: { key-file: session.key }
policy: { retries: 0 }
PLAN
  } >"$work/plan.yaml"
}

udp_ready=0
prepare_udpcast() {
  ((udp_ready)) && return 0
  head -c $((big << 20)) /dev/urandom >"$work/udp.bin"
  udp_ready=1
}
# run_udpcast RATE N [EXTRA_SENDER_OPTS] [STALL_JSON]: one udpcast transfer on the lab that is up; figures from
# the stamped logs. With STALL_JSON, node2's receiver is killed at ~40 % and the survivors are watched.
run_udpcast() {
  local rate=$1 n=$2 extra=${3:-} stalljson=${4:-} t i rcvbuf opts pids=() watch=
  t=$(limit_s "$rate"); [ -n "$stalljson" ] && t=$((t + 400))
  rcvbuf=$("$NETLAB" exec $lab g -- cat /proc/sys/net/core/rmem_max)
  opts="--full-duplex --rexmit-hello-interval 100"
  if [[ $umax != none && $rate != none ]]; then opts="$opts --max-bitrate $(($(rate_mbit "$rate") * umax / 100))m"; fi
  rm -f "$work"/urecv* "$work"/usend.* "$work"/u*.out.bin "$work/udone" "$work/udp.fig"
  for i in $(seq 1 "$n"); do
    sup "$work/urecv$i" -- "$NETLAB" exec $lab n$i -- timeout --kill-after=5 "$t" \
      udp-receiver --nokbd --interface eth0 --rcvbuf "$rcvbuf" --file "$work/u$i.out.bin"
    pids+=("$sup_pid")
    eval "urecv_sup_$i=$sup_pid"
  done
  sleep 1
  if [ -n "$stalljson" ]; then
    local survivors=() v=urecv_sup_2
    for i in $(seq 1 "$n"); do [ "$i" = 2 ] || survivors+=("$work/u$i.out.bin"); done
    timeout --kill-after=5 $((t + 10)) python3 "$work/mb.py" udpwatch "$stalljson" "$work/udone" "$t" \
      $((big * 1048576 * 4 / 10)) $((big * 1048576)) "$work/u2.out.bin" "${!v}" "${survivors[@]}" &
    watch=$!
    sups+=("$watch")
  fi
  # shellcheck disable=SC2086
  sup "$work/usend" -- "$NETLAB" exec $lab g -- timeout --kill-after=5 "$t" \
    udp-sender --nokbd --min-receivers "$n" --interface eth0 $opts $extra --file "$work/udp.bin"
  waitpid "$sup_pid"
  for p in "${pids[@]}"; do waitpid "$p"; done
  touch "$work/udone"
  [ -n "$watch" ] && waitpid "$watch"
  uintact=0
  for i in $(seq 1 "$n"); do
    cmp -s "$work/udp.bin" "$work/u$i.out.bin" && uintact=$((uintact + 1))
  done
  usend_opts="$opts $extra"
}
udp_cleanup_files() { rm -f "$work"/u*.out.bin; }
# keep_logs NAME: with --keep-logs DIR, the stamped logs of the run just made go to DIR/NAME/.
keep_logs() {
  [ -n "$keep" ] || return 0
  mkdir -p "$keep/$1"
  cp "$work"/*.out "$work"/*.err "$work"/*.exit "$keep/$1/" 2>/dev/null || true
  cp "$work"/*.kill "$work"/*.json "$work/plan.yaml" "$keep/$1/" 2>/dev/null || true
}
# Node images go with the loop devices still attached to them (an agent killed by SIGKILL leaves its own behind).
drop_images() {
  local f l
  for f in "$work"/n*.img; do
    [ -e "$f" ] || continue
    for l in $(losetup -j "$f" -O NAME -n 2>/dev/null); do losetup -d "$l" 2>/dev/null || echo "  warning: could not detach $l ($f); see losetup -a" >&2; done
    rm -f "$f"
  done
}

# run_kaplan RATE N [STALL]: one deployment on the lab that is up.
run_kaplan() {
  local rate=$1 n=$2 stallrun=${3:-} t i pids=() kill=()
  t=$(limit_s "$rate")
  plan "$n" "$rate"
  rm -f "$work"/apply.* "$work"/agent*.*
  drop_images
  for i in $(seq 1 "$n"); do truncate -s $((big + 1000))M "$work/n$i.img"; done
  for i in $(seq 1 "$n"); do
    sup "$work/agent$i" -- "$NETLAB" exec $lab n$i -- timeout --kill-after=10 $((t + 120)) \
      "$kbin" agent --server 10.213.0.1 --key "$work/session.key" --name node$i --disk "$work/n$i.img" --wait 120
    pids+=("$sup_pid")
    [ "$i" = 2 ] && kill=(--kill node2 $((big * 1048576 * 4 / 10)) \
      "$(python3 -c "print($big * 8 * 1.048576 / $(rate_mbit "$rate") * 0.8)")" "$sup_pid" "$(basename "$kbin" | cut -c1-15)")
  done
  [ -n "$stallrun" ] || kill=()
  sup "$work/apply" "${kill[@]}" -- "$NETLAB" exec $lab g -- timeout --kill-after=10 "$t" \
    "$kbin" apply "$work/plan.yaml" --auto-approve --format json
  waitpid "$sup_pid"
  for p in "${pids[@]}"; do waitpid "$p"; done
}

lab_up() { # RATE N LOSS
  local args=(up $lab "$2" --multicast)
  [[ $1 != none ]] && args+=(--rate "$1")
  [[ $3 != 0 ]] && args+=(--loss "$3")
  "$NETLAB" "${args[@]}" >/dev/null 2>"$work/netlab.err" || { cat "$work/netlab.err" >&2; die "netlab up $lab failed"; }
}

warm_memory
if has kaplan; then prepare_kaplan; fi
if has udpcast; then prepare_udpcast; fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); ${big} MiB per receiver; lab $lab"
if [ -n "${runs// /}" ]; then
  printf '%-8s %-7s %2s %5s %8s %15s %7s %7s %8s %7s  %s\n' tool link N loss iperf3 "stream min/med" ratio wall-s wall-Mb/s w-ratio result
fi
for r in $runs; do
  IFS=: read -r rate n loss <<<"$r"
  loss=${loss:-0}
  rm -f "$work/udp.fig"
  lab_up "$rate" "$n" "$loss"
  [[ $loss != 0 ]] && "$NETLAB" loss $lab n1 0
  limit=$(link_limit $lab n1 5 2>"$work/iperf.err" || echo 0)
  [[ $limit == 0 ]] && echo "  (iperf3 failed: $(head -c 300 "$work/iperf.err"))"
  [[ $loss != 0 ]] && "$NETLAB" loss $lab n1 "$loss"
  if has udpcast; then
    head -1 /proc/stat > "$work/stat0"
    run_udpcast "$rate" "$n"
    python3 "$work/mb.py" urow "$work" "$rate" "$n" "$loss" "$limit" $((big << 20)) "$uintact"
    machine_since "$work/stat0" "         machine"
    keep_logs "udpcast-$rate-$n-$loss"
    udp_cleanup_files
  fi
  if has kaplan; then
    head -1 /proc/stat > "$work/stat0"
    run_kaplan "$rate" "$n"
    python3 "$work/mb.py" krow "$work" "$rate" "$n" "$loss" "$limit"
    machine_since "$work/stat0" "         machine"
    keep_logs "kaplan-$rate-$n-$loss"
    drop_images
  fi
  "$NETLAB" down $lab >/dev/null
done
if [[ -n ${runs// /} ]] && has udpcast; then echo "udpcast sender options: ${usend_opts:-}"; fi

if ((stall)); then
  echo
  echo "dead receiver: 100 Mbit, N=4, lossless, node2's receiver killed (SIGKILL) at ~40 % of its stream"
  printf '%-32s %9s %14s %18s %8s  %s\n' tool "killed at" "longest stall" "(after the kill)" wall-s result
  lab_up 100mbit 4 0
  if has udpcast; then
    for extra in "" "--retries-until-drop 50"; do
      run_udpcast 100mbit 4 "$extra" "$work/ustall.json"
      python3 - "$work" "$extra" "$uintact" <<'PY'
import filecmp, json, os, sys
sys.path.insert(0, sys.argv[1]); import mb
work, extra, intact = sys.argv[1], sys.argv[2], int(sys.argv[3])
try: r = json.load(open(f"{work}/ustall.json"))
except (OSError, ValueError): r = {"killed": False}
s = mb.exit_of(f"{work}/usend"); ends = [e[1] for e in (mb.exit_of(f"{work}/urecv{i}") for i in (1, 3, 4)) if e]
wall = (max(ends) - s[0]) if s and ends else float("nan")
name = "udpcast " + (extra or "(default: 200 retries)")
surv = sum(1 for i in (1, 3, 4) if os.path.exists(f"{work}/u{i}.out.bin") and filecmp.cmp(f"{work}/udp.bin", f"{work}/u{i}.out.bin", shallow=False))
if not r.get("killed"):
    print(f"{name:<32} not killed (node2's file never reached 40 %); sender exit {s[2] if s else '?'}"); sys.exit()
pct = f"{r['victim_bytes'] / r['total'] * 100:.0f} %"
stall = f"{'≥ ' if r['open'] else ''}{r['stall']:.1f} s"
res = "+{:.1f} → +{:.1f} s".format(*r["window"]) if r.get("window") else "-"
print(f"{name:<32} {pct:>9} {stall:>14} {res:>18} {wall:>8.1f}  {surv} of 3 survivors intact, sender exit {s[2] if s else '?'}")
PY
      keep_logs "stall-udpcast${extra:+-r50}"
      udp_cleanup_files
    done
  fi
  if has kaplan; then
    run_kaplan 100mbit 4 stall
    python3 "$work/mb.py" kstall "$work" 4 node2 $((big << 20)) >"$work/kstall.json"
    python3 - "$work" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1]); import mb
work = sys.argv[1]
r = json.load(open(f"{work}/kstall.json"))
a = mb.exit_of(f"{work}/apply")
oks = {}
for _, e in mb.events(work):
    if e.get("event") == "report":
        oks = {o["node"]: o.get("ok") for o in e.get("nodes", [])}
surv = sum(1 for k, v in oks.items() if k != "node2" and v)
wall = a[1] - a[0] if a else float("nan")
if not r.get("killed"):
    print(f"{'kaplan':<32} not killed (no stream progress seen for node2); apply exit {a[2] if a else '?'}"); sys.exit()
pct = f"{r['victim_bytes'] / r['total'] * 100:.0f} %"
stall = f"{r['stall']:.1f} s" if r.get("stall") is not None else "-"
res = "+{:.1f} → +{:.1f} s".format(*r["window"]) if r.get("window") else "-"
extra = f"; normal gap between progress events {r['normal_gap']:.2f} s" if r.get("normal_gap") else ""
lost = f"; server at +{r['lost'][0]} s: {r['lost'][1]}" if r.get("lost") else ""
print(f"{'kaplan':<32} {pct:>9} {stall:>14} {res:>18} {wall:>8.1f}  {surv} of 3 survivors OK, node2 {'OK' if oks.get('node2') else 'KO'}, apply exit {a[2] if a else '?'}{extra}{lost}")
PY
    keep_logs stall-kaplan
    drop_images
  fi
  "$NETLAB" down $lab >/dev/null
fi
