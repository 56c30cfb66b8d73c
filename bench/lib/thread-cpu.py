#!/usr/bin/env python3
"""Samples the CPU time of every thread of the `kaplan agent` processes, by thread name, until a stop file appears.

    bench/lib/thread-cpu.py OUT.json STOPFILE [SECONDS]

Every 0.2 s it finds the processes whose command starts with `kaplan` (bench/chain.sh --kaplan PATH may name a copy) and whose command line holds `agent` and
`--name NODE`, reads /proc/PID/task/*/comm and stat (utime + stime), and keeps, per node and thread name, the
largest CPU seconds seen (threads come and go; a thread's counter only grows). OUT.json is rewritten after every
sample: {"node1": {"kaplan-upstream": 1.23, "kaplan-data-ser": 0.98, ...}, ...}. It stops when STOPFILE exists
or after SECONDS (default 1800). Linux thread names are cut to 15 bytes (kaplan-data-serve → kaplan-data-ser).
"""
import json
import os
import sys
import time

out, stop = sys.argv[1], sys.argv[2]
limit = float(sys.argv[3]) if len(sys.argv) > 3 else 1800.0
tick = os.sysconf("SC_CLK_TCK")
seen = {}
deadline = time.time() + limit


def node_of(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            if not f.read().strip().startswith("kaplan"):
                return None
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return None
    if b"agent" not in args or b"--name" not in args:
        return None
    i = args.index(b"--name")
    return args[i + 1].decode() if i + 1 < len(args) else None


while time.time() < deadline and not os.path.exists(stop):
    for pid in filter(str.isdigit, os.listdir("/proc")):
        node = node_of(pid)
        if node is None:
            continue
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        per = {}
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    name = f.read().strip()
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # After the ")": state is field 3 of stat, so utime (14) and stime (15) are at 11 and 12 here.
            per[(name, tid)] = (int(fields[11]) + int(fields[12])) / tick
        node_seen = seen.setdefault(node, {})
        for (name, tid), secs in per.items():
            key = f"{name}\t{tid}"
            node_seen[key] = max(node_seen.get(key, 0.0), secs)
    summary = {}
    for node, threads in seen.items():
        by_name = {}
        for key, secs in threads.items():
            name = key.split("\t")[0]
            by_name[name] = round(by_name.get(name, 0.0) + secs, 3)
        summary[node] = by_name
    with open(out + ".tmp", "w") as f:
        json.dump(summary, f)
    os.replace(out + ".tmp", out)
    time.sleep(0.2)
