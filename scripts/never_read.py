"""Peers that never read, against the server: CONNS (500) frame clients send 16 kB
ECHOs until the server stops reading them, and never read a byte; prints the server's
resident memory at start, loaded, and 5 s after every client closed (with TRIM=1 also
after asking glibc to trim through gdb, to tell freed-but-kept memory from memory in use).
With CONFIG=FILE the server reads that configuration file (for example one setting
max_outbound_total_bytes, the budget of all queues together).

    cargo build --release && python3 scripts/never_read.py target/release/switchboard
    printf 'max_outbound_total_bytes = 67108864\n' > /tmp/budget.toml
    CONNS=300 CONFIG=/tmp/budget.toml python3 scripts/never_read.py target/release/switchboard
"""
import os, socket, subprocess, sys, time, struct, select

binary = sys.argv[1]
env = dict(os.environ)
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    env[k] = v
env["RUST_LOG"] = "warn"
config = ["--config", os.environ["CONFIG"]] if os.environ.get("CONFIG") else []
srv = subprocess.Popen([binary, "serve", *config, "--frame", "127.0.0.1:0", "--line", "127.0.0.1:0"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
port = None
while port is None:
    line = srv.stdout.readline()
    if line.startswith("listening frame"):
        port = int(line.rsplit(":", 1)[1])
    if not line:
        sys.exit("server died")

def rss():
    with open(f"/proc/{srv.pid}/status") as f:
        for l in f:
            if l.startswith("VmRSS"):
                return int(l.split()[1]) // 1024
print("rss at start MiB", rss(), flush=True)

N = int(os.environ.get("CONNS", "500"))
payload = b"\x01" + b"x" * 16000
frame = struct.pack(">I", len(payload)) + payload
socks = []
for _ in range(N):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    socks.append(s)
# Each client writes ECHOs until its socket refuses more (the server stopped reading
# it) or the server closed it; 60 s at most.
deadline = time.time() + 60
live = set(range(N))
while live and time.time() < deadline:
    _, w, _ = select.select([], [socks[i] for i in live], [], 0.5)
    if not w:
        break
    for s in w:
        i = socks.index(s)
        try:
            s.send(frame)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            live.discard(i)
print("rss loaded MiB", rss(), "clients still open", len(live), flush=True)
time.sleep(3)
print("rss loaded after 3 s MiB", rss(), flush=True)
for s in socks:
    s.close()
time.sleep(5)
print("rss 5 s after all closed MiB", rss(), flush=True)
if os.environ.get("TRIM"):
    subprocess.run(["gdb", "-p", str(srv.pid), "-batch", "-ex", "call (int)malloc_trim(0)"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print("rss after malloc_trim(0) MiB", rss(), flush=True)
srv.terminate()
srv.wait()
