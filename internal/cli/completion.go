//go:build !mptcpkit_slim

package cli

import (
	"fmt"

	"github.com/mptcpkit/mptcpkit/internal/docgen"
)

const completionHelp = `Usage: mptcpkit completion bash|zsh|fish

Prints a shell completion script for mptcpkit's commands, their verbs and
flags, generated from the same --help texts the commands print.

Install (the .deb/.rpm packages do this):
  bash:  mptcpkit completion bash > /usr/share/bash-completion/completions/mptcpkit
  zsh:   mptcpkit completion zsh > /usr/share/zsh/vendor-completions/_mptcpkit
  fish:  mptcpkit completion fish > /usr/share/fish/vendor_completions.d/mptcpkit.fish

Examples:
  source <(mptcpkit completion bash)
  mptcpkit completion fish | source
`

func completionCommand() *Command {
	return &Command{Name: "completion", Summary: "print a bash, zsh or fish completion script", Help: completionHelp, Run: cmdCompletion, Quick: true}
}

func cmdCompletion(e *env, args []string) error {
	fs := newFlags(e, "completion", completionHelp)
	if err := parseFlags(fs, "completion", args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usagef("completion", "completion: unexpected argument %q (it takes one shell: bash, zsh or fish)", fs.Arg(1))
	}
	if fs.NArg() != 1 {
		return usagef("completion", "completion needs one shell: bash, zsh or fish")
	}
	cmds := docCommands()
	switch fs.Arg(0) {
	case "bash":
		fmt.Fprint(e.stdout, docgen.Bash("mptcpkit", cmds))
	case "zsh":
		fmt.Fprint(e.stdout, docgen.Zsh("mptcpkit", cmds))
	case "fish":
		fmt.Fprint(e.stdout, docgen.Fish("mptcpkit", cmds))
	default:
		return usagef("completion", "unknown shell %q: want bash, zsh or fish", fs.Arg(0))
	}
	return nil
}

// docCommands is the command tree as the completion scripts and man pages
// are made from it: every listed command with its summary and help, and
// the help of each of its verbs that has its own.
func docCommands() []docgen.Command {
	var cmds []docgen.Command
	for _, c := range visible(tree().Sub) {
		dc := docgen.Command{Name: c.Name, Summary: c.Summary, Help: c.Help, VerbHelp: map[string]string{}}
		for _, v := range visible(c.Sub) {
			if v.Help != "" && v.Help != c.Help {
				dc.VerbHelp[v.Name] = v.Help
			}
		}
		cmds = append(cmds, dc)
	}
	return cmds
}
