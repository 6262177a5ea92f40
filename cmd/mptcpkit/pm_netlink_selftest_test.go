package main

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mptcpkit/mptcpkit/internal/nstest"
)

// TestPMNetlinkSelftestIPMode runs the checks of the kernel's
// tools/testing/selftests/net/mptcp/pm_netlink.sh in its `-i` mode (which
// drives `ip mptcp` instead of pm_nl_ctl; Linux 6.18 stable) against the
// built mptcpkit binary, command for command, with the commands and expected
// outputs that script uses. The script is GPL-2.0 and is not copied here:
// this is an equivalent written from what it checks.
//
// Every command runs twice: through mptcpkit in one namespace and through
// the real `ip -n NS mptcp` in another. For each check the test records
// whether ip and mptcpkit pass it as the script would judge; mptcpkit must
// pass every check ip passes, and every command's stdout must be ip's byte
// for byte, with the same exit status.
func TestPMNetlinkSelftestIPMode(t *testing.T) {
	nstest.Require(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("iproute2's ip is needed to compare with: %v", err)
	}
	bin := buildMptcpkit(t)
	nsMK, nsIP := nstest.New(t, "mptcpkit"), nstest.New(t, "ip")
	tools := []*pmTool{
		{name: "mptcpkit", argv: func(args []string) []string { return append([]string{bin, "-n", nsMK.Name}, args...) }},
		{name: "ip", argv: func(args []string) []string { return append([]string{"ip", "-n", nsIP.Name, "mptcp"}, args...) }},
	}
	s := &selftest{t: t, tools: tools}
	s.script()

	mk, ip := tools[0], tools[1]
	t.Logf("pm_netlink.sh -i checks: ip passes %d/%d, mptcpkit %d/%d", ip.passed, s.checks, mk.passed, s.checks)
	for _, name := range s.order {
		if ip.results[name] && !mk.results[name] {
			t.Errorf("check %q: ip passes it, mptcpkit fails it", name)
		}
		if !ip.results[name] {
			t.Logf("check %q: ip itself fails it", name)
		}
	}
}

// buildMptcpkit builds this command into a temporary directory.
func buildMptcpkit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mptcpkit")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// pmTool is one way to run the script's `ip mptcp` commands.
type pmTool struct {
	name    string
	argv    func(args []string) []string
	results map[string]bool
	passed  int
}

type runResult struct {
	stdout, stderr string
	code           int
}

func (p *pmTool) run(args []string) runResult {
	argv := p.argv(args)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
		errb.WriteString(err.Error())
	}
	return runResult{out.String(), errb.String(), code}
}

// selftest runs the script's steps with every tool and compares them.
type selftest struct {
	t      *testing.T
	tools  []*pmTool
	checks int
	order  []string
}

// do runs one command with every tool: the stdout and the exit status must
// be ip's (the last tool's). It returns each tool's result.
func (s *selftest) do(args ...string) []runResult {
	s.t.Helper()
	res := make([]runResult, len(s.tools))
	for i, tl := range s.tools {
		res[i] = tl.run(args)
	}
	ref := res[len(res)-1]
	for i, r := range res[:len(res)-1] {
		if r.stdout != ref.stdout || r.code != ref.code {
			s.t.Errorf("`ip mptcp %s`: %s printed %q and exited %d (stderr %q); ip printed %q and exited %d (stderr %q)",
				strings.Join(args, " "), s.tools[i].name, r.stdout, r.code, r.stderr, ref.stdout, ref.code, ref.stderr)
		}
	}
	return res
}

// check is the script's check(): the command's output with trailing
// newlines removed (as $(...) does) must equal expected, and the command
// must fail if and only if failing is expected (the stable script passes 1
// as the fourth argument for the three lookups of a missing endpoint).
func (s *selftest) check(args []string, expected, name string, expectFail bool) {
	s.t.Helper()
	s.checks++
	s.order = append(s.order, name)
	for i, r := range s.do(args...) {
		tl := s.tools[i]
		if tl.results == nil {
			tl.results = map[string]bool{}
		}
		ok := (r.code != 0) == expectFail && strings.TrimRight(r.stdout, "\n") == expected
		tl.results[name] = ok
		if ok {
			tl.passed++
		} else {
			s.t.Logf("%-10s check %-28q: got %q exit %d, want %q (fail expected: %v)", tl.name, name, r.stdout, r.code, expected, expectFail)
		}
	}
}

// formatEndpoints is mptcp_lib_pm_nl_format_endpoints in ip mode: each
// entry "id,addr[,flags[,dev[,port]]]" becomes ip's line, with the space
// ip leaves at the end; the lines are joined as $(...) would keep them.
func formatEndpoints(entries ...string) string {
	var b strings.Builder
	for _, e := range entries {
		f := append(strings.Split(e, ","), "", "", "", "")
		id, addr, flags, dev, port := f[0], f[1], f[2], f[3], f[4]
		b.WriteString(addr)
		if port != "" {
			b.WriteString(" port " + port)
		}
		b.WriteString(" id " + id)
		if flags != "" {
			b.WriteString(" " + flags)
		}
		if dev != "" {
			b.WriteString(" dev " + dev)
		}
		b.WriteString(" \n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// formatLimits is the script's format_limits in ip mode.
func formatLimits(accept, subflows int) string {
	return fmt.Sprintf("add_addr_accepted %d subflows %d ", accept, subflows)
}

// addEndpoint is mptcp_lib_pm_nl_add_endpoint in ip mode: the address,
// then the flags (commas become separate words), dev, id, port.
func (s *selftest) addEndpoint(addr string, opts ...string) {
	s.t.Helper()
	var flags, dev, id, port string
	for i := 0; i+1 < len(opts); i += 2 {
		switch opts[i] {
		case "flags":
			flags = opts[i+1]
		case "dev":
			dev = opts[i+1]
		case "id":
			id = opts[i+1]
		case "port":
			port = opts[i+1]
		}
	}
	args := []string{"endpoint", "add", addr}
	if flags != "" {
		args = append(args, strings.Split(flags, ",")...)
	}
	for _, kv := range [][2]string{{"dev", dev}, {"id", id}, {"port", port}} {
		if kv[1] != "" {
			args = append(args, kv[0], kv[1])
		}
	}
	s.do(args...)
}

func (s *selftest) delEndpoint(id string) { s.t.Helper(); s.do("endpoint", "delete", "id", id) }
func (s *selftest) flushEndpoint()        { s.t.Helper(); s.do("endpoint", "flush") }
func (s *selftest) setLimits(addrs, subflows string) {
	s.t.Helper()
	s.do("limits", "set", "add_addr_accepted", addrs, "subflows", subflows)
}
func (s *selftest) changeEndpoint(id, flags string) {
	s.t.Helper()
	s.do(append([]string{"endpoint", "change", "id", id}, strings.Split(flags, ",")...)...)
}
func (s *selftest) changeAddress(addr, flags string) {
	s.t.Helper()
	s.do("endpoint", "change", addr, flags)
}

var (
	showEndpoints = []string{"endpoint", "show"}
	getLimits     = []string{"limits"}
)

func getEndpoint(id string) []string { return []string{"endpoint", "show", "id", id} }

// script is pm_netlink.sh's sequence of steps and checks.
func (s *selftest) script() {
	s.check(showEndpoints, "", "defaults addr list", false)
	defaultLimits := strings.TrimRight(s.do(getLimits...)[len(s.tools)-1].stdout, "\n")
	s.check(getLimits, formatLimits(0, 2), "defaults limits", false)

	s.addEndpoint("10.0.1.1")
	s.addEndpoint("10.0.1.2", "flags", "subflow", "dev", "lo")
	s.addEndpoint("10.0.1.3", "flags", "signal,backup")
	s.check(getEndpoint("1"), formatEndpoints("1,10.0.1.1"), "simple add/get addr", false)
	s.check(showEndpoints, formatEndpoints("1,10.0.1.1", "2,10.0.1.2,subflow,lo", "3,10.0.1.3,signal backup"), "dump addrs", false)

	s.delEndpoint("2")
	s.check(getEndpoint("2"), "", "simple del addr", true)
	s.check(showEndpoints, formatEndpoints("1,10.0.1.1", "3,10.0.1.3,signal backup"), "dump addrs after del", false)

	s.addEndpoint("10.0.1.3")
	s.check(getEndpoint("4"), "", "duplicate addr", true)

	s.addEndpoint("10.0.1.4", "flags", "signal")
	s.check(getEndpoint("4"), formatEndpoints("4,10.0.1.4,signal"), "id addr increment", false)

	for i := 5; i <= 9; i++ {
		s.addEndpoint(fmt.Sprintf("10.0.1.%d", i), "flags", "signal")
	}
	s.check(getEndpoint("9"), formatEndpoints("9,10.0.1.9,signal"), "hard addr limit", false)
	s.check(getEndpoint("10"), "", "above hard addr limit", true)

	s.delEndpoint("9")
	for i := 10; i <= 255; i++ {
		s.addEndpoint("10.0.0.9", "id", fmt.Sprint(i))
		s.delEndpoint(fmt.Sprint(i))
	}
	s.check(showEndpoints, formatEndpoints("1,10.0.1.1", "3,10.0.1.3,signal backup", "4,10.0.1.4,signal",
		"5,10.0.1.5,signal", "6,10.0.1.6,signal", "7,10.0.1.7,signal", "8,10.0.1.8,signal"), "id limit", false)

	s.flushEndpoint()
	s.check(showEndpoints, "", "flush addrs", false)

	s.setLimits("9", "1")
	s.check(getLimits, defaultLimits, "rcv addrs above hard limit", false)
	s.setLimits("1", "9")
	s.check(getLimits, defaultLimits, "subflows above hard limit", false)
	s.setLimits("8", "8")
	s.check(getLimits, formatLimits(8, 8), "set limits", false)

	s.flushEndpoint()
	s.addEndpoint("10.0.1.1")
	s.addEndpoint("10.0.1.2")
	s.addEndpoint("10.0.1.3", "id", "100")
	s.addEndpoint("10.0.1.4")
	s.addEndpoint("10.0.1.5", "id", "254")
	s.addEndpoint("10.0.1.6")
	s.addEndpoint("10.0.1.7")
	s.addEndpoint("10.0.1.8")
	s.check(showEndpoints, formatEndpoints("1,10.0.1.1", "2,10.0.1.2", "3,10.0.1.7", "4,10.0.1.8",
		"100,10.0.1.3", "101,10.0.1.4", "254,10.0.1.5", "255,10.0.1.6"), "set ids", false)

	s.flushEndpoint()
	s.addEndpoint("10.0.0.1")
	s.addEndpoint("10.0.0.2", "id", "254")
	s.addEndpoint("10.0.0.3")
	s.addEndpoint("10.0.0.4")
	s.addEndpoint("10.0.0.5", "id", "253")
	s.addEndpoint("10.0.0.6")
	s.addEndpoint("10.0.0.7")
	s.addEndpoint("10.0.0.8")
	s.check(showEndpoints, formatEndpoints("1,10.0.0.1", "2,10.0.0.4", "3,10.0.0.6", "4,10.0.0.7",
		"5,10.0.0.8", "253,10.0.0.5", "254,10.0.0.2", "255,10.0.0.3"), "wrap-around ids", false)

	s.flushEndpoint()
	s.addEndpoint("10.0.1.1", "flags", "subflow")
	s.changeAddress("10.0.1.1", "backup")
	s.check(showEndpoints, formatEndpoints("1,10.0.1.1,subflow backup"), "set flags (backup)", false)
	s.changeAddress("10.0.1.1", "nobackup")
	s.check(showEndpoints, formatEndpoints("1,10.0.1.1,subflow"), "          (nobackup)", false)

	s.changeEndpoint("1", "fullmesh")
	s.check(showEndpoints, formatEndpoints("1,10.0.1.1,subflow fullmesh"), "          (fullmesh)", false)
	s.changeEndpoint("1", "nofullmesh")
	s.check(showEndpoints, formatEndpoints("1,10.0.1.1,subflow"), "          (nofullmesh)", false)
	s.changeEndpoint("1", "backup,fullmesh")
	s.check(showEndpoints, formatEndpoints("1,10.0.1.1,subflow backup fullmesh"), "          (backup,fullmesh)", false)
}
