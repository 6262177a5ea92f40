package cli

import (
	"fmt"

	"github.com/mptcpkit/mptcpkit/pm"
)

const limitsHelp = `Usage:
  mptcpkit [-n NETNS] [-j] limits [show]
  mptcpkit [-n NETNS] limits set [subflows N] [add_addr_accepted N]

Show or set the in-kernel path manager's per-connection limits, like
` + "`ip mptcp limits`" + ` (same output bytes). Only the limits given to ` + "`set`" + ` are
changed; each is 0 to 8, decimal or, as ip reads numbers, 0x hex or 0 octal.
` + "`limits set`" + ` alone changes nothing. Also: l (limits), sub, add.

  subflows N            extra subflows each connection may have (also caps the
                        subflows peers may open to this host)
  add_addr_accepted N   addresses announced by a peer (ADD_ADDR) that each
                        connection accepts and opens subflows to

Options:
  -j, --json   print {"add_addr_accepted":N,"subflows":N}

Exit status (as ip's): 0 done, 255 a mistake on the command line, 2 the
kernel refused (e.g. a limit above 8), 1 MPTCP missing.

Examples:
  mptcpkit limits show
  mptcpkit limits set subflows 4 add_addr_accepted 4
  mptcpkit -n lab:l1:client -j limits
`

// limitsCommand is `mptcpkit limits`: its verbs are ip's words, which
// limits parses itself (one help for all, help and -j anywhere).
func limitsCommand() *Command {
	return &Command{
		Name:    "limits",
		Quick:   true,
		Summary: "show or set the in-kernel path manager's limits (like ip mptcp limits)",
		Help:    limitsHelp,
		Run:     limits,
		IPStyle: true,
		Abbrev:  true,
		Sub:     []*Command{{Name: "show", Aliases: []string{"list", "ls"}}, {Name: "set"}},
	}
}

func limits(e *env, args []string) error {
	const cmd = "limits"
	w, err := words(e, cmd, limitsHelp, leadingJSON(e, args))
	if err != nil {
		return err
	}
	v := "show"
	if len(w) > 0 {
		c, err := findVerb(cmd, limitsCommand(), w[0])
		if err != nil {
			return err
		}
		v, w = c.Name, w[1:]
	}
	if v == "show" {
		if len(w) > 0 {
			return usagef(cmd, "limits show: unexpected %q (it takes no arguments)", w[0])
		}
		s, err := openPM(e, false)
		if err != nil {
			return err
		}
		defer s.Close()
		l, err := s.c.Limits()
		if err != nil {
			return pmErr(err)
		}
		return writeLimits(e.stdout, l, e.json)
	}

	u, err := parseLimitsSet(w)
	if err != nil {
		return err
	}
	if u.Subflows == nil && u.AddAddrAccepted == nil && !e.json {
		// Nothing to set: a no-op, as in ip (which sends an empty request).
		return nil
	}
	s, err := openPM(e, true)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.c.SetLimits(u); err != nil {
		return pmErr(err)
	}
	if e.json {
		l, err := s.c.Limits()
		if err != nil {
			return pmErr(err)
		}
		return writeLimits(e.stdout, l, true)
	}
	return nil
}

// parseLimitsSet parses `[subflows N] [add_addr_accepted N]`.
func parseLimitsSet(w []string) (pm.LimitsUpdate, error) {
	const cmd = "limits"
	var u pm.LimitsUpdate
	for len(w) > 0 {
		var name string
		var dst **uint32
		switch {
		case matches(w[0], "subflows"):
			name, dst = "subflows", &u.Subflows
		case matches(w[0], "add_addr_accepted"):
			name, dst = "add_addr_accepted", &u.AddAddrAccepted
		default:
			return u, usagef(cmd, "limits set: unknown limit %q; the limits are subflows and add_addr_accepted", w[0])
		}
		if len(w) < 2 {
			return u, usagef(cmd, "limits set: %s needs a number from 0 to %d", name, pm.MaxLimit)
		}
		if *dst != nil {
			return u, usagef(cmd, "limits set: %s is given twice", name)
		}
		n, err := parseCNumber(w[1])
		if err != nil || n > 1<<32-1 {
			return u, usagef(cmd, "limits set: %s %q is not a number from 0 to %d", name, w[1], pm.MaxLimit)
		}
		if n > pm.MaxLimit {
			// A number the kernel refuses: exit as for its refusal.
			return u, fmt.Errorf("limits set: %s %d is above the kernel's maximum of %d; use a value from 0 to %d", name, n, pm.MaxLimit, pm.MaxLimit)
		}
		v := uint32(n)
		*dst = &v
		w = w[2:]
	}
	return u, nil
}
