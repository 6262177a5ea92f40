package cli

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"strings"
)

// cliError is an error reworded for the user; Unwrap keeps the cause for
// errors.Is/As.
type cliError struct {
	msg string
	err error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

// isSubcommandWord reports whether s is a verb-like word (^[a-z]+$). A byte
// loop, not a package-level regexp: compiling one at init costs every
// command's start-up (see TestNoInitTimeRegexp).
func isSubcommandWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return s != ""
}

// friendly rewords what a command returned, in one style for every
// command: a permission error (EPERM, EACCES) says the command needs root
// (CAP_NET_ADMIN) instead of the raw errno text; a clear message loses the
// trailing ": file does not exist" that fs.ErrNotExist adds; host-wide
// "sysctl -w" fixes become "ip netns exec NETNS sysctl -w" under -n; a
// library error gets the mptcpkit command that helps (advice).
// Usage errors, exit statuses and messages that already name the
// privilege they need are left alone.
func (e *env) friendly(args []string, err error) error {
	if err == nil {
		return nil
	}
	var ue *UsageError
	var ee *ExitError
	if errors.As(err, &ue) || errors.As(err, &ee) {
		return err
	}
	msg := err.Error()
	orig := msg
	if errors.Is(err, fs.ErrPermission) && !strings.Contains(msg, "CAP_") && !strings.Contains(msg, "root") && !userFile(err) {
		cmd := "this command"
		if len(args) > 0 {
			cmd = args[0]
			if len(args) > 1 && isSubcommandWord(args[1]) {
				cmd += " " + args[1]
			}
		}
		detail := msg
		for _, noise := range []string{": operation not permitted", ": permission denied"} {
			detail = strings.ReplaceAll(detail, noise, "")
		}
		msg = cmd + " needs root (CAP_NET_ADMIN): run it as root or with sudo (" + detail + ")"
	}
	if errors.Is(err, fs.ErrNotExist) && strings.HasSuffix(msg, ": "+fs.ErrNotExist.Error()) {
		msg = strings.TrimSuffix(msg, ": "+fs.ErrNotExist.Error())
	}
	msg = e.nsFixes(advice(err, msg))
	if msg == orig {
		return err
	}
	return &cliError{msg: msg, err: err}
}

// userFile reports whether err is about a file of the user's (a key, a
// config file), where "permission denied" is about the file's mode, not
// about root: only paths under /run, /proc and /sys are the system's.
func userFile(err error) bool {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return false
	}
	for _, sys := range []string{"/run/", "/proc/", "/sys/", "/var/run/"} {
		if strings.HasPrefix(pe.Path, sys) {
			return false
		}
	}
	return true
}

// logHandler writes text logs, or JSON logs once -j is set (which may come
// after the command name, when the logger already exists).
type logHandler struct {
	e          *env
	text, json slog.Handler
}

func (h *logHandler) pick() slog.Handler {
	if h.e.json {
		return h.json
	}
	return h.text
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.pick().Enabled(ctx, l)
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.pick().Handle(ctx, r)
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logHandler{e: h.e, text: h.text.WithAttrs(as), json: h.json.WithAttrs(as)}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{e: h.e, text: h.text.WithGroup(name), json: h.json.WithGroup(name)}
}
