package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/pm"
)

const endpointHelp = `Usage:
  mptcpkit [-n NETNS] [-j] endpoint COMMAND ...      (also: endp, ep)

Manage the in-kernel path manager's endpoints: the local addresses MPTCP
connections announce (signal) or open extra subflows from (subflow). The same
words as ` + "`ip mptcp endpoint`" + `:

  endpoint add ADDR [port P] [dev IFNAME] [id ID] [signal|subflow|backup|fullmesh|laminar ...]
  endpoint delete id ID [ADDR]                      (also: del)
  endpoint show [id ID]                             (also: list; the default)
  endpoint flush
  endpoint change (id ID | ADDR [port P]) backup|nobackup|fullmesh|nofullmesh

The kernel keeps at most 8 endpoints. ` + "`mptcpkit endpoint COMMAND --help`" + ` explains each.

Words and numbers as ip takes them: abbreviations (e, en; a, del, ls; i, d, p
for id, dev, port; flags where unambiguous: sub, sig, back), ids and ports in
hex (0x10) or octal (012). Output is ip's, byte for byte.

Options:
  -j, --json   show prints what ` + "`ip -j mptcp endpoint show`" + ` prints

Exit status (as ip's): 0 done, 255 a mistake on the command line, 2 the
kernel refused (or mptcpkit refused beforehand what it would refuse: a
duplicate, a 9th endpoint, no CAP_NET_ADMIN), 1 MPTCP missing.

Examples:
  mptcpkit endpoint add 10.0.2.1 dev eth1 subflow
  mptcpkit endpoint add 192.0.2.10 signal
  mptcpkit endpoint show
  mptcpkit -j endpoint show id 2
  mptcpkit endpoint change id 2 backup
  mptcpkit endpoint delete id 2
  mptcpkit -n lab:l1:client endpoint flush
`

const endpointAddHelp = `Usage:
  mptcpkit [-n NETNS] endpoint add ADDR [port P] [dev IFNAME] [id ID] [FLAG ...]

Add an endpoint for the local address ADDR (IPv4 or IPv6).

  port P      announce ADDR with port P; the kernel listens there (needs signal,
              not subflow)
  dev IFNAME  bind the endpoint's subflows to interface IFNAME
  id ID       use endpoint id ID (1-255) instead of the next free one
  FLAG        signal    announce ADDR to peers (ADD_ADDR): for servers
              subflow   open a subflow from ADDR to the peer: for clients
              backup    subflows over ADDR carry data only when others fail
              fullmesh  open a subflow from ADDR to every peer address (with
                        subflow; not with signal)
              laminar   use ADDR for subflows to peers' announced addresses
                        (kept by 6.18; Debian's 6.12 and 6.1 drop it)
An endpoint without signal or subflow does nothing, nor does an address no
interface has: both are added (as ip does) with a warning on stderr. At most 8
endpoints.

Examples:
  mptcpkit endpoint add 10.0.2.1 dev eth1 subflow          # client, 2nd path
  mptcpkit endpoint add 10.0.2.1 dev eth1 subflow backup   # use only if eth0 fails
  mptcpkit endpoint add 192.0.2.10 signal                  # server, 2nd address
  mptcpkit endpoint add 192.0.2.10 port 8443 signal        # announce with a port
`

const endpointDeleteHelp = `Usage:
  mptcpkit [-n NETNS] endpoint delete id ID [ADDR]
  mptcpkit [-n NETNS] endpoint delete ADDR

Delete the endpoint with id ID, or the one for ADDR. Subflows that use it
are closed and its address is withdrawn from peers (REMOVE_ADDR). Id 0 (the
address of connections' first subflow) needs ADDR.

Examples:
  mptcpkit endpoint delete id 2
  mptcpkit endpoint delete 10.0.2.1
`

const endpointShowHelp = `Usage:
  mptcpkit [-n NETNS] [-j] endpoint show [id ID]

List the endpoints (or the one with id ID) like ` + "`ip mptcp endpoint show`" + `:
  10.0.2.1 id 2 subflow backup dev eth1
With -j, the JSON of ` + "`ip -j mptcp endpoint show`" + `:
  [{"address":"10.0.2.1","id":2,"subflow":true,"backup":true,"dev":"eth1"}]

Examples:
  mptcpkit endpoint show
  mptcpkit -j endpoint show id 2
`

const endpointFlushHelp = `Usage:
  mptcpkit [-n NETNS] endpoint flush

Delete every endpoint. The limits stay as they are.

Example:
  mptcpkit endpoint flush
`

const endpointChangeHelp = `Usage:
  mptcpkit [-n NETNS] endpoint change (id ID | ADDR [port P]) backup|nobackup|fullmesh|nofullmesh ...

Switch an endpoint's backup or fullmesh flag. Existing subflows follow
(MP_PRIO). Only the flags named change; the other one is kept (the kernel
itself would reset it: mptcpkit reads the endpoint first).

An endpoint added with a port is named by id, or by its address (with its port).

Examples:
  mptcpkit endpoint change id 2 backup
  mptcpkit endpoint change 10.0.2.1 nobackup fullmesh
  mptcpkit endpoint change 192.0.2.10 port 8443 backup
`

// endpointCommand is `mptcpkit endpoint`: ip's verbs, abbreviated as ip
// abbreviates them, show when none is named.
func endpointCommand() *Command {
	return &Command{
		Name:    "endpoint",
		Quick:   true,
		Aliases: []string{"endp", "ep"},
		Summary: "manage the in-kernel path manager's endpoints (like ip mptcp endpoint)",
		Help:    endpointHelp,
		IPStyle: true,
		Abbrev:  true,
		Default: "show",
		Sub: []*Command{
			{Name: "add", Help: endpointAddHelp, Run: endpointAdd},
			{Name: "change", Help: endpointChangeHelp, Run: endpointChange},
			{Name: "delete", Aliases: []string{"del", "remove", "rm"}, Help: endpointDeleteHelp, Run: endpointDelete},
			{Name: "show", Aliases: []string{"list", "ls"}, Help: endpointShowHelp, Run: endpointShow},
			{Name: "flush", Help: endpointFlushHelp, Run: endpointFlush},
		},
	}
}

// endpointArgs is what the endpoint commands' words say.
type endpointArgs struct {
	addr     netip.Addr
	port     uint16
	dev      string
	id       uint8
	idSet    bool
	flags    pm.Flags
	set, clr pm.Flags // change: nobackup/nofullmesh clear
}

// parseEndpointArgs parses ip's words for verb (add, delete, show, change).
func parseEndpointArgs(verb string, w []string) (endpointArgs, error) {
	const cmd = "endpoint"
	var a endpointArgs
	what := "endpoint " + verb
	next := func(i int, kw string) (string, error) {
		if i+1 >= len(w) {
			return "", usagef(cmd+" "+verb, "%s: %s needs a value", what, kw)
		}
		return w[i+1], nil
	}
	for i := 0; i < len(w); i++ {
		word := w[i]
		if !isFlagWord(word) && (verb == "add" || verb == "change") {
			// ip takes flags by their whole name only; a unique
			// abbreviation (sub, sig, back, full) is taken here too, after
			// ip's keyword abbreviations (i: id, d: dev, p: port).
			if !matches(word, "id") && !matches(word, "dev") && !matches(word, "port") {
				full, err := flagAbbrev(cmd+" "+verb, what, verb, word)
				if err != nil {
					return a, err
				}
				if full != "" {
					word = full
				}
			}
		}
		switch {
		case isFlagWord(word) || ((verb == "change") && (word == "nobackup" || word == "nofullmesh")):
			// handled below
		case matches(word, "id"):
			word = "id"
		case matches(word, "port"):
			word = "port"
		case matches(word, "dev"):
			word = "dev"
		}
		switch {
		case word == "id":
			s, err := next(i, word)
			if err != nil {
				return a, err
			}
			lo := uint64(1)
			if verb == "delete" {
				lo = 0
			}
			n, err := parseUint(cmd+" "+verb, what+": id", s, lo, 255)
			if err != nil {
				return a, err
			}
			a.id, a.idSet = uint8(n), true
			i++
		case word == "port" && (verb == "add" || verb == "change"):
			s, err := next(i, word)
			if err != nil {
				return a, err
			}
			n, err := parseUint(cmd+" "+verb, what+": port", s, 1, 65535)
			if err != nil {
				return a, err
			}
			a.port = uint16(n)
			i++
		case word == "dev" && verb == "add":
			s, err := next(i, word)
			if err != nil {
				return a, err
			}
			a.dev = s
			i++
		case verb == "change" && (word == "backup" || word == "fullmesh"):
			f, _ := pm.ParseFlag(word)
			a.set |= f
		case verb == "change" && (word == "nobackup" || word == "nofullmesh"):
			f, _ := pm.ParseFlag(strings.TrimPrefix(word, "no"))
			a.clr |= f
		case verb == "change" && isFlagWord(word):
			return a, usagef(cmd+" "+verb, "%s: only backup, nobackup, fullmesh and nofullmesh can be changed, not %s; delete the endpoint and add it again for that", what, word)
		case verb == "add" && isFlagWord(word):
			f, _ := pm.ParseFlag(word)
			if f == pm.FlagImplicit {
				return a, usagef(cmd+" "+verb, "%s: the implicit flag is set by the kernel only; leave it out", what)
			}
			a.flags |= f
		case verb == "show" && word != "id":
			return a, usagef(cmd+" "+verb, "%s: unexpected %q; use `endpoint show` or `endpoint show id ID`", what, word)
		default:
			addr, err := parseAddr(cmd+" "+verb, word)
			if err != nil {
				ue := err.(*UsageError)
				ue.Msg = strings.Replace(ue.Msg, cmd+" "+verb+":", what+":", 1)
				if verb == "add" && !strings.Contains(word, ".") && !strings.Contains(word, ":") {
					ue.Msg = fmt.Sprintf("%s: %q is neither an IP address nor a keyword (port, dev, id, signal, subflow, backup, fullmesh, laminar)", what, word)
				}
				return a, ue
			}
			if a.addr.IsValid() {
				return a, usagef(cmd+" "+verb, "%s: two addresses given (%s and %s); give one", what, a.addr, addr)
			}
			a.addr = addr
		}
	}
	return a, nil
}

// flagAbbrev expands a unique abbreviation of a flag word for verb (add:
// the flags; change: backup, fullmesh and their no- forms). It returns ""
// when word abbreviates none, and an error when it abbreviates several.
func flagAbbrev(help, what, verb, word string) (string, error) {
	names := []string{"signal", "subflow", "backup", "fullmesh", "laminar"}
	if verb == "change" {
		names = []string{"backup", "nobackup", "fullmesh", "nofullmesh"}
	}
	var found []string
	for _, n := range names {
		if matches(word, n) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", usagef(help, "%s: %q is ambiguous: %s; write more of it", what, word, strings.Join(found, " or "))
}

func isFlagWord(w string) bool {
	_, err := pm.ParseFlag(w)
	return err == nil
}

// validateAdd checks an add locally, before anything is sent.
func validateAdd(a endpointArgs) error {
	const help = "endpoint add"
	switch {
	case !a.addr.IsValid():
		return usagef(help, "endpoint add: give the endpoint's address, for example: mptcpkit endpoint add 10.0.2.1 dev eth1 subflow")
	case a.flags&pm.FlagSignal != 0 && a.flags&pm.FlagFullmesh != 0:
		return usagef(help, "endpoint add: signal and fullmesh cannot be combined (the kernel refuses it): use signal to announce %s, or subflow fullmesh to open subflows from it to every peer address", a.addr)
	case a.port != 0 && a.flags&pm.FlagSignal == 0:
		return usagef(help, "endpoint add: port %d needs the signal flag (the port is announced to peers, and the kernel listens on it); add signal, or leave the port out", a.port)
	case a.port != 0 && a.flags&pm.FlagSubflow != 0:
		return usagef(help, "endpoint add: port %d cannot be used with subflow (the kernel refuses it); use signal alone with a port, or leave the port out", a.port)
	}
	return nil
}

func endpointAdd(e *env, args []string) error {
	w, err := words(e, "endpoint add", endpointAddHelp, args)
	if err != nil {
		return err
	}
	a, err := parseEndpointArgs("add", w)
	if err != nil {
		return err
	}
	if err := validateAdd(a); err != nil {
		return err
	}
	s, err := openPM(e, true)
	if err != nil {
		return err
	}
	defer s.Close()
	ep := pm.Endpoint{ID: a.id, Addr: a.addr, Port: a.port, Flags: a.flags}
	if a.dev != "" {
		idx, err := s.ifIndex(a.dev)
		if err != nil {
			return usagef("endpoint add", "endpoint add: no interface %q%s (list them with `%s`)", a.dev, e.nsWhere(), ipCmd(e, "link show"))
		}
		ep.IfIndex = idx
	}
	// Check the table first: a duplicate or a full table gets a clear
	// error before anything is changed.
	eps, err := s.c.Endpoints()
	if err != nil {
		return pmErr(err)
	}
	if err := checkAddAgainst(e, ep, eps); err != nil {
		return err
	}
	if err := s.c.AddEndpoint(ep); err != nil {
		switch {
		case errors.Is(err, os.ErrExist) || errors.Is(err, unix.ERANGE): // os.ErrExist: EEXIST, EBUSY, or 6.1's unspecific EINVAL
			// Someone else changed the table meanwhile: explain with a fresh look.
			if eps, lerr := s.c.Endpoints(); lerr == nil {
				if cerr := checkAddAgainst(e, ep, eps); cerr != nil {
					return cerr
				}
			}
		case errors.Is(err, unix.EADDRNOTAVAIL):
			return &wrapped{fmt.Sprintf("endpoint add: %s is not assigned to any interface%s, so the kernel cannot listen on port %d for it (EADDRNOTAVAIL); add the address first (`%s`) or leave the port out",
				ep.Addr, e.nsWhere(), ep.Port, ipCmd(e, "addr add "+ep.Addr.String()+" dev IFNAME")), err}
		}
		return pmErr(err)
	}
	if e.verbose {
		e.log.Debug("endpoint added", "address", ep.Addr, "flags", ep.Flags.String())
	}
	warnIdleEndpoint(e, s, ep, a.dev)
	return nil
}

// warnIdleEndpoint says on stderr when the endpoint just added will do
// nothing: neither signal nor subflow, or an address no interface has. The
// kernel accepts both (and ip says nothing), so the exit status stays 0.
func warnIdleEndpoint(e *env, s *pmSession, ep pm.Endpoint, dev string) {
	if ep.Flags&(pm.FlagSignal|pm.FlagSubflow) == 0 {
		fix := fmt.Sprintf("endpoint add %s", ep.Addr)
		if dev != "" {
			fix += " dev " + dev
		}
		fmt.Fprintf(e.stderr, "mptcpkit: warning: endpoint %s has neither subflow nor signal, so the kernel will not use it; to use it, replace it: `%s` then `%s subflow` (client: open subflows from it) or `%s signal` (server: announce it)\n",
			ep.Addr, e.mk("endpoint delete "+ep.Addr.String()), e.mk(fix), e.mk(fix))
	}
	var local bool
	err := s.do(func() error {
		addrs, err := net.InterfaceAddrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == ep.Addr {
					local = true
				}
			}
		}
		return err
	})
	if err == nil && !local {
		fmt.Fprintf(e.stderr, "mptcpkit: warning: %s is not assigned to any interface%s, so no subflow can use it until it is (`%s`)\n",
			ep.Addr, e.nsWhere(), ipCmd(e, "addr add "+ep.Addr.String()+"/PREFIX dev IFNAME"))
	}
}

// checkAddAgainst refuses adding ep to the table eps where the kernel would.
func checkAddAgainst(e *env, ep pm.Endpoint, eps []pm.Endpoint) error {
	for _, o := range eps {
		if o.Addr == ep.Addr && o.Port == ep.Port {
			return fmt.Errorf("an endpoint for %s already exists (id %d); delete it first (`%s`) or use `%s` to switch its backup/fullmesh flags",
				ep.Addr, o.ID, e.mk(fmt.Sprintf("endpoint delete id %d", o.ID)), e.mk(fmt.Sprintf("endpoint change id %d ...", o.ID)))
		}
		if ep.ID != 0 && o.ID == ep.ID {
			return fmt.Errorf("endpoint id %d is already used by %s; choose another id or leave id out to get the next free one", ep.ID, o.Addr)
		}
	}
	if len(eps) >= pm.MaxEndpoints {
		return fmt.Errorf("the kernel allows at most %d endpoints and %d exist; delete one first (`%s`, list them with `%s`)",
			pm.MaxEndpoints, len(eps), e.mk("endpoint delete id ID"), e.mk("endpoint show"))
	}
	return nil
}

// ipCmd formats an ip command acting where this command does.
func ipCmd(e *env, args string) string {
	if e.netns != "" {
		return "ip -n " + e.netns + " " + args
	}
	return "ip " + args
}

func endpointDelete(e *env, args []string) error {
	w, err := words(e, "endpoint delete", endpointDeleteHelp, args)
	if err != nil {
		return err
	}
	a, err := parseEndpointArgs("delete", w)
	if err != nil {
		return err
	}
	if !a.idSet && !a.addr.IsValid() {
		return usagef("endpoint delete", "endpoint delete: give id ID or the address, for example: mptcpkit endpoint delete id 2")
	}
	if a.idSet && a.id == 0 && !a.addr.IsValid() {
		return usagef("endpoint delete", "endpoint delete: id 0 needs the address: endpoint delete id 0 ADDR")
	}
	s, err := openPM(e, true)
	if err != nil {
		return err
	}
	defer s.Close()
	id := a.id
	if a.idSet && a.id != 0 && a.addr.IsValid() {
		// The kernel deletes by id alone: make sure the id is the address
		// the user means.
		eps, err := s.c.Endpoints()
		if err != nil {
			return pmErr(err)
		}
		if ep, ok := findEndpoint(eps, a.id, netip.Addr{}); ok && ep.Addr != a.addr {
			return fmt.Errorf("endpoint id %d is %s, not %s; nothing deleted (`%s` lists them)", a.id, ep.Addr, a.addr, e.mk("endpoint show"))
		}
	}
	if !a.idSet {
		eps, err := s.c.Endpoints()
		if err != nil {
			return pmErr(err)
		}
		ep, ok := findEndpoint(eps, 0, a.addr)
		if !ok {
			return fmt.Errorf("no endpoint for %s%s; `%s` lists them", a.addr, e.nsWhere(), e.mk("endpoint show"))
		}
		id = ep.ID
	}
	if err := s.c.DeleteEndpoint(id, a.addr); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no endpoint with id %d%s; `%s` lists them", id, e.nsWhere(), e.mk("endpoint show"))
		}
		return pmErr(err)
	}
	return nil
}

func findEndpoint(eps []pm.Endpoint, id uint8, addr netip.Addr) (pm.Endpoint, bool) {
	for _, ep := range eps {
		if (id != 0 && ep.ID == id) || (id == 0 && ep.Addr == addr) {
			return ep, true
		}
	}
	return pm.Endpoint{}, false
}

func endpointShow(e *env, args []string) error {
	w, err := words(e, "endpoint show", endpointShowHelp, args)
	if err != nil {
		return err
	}
	a, err := parseEndpointArgs("show", w)
	if err != nil {
		return err
	}
	s, err := openPM(e, false)
	if err != nil {
		return err
	}
	defer s.Close()
	var eps []pm.Endpoint
	if a.idSet {
		ep, err := s.c.Endpoint(a.id)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no endpoint with id %d%s; `%s` lists them", a.id, e.nsWhere(), e.mk("endpoint show"))
			}
			return pmErr(err)
		}
		eps = []pm.Endpoint{ep}
	} else if eps, err = s.c.Endpoints(); err != nil {
		return pmErr(err)
	}
	return writeEndpoints(e.stdout, eps, s.ifNames(), e.json)
}

func endpointFlush(e *env, args []string) error {
	w, err := words(e, "endpoint flush", endpointFlushHelp, args)
	if err != nil {
		return err
	}
	if len(w) > 0 {
		return usagef("endpoint flush", "endpoint flush: unexpected %q (it takes no arguments)", w[0])
	}
	s, err := openPM(e, true)
	if err != nil {
		return err
	}
	defer s.Close()
	return pmErr(s.c.FlushEndpoints())
}

func endpointChange(e *env, args []string) error {
	w, err := words(e, "endpoint change", endpointChangeHelp, args)
	if err != nil {
		return err
	}
	a, err := parseEndpointArgs("change", w)
	if err != nil {
		return err
	}
	const help = "endpoint change"
	switch {
	case !a.idSet && !a.addr.IsValid():
		return usagef(help, "endpoint change: give id ID or the endpoint's address, for example: mptcpkit endpoint change id 2 backup")
	case a.set|a.clr == 0:
		return usagef(help, "endpoint change: say what to change: backup, nobackup, fullmesh or nofullmesh")
	case a.set&a.clr != 0:
		return usagef(help, "endpoint change: %s and no%s contradict each other; give one", a.set&a.clr, a.set&a.clr)
	}
	s, err := openPM(e, true)
	if err != nil {
		return err
	}
	defer s.Close()
	eps, err := s.c.Endpoints()
	if err != nil {
		return pmErr(err)
	}
	id := a.id
	if !a.idSet {
		id = 0
	}
	cur, ok := findEndpoint(eps, id, a.addr)
	if ok && !a.idSet && a.port != 0 && cur.Port != a.port {
		ok = false
		for _, ep := range eps {
			if ep.Addr == a.addr && ep.Port == a.port {
				cur, ok = ep, true
			}
		}
	}
	if !ok {
		what := fmt.Sprintf("id %d", a.id)
		if !a.idSet {
			what = "for " + a.addr.String()
		}
		return fmt.Errorf("no endpoint %s%s; `%s` lists them", what, e.nsWhere(), e.mk("endpoint show"))
	}
	want := (cur.Flags&(pm.FlagBackup|pm.FlagFullmesh) | a.set) &^ a.clr
	if want&pm.FlagFullmesh != 0 && cur.Flags&pm.FlagSignal != 0 {
		return usagef(help, "endpoint change: endpoint id %d (%s) is a signal endpoint, and fullmesh cannot be combined with signal; add a separate subflow endpoint instead", cur.ID, cur.Addr)
	}
	// Name the endpoint the way the user did, as ip does: by id alone, or
	// by address with the endpoint's port (the kernel compares the port
	// when it looks an endpoint up by address).
	sel := pm.Endpoint{ID: cur.ID}
	if !a.idSet {
		sel = pm.Endpoint{Addr: cur.Addr, Port: cur.Port}
	}
	if err := s.c.ChangeEndpoint(sel, want); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no endpoint with id %d%s; `%s` lists them", cur.ID, e.nsWhere(), e.mk("endpoint show"))
		}
		return pmErr(err)
	}
	return nil
}

// wrapped is an error worded for the command line that still unwraps to
// the error behind it.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }
