//go:build !mptcpkit_slim

package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mptcpkit/mptcpkit/force/systemd"
)

const enableHelp = `Usage: mptcpkit enable [--root DIR] UNIT

Make the systemd service UNIT start under mptcpkit run, so its TCP sockets
(and those of every process it starts) are Multipath TCP. Writes the drop-in
/etc/systemd/system/UNIT.d/mptcpkit.conf, which clears ExecStart and sets it
to "mptcpkit run -- <the original ExecStart>"; the vendor unit file is never
edited. Runs systemctl daemon-reload when systemd is running; restart the
unit to apply. Undo with mptcpkit disable UNIT.

Type=forking services become Type=exec (mptcpkit run waits for the daemon);
Type=notify services get NotifyAccess=all.

Options:
  --root DIR   act on the unit tree under DIR instead of / (for tests and
               images); no daemon-reload then

Examples:
  mptcpkit enable redis-server
  systemctl restart redis-server
  mptcpkit enable --root /srv/image nginx.service
`

const disableHelp = `Usage: mptcpkit disable [--root DIR] UNIT

Undo mptcpkit enable UNIT: remove /etc/systemd/system/UNIT.d/mptcpkit.conf
and run systemctl daemon-reload when systemd is running; restart the unit to
apply.

Options:
  --root DIR   act on the unit tree under DIR instead of /

Examples:
  mptcpkit disable redis-server
  systemctl restart redis-server
`

func unitArgs(e *env, cmd, help string, args []string) (root, unit string, err error) {
	fs := newFlags(e, cmd, help)
	r := fs.String("root", "/", "root directory")
	if err := parseFlags(fs, cmd, args); err != nil {
		return "", "", err
	}
	if fs.NArg() != 1 {
		return "", "", usagef(cmd, "%s needs exactly one unit name, e.g. mptcpkit %s redis-server", cmd, cmd)
	}
	root, err = filepath.Abs(*r)
	if err != nil {
		return "", "", err
	}
	return root, fs.Arg(0), nil
}

func enableCommand() *Command {
	return &Command{Name: "enable", Summary: "make a systemd unit start under `mptcpkit run`", Help: enableHelp, Run: cmdEnable}
}

// cmdEnable installs the drop-in that starts UNIT under `mptcpkit run`.
func cmdEnable(e *env, args []string) error {
	root, unit, err := unitArgs(e, "enable", enableHelp, args)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the mptcpkit executable: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return err
	}
	path, u, err := systemd.Enable(root, unit, exe)
	if err != nil {
		return fmt.Errorf("enable: %w", err)
	}
	fmt.Fprintf(e.stdout, "wrote %s: %s now starts under %s run\n", path, u.Name, exe)
	return reload(e, root, u.Name)
}

func disableCommand() *Command {
	return &Command{Name: "disable", Summary: "undo `mptcpkit enable`", Help: disableHelp, Run: cmdDisable}
}

// cmdDisable removes the drop-in written by cmdEnable.
func cmdDisable(e *env, args []string) error {
	root, unit, err := unitArgs(e, "disable", disableHelp, args)
	if err != nil {
		return err
	}
	path, err := systemd.Disable(root, unit)
	if err != nil {
		return fmt.Errorf("disable: %w", err)
	}
	name, _ := systemd.Normalize(unit)
	fmt.Fprintf(e.stdout, "removed %s\n", path)
	return reload(e, root, name)
}

func reload(e *env, root, name string) error {
	if !systemd.Running(root) {
		if root == "/" {
			fmt.Fprintln(e.stdout, "systemd is not running here: nothing to reload")
		}
		return nil
	}
	if err := systemd.Reload(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "reloaded systemd; apply with: systemctl restart %s\n", name)
	return nil
}
