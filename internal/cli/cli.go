package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"

	"github.com/mptcpkit/mptcpkit/netns"
)

// Main runs the command line args (without the program name) with the
// process's standard streams and returns the exit status. SIGINT and SIGTERM
// cancel the context every command runs under (registered when a command
// first uses it, or before it runs unless it is Quick: newSignalContext).
// A process mptcpkit started of itself (the `run` shim and keeper, the lab's
// delay line: see entryPoints) runs its entry point instead of a command.
func Main(args []string) int {
	ctx, stop := newSignalContext(os.Interrupt, syscall.SIGTERM)
	defer stop()
	if ep, rest, ok := reexecEntry(args); ok {
		return ep.main(rest)
	}
	return ExitCode(Run(ctx, args, os.Stdout, os.Stderr), os.Stderr)
}

// ExitCode prints err (if any) to stderr the way mptcpkit does and returns the
// exit status for it: 0 for nil, 2 for usage errors (or the UsageError's
// own Code), the child's status for an ExitError, the code of a CodedError,
// 1 otherwise.
func ExitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "mptcpkit: %s\n", ue.Msg)
		if ue.Help != "" {
			fmt.Fprintf(stderr, "Try 'mptcpkit %s --help'.\n", ue.Help)
		}
		if ue.Code != 0 {
			return ue.Code
		}
		return 2
	}
	fmt.Fprintf(stderr, "mptcpkit: %v\n", err)
	var ce *CodedError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 1
}

// UsageError is a mistake on the command line. Help names the command whose
// --help explains the right usage. Code is the exit status (0: the default,
// 2; the ip-mptcp verbs use 255 as ip does).
type UsageError struct {
	Msg  string
	Help string
	Code int
}

// CodedError is an error printed like any other that exits with Code
// instead of 1 (the ip-mptcp verbs exit 2 when the kernel refuses, as ip
// does).
type CodedError struct {
	Err  error
	Code int
}

func (e *CodedError) Error() string { return e.Err.Error() }
func (e *CodedError) Unwrap() error { return e.Err }

func (e *UsageError) Error() string { return e.Msg }

func usagef(help, format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...), Help: help}
}

// unknownVerb refuses what a command with verbs got instead of a verb: an
// option is refused in the one style of every command (`CMD: unknown
// option "--bogus"`), anything else as an unknown verb, listing the verbs.
func unknownVerb(cmd, got, verbs string) error {
	if strings.HasPrefix(got, "-") && len(got) > 1 {
		return usagef(cmd, "%s: unknown option %q", cmd, got)
	}
	return usagef(cmd, "%s: unknown verb %q (%s)", cmd, got, verbs)
}

// ExitError carries an exit status without a message (e.g. the status of a
// program run by `mptcpkit run`).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// env is what every subcommand gets: the global options and the streams.
type env struct {
	ctx     context.Context
	stdout  io.Writer
	stderr  io.Writer
	netns   string // -n NAME / --netns NAME: act inside this namespace
	json    bool   // -j / --json
	verbose bool   // -v / --verbose
	stamp   int    // -t: 1, a Timestamp line per event; -ts: 2, a short prefix (monitor, like ip's)
	log     *slog.Logger
}

// openNetNS opens the namespace named with -n, or returns nil when none was
// named (act in the current namespace).
func (e *env) openNetNS() (*netns.NetNS, error) {
	if e.netns == "" {
		return nil, nil
	}
	return netns.Open(e.netns)
}

// Run runs one mptcpkit command line (args without the program name).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		a := args[0]
		args = args[1:]
		switch {
		case a == "-n" || a == "--netns" || a == "-netns":
			if len(args) == 0 {
				return usagef("", "%s needs a namespace name", a)
			}
			e.netns, args = args[0], args[1:]
		case strings.HasPrefix(a, "--netns="):
			e.netns = strings.TrimPrefix(a, "--netns=")
		case a == "-j" || a == "--json" || a == "-json":
			e.json = true
		case a == "-v" || a == "--verbose":
			e.verbose = true
		case a == "-t" || a == "-timestamp" || a == "--timestamp":
			e.stamp = stampLong // ip's -t (used by monitor)
		case a == "-ts" || a == "-tshort" || a == "--timestamp-short":
			e.stamp = stampShort // ip's -ts (used by monitor)
		case isHelpFlag(a):
			fmt.Fprint(stdout, helpText())
			return nil
		case a == "-V" || a == "--version":
			return cmdVersion(e, nil)
		case a == "--":
			goto done
		default:
			return usagef("", "unknown global option %q (global options: -n NAME, -j, -v, -h)", a)
		}
	}
done:
	level := slog.LevelInfo
	if e.verbose {
		level = slog.LevelDebug
	}
	// -j makes the logs JSON too (one object per line on stderr), also
	// when -j comes after the command name.
	opts := &slog.HandlerOptions{Level: level}
	e.log = slog.New(&logHandler{e: e, text: slog.NewTextHandler(stderr, opts), json: slog.NewJSONHandler(stderr, opts)})
	if e.netns != "" {
		// -n lab:NAME:client|server names a lab's namespace (resolveNetNS).
		var err error
		if e.netns, err = resolveNetNS(e.netns); err != nil {
			return usagef("", "-n: %s", advice(err, err.Error()))
		}
		// Fail early and clearly on an unknown namespace.
		ns, err := netns.Open(e.netns)
		if err != nil {
			return e.friendly(args, err)
		}
		ns.Close()
	}
	if len(args) == 0 {
		fmt.Fprint(stdout, helpText())
		return usagef("", "no command given")
	}
	name := args[0]
	if name == "help" {
		if len(args) > 1 {
			return Run(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, helpText())
		return nil
	}
	c, err := lookupCommand(name)
	if err != nil {
		return err
	}
	if !c.Quick {
		registerSignals(ctx)
	}
	err = e.run(c, c.Name, args[1:])
	if c.IPStyle {
		err = ipExit(err)
	}
	return e.friendly(args, err)
}

// newFlags returns a FlagSet for a subcommand that prints help (usage text
// with examples) on -h/--help and accepts -j/--json after the command too.
// Parse errors come back as UsageError naming the command.
func newFlags(e *env, cmd, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() { fmt.Fprint(e.stdout, help) }
	fs.BoolVar(&e.json, "j", e.json, "JSON output")
	fs.BoolVar(&e.json, "json", e.json, "JSON output")
	return fs
}

// parseFlags parses args with fs; --help prints the help (fs.Usage) and
// returns errHelp, which the caller returns as is
// (Run treats it as success).
func parseFlags(fs *flag.FlagSet, cmd string, args []string) error {
	// The flag package calls fs.Usage on every parse error too; print the
	// help only when it was asked for, so a mistyped flag gets one error
	// line on stderr instead of the whole help on stdout.
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		usage()
		return errHelp
	}
	if err != nil {
		return usagef(cmd, "%s: %s", cmd, flagErrText(err, args))
	}
	return nil
}

// flagErrText words the flag package's errors like the rest of mptcpkit:
// `unknown option "--bogus"` (as the user spelled it), `option --port
// needs a value`.
func flagErrText(err error, args []string) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		spelled := "--" + name
		for _, a := range args {
			if a == "--" {
				break
			}
			if n := strings.TrimLeft(a, "-"); n == name || strings.HasPrefix(n, name+"=") {
				spelled, _, _ = strings.Cut(a, "=")
				break
			}
		}
		return fmt.Sprintf("unknown option %q", spelled)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		dash := "--"
		if len(name) == 1 {
			dash = "-"
		}
		return fmt.Sprintf("option %s%s needs a value", dash, name)
	}
	if rest, ok := strings.CutPrefix(msg, "invalid value "); ok {
		// invalid value "x" for flag -port: parse error
		if v, f, ok := strings.Cut(rest, " for flag -"); ok {
			f, why, _ := strings.Cut(f, ": ")
			dash := "--"
			if len(f) == 1 {
				dash = "-"
			}
			return fmt.Sprintf("option %s%s: invalid value %s (%s)", dash, f, v, why)
		}
	}
	return msg
}

// errHelp tells Run that help was printed: exit status 0.
var errHelp = &ExitError{Code: 0}
