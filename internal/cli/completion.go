package cli

import (
	"bytes"
	"fmt"
	"io"

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
	cmds := docCommands(e)
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

// docCommands collects every command's --help, and its verbs' --help, as
// the completion scripts and man pages are made from them.
func docCommands(e *env) []docgen.Command {
	help := func(args ...string) (string, bool) {
		var out bytes.Buffer
		err := Run(e.ctx, append(args, "--help"), &out, io.Discard)
		return out.String(), ExitCode(err, io.Discard) == 0 && bytes.Contains(out.Bytes(), []byte("Usage"))
	}
	var cmds []docgen.Command
	for _, c := range commands() {
		h, _ := help(c.name)
		dc := docgen.Command{Name: c.name, Summary: c.summary, Help: h, VerbHelp: map[string]string{}}
		for _, v := range docgen.Verbs(c.name, h) {
			if vh, ok := help(c.name, v); ok && vh != h {
				dc.VerbHelp[v] = vh
			}
		}
		cmds = append(cmds, dc)
	}
	return cmds
}
