//go:build !mptcpkit_slim

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/mptcpkit/mptcpkit/doctor"
)

const checkHelp = `Usage:
  mptcpkit [-n NETNS] [-j] check

Diagnose MPTCP on this host (or inside network namespace NETNS) and say
what to fix:
  - can the kernel create MPTCP sockets, and if not why: EINVAL (kernel
    before 5.6), EPROTONOSUPPORT (built without MPTCP), ENOPROTOOPT
    (disabled: net.mptcp.enabled=0)
  - every net.mptcp.* sysctl, and which path manager is active
  - the path manager's limits against its endpoints (e.g. three subflow
    endpoints but a subflow limit of 2)
  - endpoints whose interface is down or without carrier, or whose address
    has gone, and endpoints without signal or subflow (they do nothing)
  - other programs managing endpoints: NetworkManager with MPTCP, mptcpd
  - BPF/BTF support for forcing programs onto MPTCP (mptcpkit force)
Each finding is ok, info, warn or error, with the command that fixes it.
Exit status 1 when MPTCP is unusable (any error), 0 otherwise.

Options:
  -j, --json   print the report as JSON

Examples:
  mptcpkit check
  mptcpkit -n lab:l1:client check
  mptcpkit -j check | jq '.findings[] | select(.severity != "ok")'
`

func checkCommand() *Command {
	return &Command{Name: "check", Summary: "diagnose MPTCP support and configuration on this host", Help: checkHelp, Run: cmdCheck}
}

func cmdCheck(e *env, args []string) error {
	w, err := words(e, "check", checkHelp, args)
	if err != nil {
		return err
	}
	if len(w) > 0 {
		return usagef("check", "check: unexpected %q (it takes no arguments)", w[0])
	}
	ns, err := e.openNetNS()
	if err != nil {
		return err
	}
	if ns != nil {
		defer ns.Close()
	}
	r := doctor.Check(e.ctx, doctor.System(ns), &doctor.Options{NetNS: e.netns})
	if err := writeReport(e.stdout, r, e.json); err != nil {
		return err
	}
	if r.Worst() >= doctor.Error {
		return &ExitError{Code: 1}
	}
	return nil
}

// writeReport prints a doctor report for people, or as JSON.
func writeReport(w io.Writer, r *doctor.Report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	}
	var b strings.Builder
	where := "this host"
	if r.NetNS != "" {
		where = "network namespace " + r.NetNS
	}
	fmt.Fprintf(&b, "MPTCP check of %s (Linux %s)\n\n", where, r.Kernel)
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%-5s %-12s %s\n", f.Severity, f.Check, f.Summary)
		if f.Fix != "" {
			fmt.Fprintf(&b, "%-18s fix: %s\n", "", f.Fix)
		}
	}
	b.WriteByte('\n')
	warns := r.Count(doctor.Warn)
	switch {
	case r.Worst() >= doctor.Error:
		fmt.Fprintf(&b, "MPTCP is NOT usable here: %d error(s), %d warning(s). Fix the errors above first.\n", r.Count(doctor.Error), warns)
	case warns > 0:
		fmt.Fprintf(&b, "MPTCP is usable, with %d warning(s) above.\n", warns)
	default:
		b.WriteString("MPTCP is usable; nothing to fix.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
