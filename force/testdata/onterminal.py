# Runs argv[1:] on a new pseudo-terminal (as a terminal's foreground job),
# types Ctrl-C once the program prints "ready", and prints what it printed.
import os, pty, select, sys, time

pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
buf, sent, t0 = b"", False, time.time()
while time.time() - t0 < 20:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            d = os.read(fd, 1000)
        except OSError:
            break
        if not d:
            break
        buf += d
    if b"ready" in buf and not sent:
        os.write(fd, b"\x03")
        sent = True
_, st = os.waitpid(pid, 0)
sys.stdout.write(buf.decode(errors="replace").replace("\r", ""))
print("status", os.waitstatus_to_exitcode(st))
