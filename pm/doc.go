// Package pm is a client of the Linux kernel's MPTCP path manager, the
// "mptcp_pm" generic netlink family, in pure Go (no cgo, no `ip`).
//
// A Client reads and sets the in-kernel path manager's limits and endpoint
// table (what `ip mptcp limits` and `ip mptcp endpoint` do), subscribes to
// path manager events (what `ip mptcp monitor` shows), and drives the
// userspace path manager (net.mptcp.path_manager=userspace) of single
// connections by token: announce, remove, create and destroy subflows, set
// a subflow's backup priority.
//
// Dial with Config.NetNS set to a namespace's file descriptor works inside
// that network namespace; the calling thread never changes namespace. For a
// namespace by name (/run/netns/NAME) or path, open it with package netns:
//
//	ns, err := netns.Open("blue") // or a path such as /proc/1234/ns/net
//	...
//	c, err := pm.Dial(&pm.Config{NetNS: ns.FD()})
//	ns.Close() // the Client keeps its own reference
//
// Errors from the kernel are *Error values that keep the kernel's extended
// acknowledgement text (such as "address not found") and unwrap to the
// error number; errors.Is(err, os.ErrPermission) reports a missing
// CAP_NET_ADMIN and errors.Is(err, os.ErrNotExist) a missing endpoint,
// connection token or subflow. Requests that can be checked locally (signal
// with fullmesh, a port without signal, a limit above 8) are refused before
// anything is sent, with errors that match os.ErrInvalid.
//
// Events are read from a socket of their own. The kernel does not wait for a
// slow reader: when the socket's buffer is full it drops events and reports
// ENOBUFS, which Events returns as an error wrapping ErrEventsLost.
package pm
