package cli

import (
	"fmt"
	"strings"
)

// Command is one node of mptcpkit's command tree: a command (`lab`) or one
// of its verbs (`lab up`). The tree (see tree) is the one place that says
// which commands exist, what they are called and abbreviated to, what
// their help says and what runs them: Run dispatches through it, and the
// top-level help, the completion scripts and the man pages are made from
// it. Each command's file declares its node (benchCommand in bench.go, ...).
type Command struct {
	Name    string
	Aliases []string // other names, matched exactly (endp, ep; list, ls)
	Summary string   // one line: the parent's list, completion, the man page's NAME
	Help    string   // what `mptcpkit ... NAME --help` prints
	// Run runs the command with the arguments after its name. A command
	// with verbs (Sub) may have one too: it then gets every argument that
	// does not start with one of its verbs (`daemon --policy F`, but
	// `daemon status`), and parses verbs without a Run itself (`limits
	// set`: ip's words, see findVerb).
	Run    func(e *env, args []string) error
	Sub    []*Command
	Hidden bool // dispatched, but listed nowhere

	// For commands with verbs and no Run:

	// Abbrev lets a verb be abbreviated to an unambiguous prefix, as ip's
	// matches() does (`endpoint a`, and at the top `e`, `en`, `l`).
	Abbrev bool
	// Default is the verb run when none is named (endpoint: show); a help
	// word anywhere then asks for this command's help.
	Default string
	// NoVerb is the usage error when no verb is given (the help is printed
	// first); VerbHint what an unknown verb's error lists.
	NoVerb, VerbHint string
	// Check runs before a verb is looked up (not for help): lab refuses a
	// global -n there.
	Check func(e *env, verb string) error

	// IPStyle marks the commands that mirror `ip mptcp` (endpoint, limits,
	// monitor): they exit as ip does (255 for a mistake on the command
	// line, 2 when the kernel refuses, 1 when MPTCP is missing; see
	// ipExit), take -j before their verb too, and win an ambiguous
	// abbreviation at the top (`l` is limits, not lab).
	IPStyle bool
	// Quick marks a command that never looks at its context: Run does not
	// register SIGINT/SIGTERM for it (os/signal's goroutine and locked
	// thread cost every call ~2.5 ms; see newSignalContext), so SIGINT ends
	// it the default way.
	Quick bool
}

// visible returns the commands of cs that are not hidden.
func visible(cs []*Command) []*Command {
	var out []*Command
	for _, c := range cs {
		if !c.Hidden {
			out = append(out, c)
		}
	}
	return out
}

// find looks word up among c's verbs: an exact name or alias, else (when c
// allows abbreviations) the one verb whose name it abbreviates. Among
// several, the one ip-style verb wins, as in `ip mptcp` (e, en: endpoint;
// l: limits; m: monitor). With no single match it returns the verbs word
// abbreviates (none: unknown; several: ambiguous).
func (c *Command) find(word string) (*Command, []*Command) {
	var cands []*Command
	for _, s := range c.Sub {
		if s.Name == word {
			return s, nil
		}
		for _, a := range s.Aliases {
			if a == word {
				return s, nil
			}
		}
		if c.Abbrev && !s.Hidden && matches(word, s.Name) {
			cands = append(cands, s)
		}
	}
	if len(cands) > 1 {
		var ip []*Command
		for _, s := range cands {
			if s.IPStyle {
				ip = append(ip, s)
			}
		}
		if len(ip) == 1 {
			return ip[0], nil
		}
	}
	if len(cands) == 1 {
		return cands[0], nil
	}
	return nil, cands
}

func names(cs []*Command) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// lookupCommand finds a top-level command by name, alias or unambiguous
// prefix.
func lookupCommand(name string) (*Command, error) {
	c, cands := tree().find(name)
	if name == "" {
		c, cands = nil, visible(tree().Sub) // "" abbreviates every command
	}
	switch {
	case c != nil:
		return c, nil
	case len(cands) == 0:
		return nil, usagef("", "unknown command %q; `mptcpkit --help` lists the commands", name)
	default:
		return nil, usagef("", "command %q is ambiguous: %s", name, strings.Join(names(cands), ", "))
	}
}

// findVerb looks up an ip-style verb (abbreviations allowed) among c's
// verbs, with ip-style errors naming cmd.
func findVerb(cmd string, c *Command, word string) (*Command, error) {
	v, cands := c.find(word)
	switch {
	case v != nil:
		return v, nil
	case len(cands) == 0:
		return nil, usagef(cmd, "%s: unknown command %q; use one of: %s", cmd, word, strings.Join(names(visible(c.Sub)), ", "))
	default:
		return nil, usagef(cmd, "%s: %q is ambiguous: %s", cmd, word, strings.Join(names(cands), ", "))
	}
}

// run runs c (named path, e.g. "lab up") with the arguments after its
// name: a command without verbs runs; one with verbs finds the verb (or
// answers help, or says what is missing) and runs that.
func (e *env) run(c *Command, path string, args []string) error {
	if len(c.Sub) == 0 {
		return c.Run(e, args)
	}
	if c.Run != nil {
		if len(args) > 0 {
			if s, _ := c.find(args[0]); s != nil && s.Run != nil {
				return e.run(s, path+" "+s.Name, args[1:])
			}
		}
		return c.Run(e, args)
	}
	if c.IPStyle {
		args = leadingJSON(e, args) // `endpoint -j show`
	}
	if len(args) == 0 {
		if c.Default != "" {
			return e.runVerb(c, path, c.Default, nil)
		}
		fmt.Fprint(e.stdout, c.Help)
		return usagef(path, "%s", c.NoVerb)
	}
	w := args[0]
	if c.Default != "" && (strings.HasPrefix(w, "-") || w == "help") {
		// No verb named: help anywhere is this command's, anything else
		// goes to the default verb.
		if isHelp(args) {
			fmt.Fprint(e.stdout, c.Help)
			return nil
		}
		return e.runVerb(c, path, c.Default, args)
	}
	if c.Default == "" && isHelpWord(w) {
		fmt.Fprint(e.stdout, c.Help)
		return nil
	}
	if c.Check != nil {
		if err := c.Check(e, w); err != nil {
			return err
		}
	}
	if c.Abbrev {
		s, err := findVerb(path, c, w)
		if err != nil {
			return err
		}
		return e.run(s, path+" "+s.Name, args[1:])
	}
	if s, _ := c.find(w); s != nil {
		return e.run(s, path+" "+s.Name, args[1:])
	}
	return unknownVerb(path, w, c.VerbHint)
}

// runVerb runs c's verb named name.
func (e *env) runVerb(c *Command, path, name string, args []string) error {
	s, _ := c.find(name)
	return e.run(s, path+" "+s.Name, args)
}

// isHelpFlag reports whether a is an option asking for help.
func isHelpFlag(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// isHelpWord reports whether a asks for help where a verb or ip's words
// are expected ("help" too).
func isHelpWord(a string) bool { return isHelpFlag(a) || a == "help" }

// isHelp reports whether args ask for help (before any "--").
func isHelp(args []string) bool {
	for _, a := range args {
		if isHelpWord(a) {
			return true
		}
		if a == "--" {
			return false
		}
	}
	return false
}

// helpText is `mptcpkit --help`: the commands' list comes from the tree.
func helpText() string {
	var b strings.Builder
	for _, c := range visible(tree().Sub) {
		fmt.Fprintf(&b, "  %-9s %s\n", c.Name, c.Summary)
	}
	return fmt.Sprintf(topHelp, b.String())
}
