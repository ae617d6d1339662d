"""One-way latency of a BROADCAST to a receiver on the same node and on another node.

    python3 scripts/cluster_hop.py NODE_A_FRAME_ADDR NODE_B_FRAME_ADDR

Sends 300 BROADCASTs on node A one at a time and times each until the receiver has it;
the receiver is on node A, then on node B (through NATS), twice. Every wait is bounded
by a 5 s socket timeout.
"""
import socket, struct, sys, time, statistics
def conn(addr):
    h, p = addr.rsplit(':', 1); s = socket.create_connection((h, int(p))); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); return s
def send(s, op, payload): s.sendall(struct.pack('>I', 1 + len(payload)) + bytes([op]) + payload)
def recv(s):
    hdr = b''
    while len(hdr) < 4: hdr += s.recv(4 - len(hdr))
    n = struct.unpack('>I', hdr)[0]; body = b''
    while len(body) < n: body += s.recv(n - len(body))
    return body[0], body[1:]
def ping(s):
    send(s, 3, b'r')
    while recv(s)[0] != 4: pass
def measure(sender_addr, receiver_addr, n=300):
    tx = conn(sender_addr); rx = conn(receiver_addr); ping(tx); ping(rx)
    # warm up until the broadcast crosses (the receiving node subscribes on its first member)
    deadline = time.time() + 5
    while time.time() < deadline:
        send(tx, 2, b'warm'); rx.settimeout(0.2)
        try:
            if recv(rx)[0] == 2: break
        except socket.timeout: pass
    rx.settimeout(5); time.sleep(0.2)
    # drain
    rx.settimeout(0.2)
    try:
        while True: recv(rx)
    except socket.timeout: pass
    rx.settimeout(5)
    xs = []
    for i in range(n):
        payload = b'm%06d' % i
        t = time.perf_counter(); send(tx, 2, payload)
        while True:
            op, p = recv(rx)
            if op == 2 and p == payload: break
        xs.append(time.perf_counter() - t)
        # the sender's own copy, read so it never backs up
        while True:
            op, p = recv(tx)
            if op == 2 and p == payload: break
    tx.close(); rx.close()
    xs.sort()
    return statistics.median(xs) * 1e6, xs[int(len(xs) * 0.99)] * 1e6
a, b = sys.argv[1], sys.argv[2]
for name, rx in (('same node', a), ('across nodes', b), ('same node', a), ('across nodes', b)):
    p50, p99 = measure(a, rx)
    print(f'{name}: p50 {p50:.0f} us, p99 {p99:.0f} us (300 broadcasts, one at a time)')
