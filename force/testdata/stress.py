# Stress for `mptcpkit run`: for DURATION seconds, worker threads create TCP
# sockets (blocking and SOCK_NONBLOCK), check each is an MPTCP socket with
# the asked flags, connect the blocking ones to this process's own listener
# and echo a few bytes; another thread forks short-lived children that make
# a socket each; SIGALRM arrives every 0.5 ms to interrupt all of it.
# Prints JSON counts and the first errors.
import fcntl, json, os, signal, socket, sys, threading, time

duration = float(sys.argv[1])
deadline = time.monotonic() + duration
lock = threading.Lock()
counts = {"sockets": 0, "eintr": 0, "connections": 0, "children": 0, "alarms": 0}
errors = []

def fail(msg):
    with lock:
        if len(errors) < 10:
            errors.append(msg)

def count(key):
    with lock:
        counts[key] += 1

def check(s, nonblock):
    fd = s.fileno()
    if fd <= 2:
        return "socket() returned standard descriptor %d" % fd
    proto = s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL)
    if proto != 262:
        return "fd %d: protocol %d, want 262" % (fd, proto)
    if bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK) != nonblock:
        return "fd %d: O_NONBLOCK is not %s" % (fd, nonblock)
    if not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
        return "fd %d: FD_CLOEXEC missing" % fd
    return None

ln = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ln.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ln.bind(("127.0.0.1", 0))
ln.listen(128)
ln.settimeout(0.2)
addr = ln.getsockname()
if ln.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) != 262:
    fail("listener is not MPTCP")

def server():
    while time.monotonic() < deadline + 1:
        try:
            c, _ = ln.accept()
        except socket.timeout:
            continue
        except OSError as e:
            fail("accept: %s" % e)
            return
        with c:
            try:
                c.settimeout(5)
                data = b""
                while len(data) < 16:
                    b = c.recv(16 - len(data))
                    if not b:
                        break
                    data += b
                c.sendall(data)
            except OSError as e:
                fail("server: %s" % e)

def worker(i):
    n = 0
    while time.monotonic() < deadline:
        nonblock = n % 2 == 1
        fam = socket.AF_INET
        typ = socket.SOCK_STREAM | (socket.SOCK_NONBLOCK if nonblock else 0)
        try:
            s = socket.socket(fam, typ)
        except InterruptedError:
            # socket(2) itself is never interrupted; waiting for the
            # supervisor is, before it has taken the call (Python's handlers
            # have no SA_RESTART): counted, not an error.
            count("eintr")
            continue
        except OSError as e:
            fail("thread %d: socket: %s" % (i, e))
            return
        with s:
            count("sockets")
            err = check(s, nonblock)
            if err:
                fail("thread %d: %s" % (i, err))
                return
            if not nonblock:
                try:
                    s.settimeout(5)
                    s.connect(addr)
                    s.sendall(b"0123456789abcdef")
                    data = b""
                    while len(data) < 16:
                        b = s.recv(16 - len(data))
                        if not b:
                            break
                        data += b
                    if data != b"0123456789abcdef":
                        fail("thread %d: echo %r" % (i, data))
                        return
                    count("connections")
                except OSError as e:
                    fail("thread %d: connection: %s" % (i, e))
                    return
        n += 1

def forker():
    while time.monotonic() < deadline:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                s = socket.socket()
                if check(s, False):
                    code = 1
            except OSError:
                code = 2
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            fail("child: status %d" % os.waitstatus_to_exitcode(status))
            return
        count("children")

def alarm(sig, frame):
    counts["alarms"] += 1

signal.signal(signal.SIGALRM, alarm)
signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
threads = [threading.Thread(target=server) for _ in range(2)]
threads += [threading.Thread(target=worker, args=(i,)) for i in range(6)]
threads.append(threading.Thread(target=forker))
for t in threads:
    t.start()
for t in threads:
    t.join()
signal.setitimer(signal.ITIMER_REAL, 0)
counts["errors"] = errors
print(json.dumps(counts))
