//go:build !mptcpkit_slim

package cli

import (
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mptcpkit/mptcpkit/internal/buildinfo"
	"github.com/mptcpkit/mptcpkit/internal/docgen"
)

const manHelp = `Usage: mptcpkit man [COMMAND]
       mptcpkit man --dir DIR [--gzip]

Prints the man page of mptcpkit (or of COMMAND) in roff, generated from the
same text --help prints; with --dir, writes every page (mptcpkit.1 and
mptcpkit-COMMAND.1 for each command) into DIR.

Options:
  --dir DIR   write all pages into DIR (made if missing)
  --gzip      with --dir: write NAME.1.gz, as distributions install them

Examples:
  mptcpkit man lab | man -l -
  mptcpkit man --dir /usr/local/share/man/man1 && mandb -q
`

func manCommand() *Command {
	return &Command{Name: "man", Summary: "print or write the man pages (from the --help texts)", Help: manHelp, Run: cmdMan, Quick: true}
}

func cmdMan(e *env, args []string) error {
	fs := newFlags(e, "man", manHelp)
	dir := fs.String("dir", "", "output directory")
	gz := fs.Bool("gzip", false, "gzip the pages")
	if err := parseFlags(fs, "man", args); err != nil {
		return err
	}
	if fs.NArg() > 1 || (*dir != "" && fs.NArg() > 0) {
		return usagef("man", "man takes one COMMAND, or --dir DIR alone")
	}
	pages := docgen.ManPages("mptcpkit", buildinfo.Read().Version, helpText(), docCommands())
	if *dir == "" {
		want := "mptcpkit.1"
		if fs.NArg() == 1 {
			c, err := lookupCommand(fs.Arg(0))
			if err != nil {
				return err
			}
			want = "mptcpkit-" + c.Name + ".1"
		}
		for _, p := range pages {
			if p.File == want {
				fmt.Fprint(e.stdout, p.Roff)
			}
		}
		return nil
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	for _, p := range pages {
		if err := writeMan(filepath.Join(*dir, p.File), p.Roff, *gz); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "%d man pages written to %s\n", len(pages), *dir)
	return nil
}

func writeMan(path, roff string, gz bool) error {
	if !gz {
		return os.WriteFile(path, []byte(roff), 0o644)
	}
	f, err := os.Create(path + ".gz")
	if err != nil {
		return err
	}
	w := gzip.NewWriter(f)
	if _, err := w.Write([]byte(roff)); err != nil {
		f.Close()
		return err
	}
	if err := w.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
