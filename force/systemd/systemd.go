package systemd

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// UnitDirs is the system unit search path, highest priority first.
var UnitDirs = []string{
	"/etc/systemd/system",
	"/run/systemd/system",
	"/usr/local/lib/systemd/system",
	"/usr/lib/systemd/system",
	"/lib/systemd/system",
}

// DropInName is the name of the drop-in this package writes.
const DropInName = "mptcpkit.conf"

// ErrUnknownUnit is wrapped when no unit file is found.
var ErrUnknownUnit = errors.New("unknown unit")

// ErrNotEnabled is wrapped by Disable when there is no drop-in to remove.
var ErrNotEnabled = errors.New("not enabled")

// Unit is what Read found out about a unit.
type Unit struct {
	Name      string   // e.g. redis-server.service
	Path      string   // the unit file (under root)
	ExecStart []string // the effective ExecStart command lines, prefixes kept
	Type      string   // Service Type=, "" if unset
}

// Normalize adds ".service" to a name without a unit suffix.
func Normalize(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return "", fmt.Errorf("invalid unit name %q", name)
	}
	if !strings.Contains(name, ".") {
		name += ".service"
	}
	if !strings.HasSuffix(name, ".service") {
		return "", fmt.Errorf("unit %s is not a service: only services have an ExecStart", name)
	}
	return name, nil
}

// DropInPath returns where the drop-in for unit name goes under root.
func DropInPath(root, name string) string {
	return filepath.Join(root, "/etc/systemd/system", name+".d", DropInName)
}

// Read finds unit name under root and its effective ExecStart, ignoring
// this package's own drop-in.
func Read(root, name string) (*Unit, error) {
	name, err := Normalize(name)
	if err != nil {
		return nil, err
	}
	u := &Unit{Name: name}
	for _, d := range UnitDirs {
		p := filepath.Join(root, d, name)
		if _, err := os.Stat(p); err == nil {
			u.Path = p
			break
		}
	}
	if u.Path == "" {
		// Template instance: foo@bar.service from foo@.service.
		if at := strings.IndexByte(name, '@'); at > 0 {
			tmpl := name[:at+1] + ".service"
			for _, d := range UnitDirs {
				p := filepath.Join(root, d, tmpl)
				if _, err := os.Stat(p); err == nil {
					u.Path = p
					break
				}
			}
		}
	}
	if u.Path == "" {
		var dirs []string
		for _, d := range UnitDirs {
			dirs = append(dirs, filepath.Join(root, d))
		}
		return nil, fmt.Errorf("%s: %w: no unit file in %s (is it installed? see systemctl list-unit-files)", name, ErrUnknownUnit, strings.Join(dirs, ", "))
	}
	files := []string{u.Path}
	// Drop-ins from every unit directory, ordered by file name (a name in a
	// higher-priority directory hides the same name in a lower one).
	seen := map[string]string{}
	for i := len(UnitDirs) - 1; i >= 0; i-- {
		m, _ := filepath.Glob(filepath.Join(root, UnitDirs[i], name+".d", "*.conf"))
		for _, f := range m {
			if filepath.Base(f) == DropInName && UnitDirs[i] == "/etc/systemd/system" {
				continue
			}
			seen[filepath.Base(f)] = f
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, seen[n])
	}
	for _, f := range files {
		before := strings.Join(u.ExecStart, "\n")
		if err := u.parse(f); err != nil {
			return nil, err
		}
		if f != u.Path && strings.Join(u.ExecStart, "\n") != before && filepath.Base(f) > DropInName {
			return nil, fmt.Errorf("%s: drop-in %s sets ExecStart and is applied after %s, so it would override mptcpkit's; fold it into the unit or rename it to sort before %s", name, f, DropInName, DropInName)
		}
	}
	if len(u.ExecStart) == 0 {
		return nil, fmt.Errorf("%s has no ExecStart (in %s)", name, strings.Join(files, ", "))
	}
	return u, nil
}

func (u *Unit) parse(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	section := ""
	var cont strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if cont.Len() > 0 || strings.HasSuffix(line, `\`) {
			if strings.HasSuffix(line, `\`) {
				cont.WriteString(strings.TrimSuffix(line, `\`) + " ")
				continue
			}
			cont.WriteString(line)
			line = cont.String()
			cont.Reset()
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			section = ""
			if strings.HasSuffix(line, "]") {
				section = line[1 : len(line)-1]
			}
			continue
		}
		if section != "Service" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "ExecStart":
			if v == "" {
				u.ExecStart = nil
			} else {
				u.ExecStart = append(u.ExecStart, v)
			}
		case "Type":
			u.Type = v
		}
	}
	return sc.Err()
}

// Wrap returns the ExecStart line that runs cmdline under `exe run --`,
// keeping systemd's prefixes (-, :, +, !, !!) in front.
func Wrap(exe, cmdline string) (string, error) {
	i := 0
	for i < len(cmdline) && strings.ContainsRune("-@:+!|", rune(cmdline[i])) {
		i++
	}
	prefix, rest := cmdline[:i], strings.TrimSpace(cmdline[i:])
	if strings.Contains(prefix, "@") {
		return "", fmt.Errorf("ExecStart %q uses the @ prefix (a separate argv[0]), which mptcpkit enable cannot keep; write the drop-in by hand", cmdline)
	}
	if rest == "" {
		return "", fmt.Errorf("ExecStart %q has no command", cmdline)
	}
	if strings.HasSuffix(rest, `\`) {
		return "", fmt.Errorf("ExecStart %q ends in a backslash", cmdline)
	}
	if strings.Contains(rest, "mptcpkit run") {
		return "", fmt.Errorf("ExecStart %q already runs under mptcpkit run", cmdline)
	}
	return fmt.Sprintf("%s%s run -- %s", prefix, exe, rest), nil
}

// DropIn returns the drop-in's contents for u, with exe the mptcpkit
// executable.
func DropIn(u *Unit, exe string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `mptcpkit enable %s`: runs the service with its TCP sockets\n", u.Name)
	fmt.Fprintf(&b, "# turned into MPTCP. Remove with `mptcpkit disable %s`.\n", u.Name)
	b.WriteString("[Service]\n")
	switch u.Type {
	case "forking":
		b.WriteString("# mptcpkit run stays in the foreground and waits for the daemon it forks.\nType=exec\n")
	case "notify", "notify-reload":
		b.WriteString("# The service's main process is now mptcpkit run: accept its child's notifications.\nNotifyAccess=all\n")
	}
	b.WriteString("ExecStart=\n")
	for _, c := range u.ExecStart {
		w, err := Wrap(exe, c)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "ExecStart=%s\n", w)
	}
	return b.String(), nil
}

// Enable writes the drop-in for unit name under root and returns its path.
func Enable(root, name, exe string) (string, *Unit, error) {
	u, err := Read(root, name)
	if err != nil {
		return "", nil, err
	}
	content, err := DropIn(u, exe)
	if err != nil {
		return "", nil, err
	}
	p := DropInPath(root, u.Name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", nil, err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return "", nil, err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return "", nil, err
	}
	return p, u, nil
}

// Disable removes the drop-in for unit name under root (and its directory
// when empty) and returns its path.
func Disable(root, name string) (string, error) {
	name, err := Normalize(name)
	if err != nil {
		return "", err
	}
	p := DropInPath(root, name)
	if err := os.Remove(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s: %w: there is no %s", name, ErrNotEnabled, p)
		}
		return "", err
	}
	os.Remove(filepath.Dir(p)) // only if empty
	return p, nil
}

// Running reports whether systemd is the running init under root "/".
func Running(root string) bool {
	if root != "/" && root != "" {
		return false
	}
	st, err := os.Stat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// Reload runs systemctl daemon-reload.
func Reload() error {
	out, err := exec.Command("systemctl", "daemon-reload").CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl daemon-reload: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
