# Prints, as JSON, what the sockets this process creates turned out to be:
# SO_PROTOCOL of each, and whether O_NONBLOCK / FD_CLOEXEC are set.
import fcntl, json, os, socket, sys

def info(s):
    fd = s.fileno()
    return {
        "proto": s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL),
        "nonblock": bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK),
        "cloexec": bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC),
        "uid": os.fstat(fd).st_uid == os.getuid(),  # the socket belongs to us
    }

out = {}
# Python's socket() passes SOCK_CLOEXEC itself; use os-level flags via type.
out["tcp4"] = info(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
out["tcp6"] = info(socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
out["tcp4_explicit"] = info(socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP))
out["tcp4_nonblock"] = info(socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK))
out["udp4"] = info(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
out["unix"] = info(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
try:
    out["mptcp"] = info(socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262))
except OSError as e:  # net.mptcp.enabled=0
    out["mptcp"] = {"proto": -e.errno, "nonblock": False, "cloexec": False}
# Python's socket() always adds SOCK_CLOEXEC; libc's socket() does not.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
out["tcp4_libc"] = info(socket.socket(fileno=fd))
fd = libc.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 0)
out["tcp4_libc_flags"] = info(socket.socket(fileno=fd))
json.dump(out, sys.stdout)
