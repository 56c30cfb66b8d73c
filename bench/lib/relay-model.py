#!/usr/bin/env python3
"""A model relay for bench/relay-model.sh: the lab's ceiling for a chain of TCP relays, without kaplan.

  relay-model.py relay LISTEN_ADDR PORT NEXT_ADDR|- PIECE   receive one stream, forward it to NEXT (or drop it)
  relay-model.py send DEST_ADDR PORT FILE                   send FILE's bytes, then wait for the peer to close

A relay receives on one thread and forwards on another through a bounded queue (64 MiB), like kaplan's relays.
PIECE is how much it gathers before forwarding: 0 = whatever each recv returns (cut-through), N = N-byte pieces
(store and forward, as kaplan forwards whole chunks). It prints "BYTES FIRST LAST MBIT/S" (first and last byte
received, wall clock). Every wait is bounded (30 s to connect, 120 s per socket operation). RELAY_MODEL_CC=NAME
makes every socket use that TCP congestion control (bench/relay-model.sh --cc NAME).
"""
import os, queue, socket, sys, threading, time

CC = os.environ.get("RELAY_MODEL_CC", "")

def cc(s):
    """Sets the congestion control of socket s to $RELAY_MODEL_CC, if given (root may choose any the kernel has)."""
    if CC: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, CC.encode())
    return s

def relay(addr, port, nxt, piece):
    ls = cc(socket.socket())
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    ls.settimeout(120)
    out = None
    if nxt != "-":
        deadline = time.time() + 30
        while out is None:
            try:
                out = cc(socket.create_connection((nxt, port), timeout=5))
            except OSError:
                if time.time() > deadline: raise
                time.sleep(0.05)
        out.settimeout(120)
    conn, _ = ls.accept()
    conn.settimeout(120)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    q = queue.Queue(maxsize=max(64, (64 << 20) // max(piece, 1 << 20)))
    def forward():
        while (b := q.get()) is not None:
            out.sendall(b)
        out.shutdown(socket.SHUT_WR)
        out.recv(1)
    sender = threading.Thread(target=forward) if out else None
    if sender: sender.start()
    n, first, acc = 0, None, bytearray()
    while b := conn.recv(256 << 10):
        if first is None: first = time.time()
        n += len(b)
        if not out: continue
        if piece == 0:
            q.put(b)
        else:
            acc += b
            while len(acc) >= piece:
                q.put(bytes(acc[:piece])); del acc[:piece]
    last = time.time()
    if out:
        if acc: q.put(bytes(acc))
        q.put(None)
        sender.join()
    conn.close()
    rate = n * 8 / (last - first) / 1e6 if first and last > first else 0
    print(f"{n} {first or 0:.3f} {last:.3f} {rate:.1f}", flush=True)

def send(dest, port, path):
    s = cc(socket.create_connection((dest, port), timeout=30))
    s.settimeout(120)
    with open(path, "rb") as f:
        while b := f.read(1 << 20):
            s.sendall(b)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)

if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "relay":
        relay(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    elif len(sys.argv) == 5 and sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)
