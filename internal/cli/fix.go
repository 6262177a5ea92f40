package cli

import "strings"

// sysctlFix is the command that sets setting (KEY=VALUE) where the command
// ran: inside -n NETNS when one was given, not host-wide.
func (e *env) sysctlFix(setting string) string {
	if e.netns != "" {
		return "ip netns exec " + e.netns + " sysctl -w " + setting
	}
	return "sysctl -w " + setting
}

// nsFixes rewrites the host-wide "sysctl -w" fixes in a message from a
// library (which does not know the namespace name) into ones for -n NETNS.
func (e *env) nsFixes(msg string) string {
	if e.netns == "" || strings.Contains(msg, "ip netns exec") {
		return msg
	}
	return strings.ReplaceAll(msg, "sysctl -w ", "ip netns exec "+e.netns+" sysctl -w ")
}
