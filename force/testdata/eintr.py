# Counts socket() calls that fail with EINTR (InterruptedError) while
# SIGALRM arrives every 200 us, for DURATION seconds. Python installs its
# handlers without SA_RESTART, so an interrupted wait shows. A real
# socket() never sleeps interruptibly and never fails so; any other error
# ends the script. Prints JSON.
import json, signal, socket, sys, time

alarms = 0
def on_alarm(sig, frame):
    global alarms
    alarms += 1

signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
deadline = time.monotonic() + float(sys.argv[1])
calls = eintr = wrong = 0
while time.monotonic() < deadline:
    calls += 1
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except InterruptedError:
        eintr += 1
        continue
    if s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) != 262:
        wrong += 1
    s.close()
signal.setitimer(signal.ITIMER_REAL, 0)
print(json.dumps({"calls": calls, "eintr": eintr, "wrong": wrong, "alarms": alarms}))
