//go:build !mptcpkit_slim

package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mptcpkit/mptcpkit/bench"
	"github.com/mptcpkit/mptcpkit/force"
	"github.com/mptcpkit/mptcpkit/lab"
)

// advice rewrites msg, the text of err, so that the sentences of library
// errors name the mptcpkit command that helps: libraries say what is wrong
// and name no command (they do not know the CLI); the CLI says what to
// type. Each sentence is replaced where it stands, so the context the
// error was wrapped in stays.
func advice(err error, msg string) string {
	replace := func(lib, cli string) { msg = strings.Replace(msg, lib, cli, 1) }
	var refused *bench.RefusedError
	if errors.As(err, &refused) {
		replace(refused.Error(), fmt.Sprintf("connection refused: is `mptcpkit bench server` running on %s?", refused.Addr))
	}
	var exists *lab.ExistsError
	if errors.As(err, &exists) {
		replace(exists.Error(), fmt.Sprintf("%s; remove it with `mptcpkit lab down %s` or pick another --name", exists, exists.Name))
	}
	var notFound *lab.NotFoundError
	if errors.As(err, &notFound) {
		where := ""
		if notFound.Path != "" {
			where = "no " + notFound.Path + "; "
		}
		replace(notFound.Error(), fmt.Sprintf("no lab %q (%s`mptcpkit lab show` lists the labs, `mptcpkit lab up --name %s` makes it)", notFound.Name, where, notFound.Name))
	}
	var damaged *lab.DamagedError
	if errors.As(err, &damaged) {
		replace(damaged.Error(), fmt.Sprintf("%s; remove the lab with `mptcpkit lab down %s`", damaged, damaged.Name))
	}
	var noDest *lab.NoDestError
	if errors.As(err, &noDest) {
		replace(noDest.Error(), fmt.Sprintf("%s (make it with `mptcpkit lab up --name %s --dest`)", noDest, noDest.Name))
	}
	return adviceText(msg)
}

// adviceText rewrites the library sentinels' sentences in text that is no
// longer an error (force.Result.Reason, for one).
func adviceText(text string) string {
	return sentinelAdvice.Replace(text)
}

var sentinelAdvice = strings.NewReplacer(
	bench.ErrNotBenchServer.Error(), "does not answer like `mptcpkit bench server`",
	force.ErrRefused.Error(), "for programs you start yourself, use `mptcpkit run -- CMD` instead (seccomp, no BPF needed)",
	force.ErrCgroupHidden.Error(), "under `ip netns exec` /sys is remounted without it: use `mptcpkit -n NETNS run` instead",
	lab.ErrNetNSRef.Error(), "write lab:NAME:client or lab:NAME:server (or lab:NAME:dest for a lab made with --dest; NAME as in `mptcpkit lab show`)",
)
