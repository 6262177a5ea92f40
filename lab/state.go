package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mptcpkit/mptcpkit/netns"
)

// StateDir holds one NAME.json per lab (and the delay line's log).
const StateDir = "/run/mptcpkit/lab"

// Testbed is what a lab is made of; Up writes it to StateDir/NAME.json and
// Show reads it back.
type Testbed struct {
	Name    string    `json:"name"`
	Number  int       `json:"number"` // L in 10.L.P.x
	Created time.Time `json:"created"`
	// CreatorUID is the user who made the lab: the sudo caller's uid
	// (SUDO_UID) when run with sudo, else the process's uid. `lab down
	// --all` removes only the caller's labs unless told otherwise. -1 in
	// state files written before it existed.
	CreatorUID int    `json:"creator_uid"`
	Creator    string `json:"creator,omitempty"`
	Client     string `json:"client_netns"`
	Server     string `json:"server_netns"`
	Queue      int    `json:"queue_packets"`
	// CC is the congestion control set in the namespaces ("" = their
	// default), CCInEffect what the client namespace actually uses.
	CC        string `json:"cc,omitempty"`
	CCEffect  string `json:"cc_in_effect"`
	Delay     string `json:"delay_method,omitempty"` // "netem", "tun" or ""
	DelayPID  int    `json:"delayline_pid,omitempty"`
	DelayNote string `json:"delayline_limits,omitempty"`
	// Loss is how loss is made: "netem" (where the kernel has it, at each
	// end's egress) or "nftables" (random drops at each receiver); "" when
	// no path is lossy.
	Loss string `json:"loss_method,omitempty"`
	// HostAllowedCC is set when Up widened the host's
	// net.ipv4.tcp_allowed_congestion_control (restored by Down).
	HostAllowedCC bool   `json:"host_allowed_cc_widened,omitempty"`
	Paths         []Path `json:"paths"`
	// Dest is the destination namespace behind the server (Config.Dest),
	// DestAddr its address and DestGateway the server's address on that
	// link; empty without --dest.
	Dest        string     `json:"dest_netns,omitempty"`
	DestAddr    netip.Addr `json:"dest_addr,omitzero"`
	DestGateway netip.Addr `json:"dest_gateway,omitzero"`
}

// Path is one path of a lab.
type Path struct {
	Index      int           `json:"index"` // 1-based
	ClientIf   string        `json:"client_if"`
	ServerIf   string        `json:"server_if"`
	ClientAddr netip.Addr    `json:"client_addr"`
	ServerAddr netip.Addr    `json:"server_addr"`
	Router     string        `json:"router_netns,omitempty"`
	Rate       uint64        `json:"rate_bps"`
	Loss       float64       `json:"loss_percent"`
	Delay      time.Duration `json:"-"` // JSON: delay_us (vocab.go)
	// EndpointID is the client's MPTCP subflow endpoint for this path (0
	// for path 1, which carries the initial subflow).
	EndpointID uint8 `json:"endpoint_id,omitempty"`
}

// Names of a lab's objects.
func clientNS(name string) string         { return "mk-" + name + "-client" }
func serverNS(name string) string         { return "mk-" + name + "-server" }
func destNS(name string) string           { return "mk-" + name + "-dest" }
func routerNS(name string, p int) string  { return fmt.Sprintf("mk-%s-r%d", name, p) }
func clientIf(name string, p int) string  { return fmt.Sprintf("mk%sc%d", name, p) }
func serverIf(name string, p int) string  { return fmt.Sprintf("mk%ss%d", name, p) }
func routerCIf(name string, p int) string { return fmt.Sprintf("mk%sx%d", name, p) }
func routerSIf(name string, p int) string { return fmt.Sprintf("mk%sy%d", name, p) }
func tunIf(name string, p int, up bool) string {
	if up {
		return fmt.Sprintf("mk%su%d", name, p)
	}
	return fmt.Sprintf("mk%sd%d", name, p)
}
func nftTable(name string) string  { return "mptcpkit_lab_" + name }
func statePath(name string) string { return filepath.Join(StateDir, name+".json") }

// nsPrefix starts the name of every namespace of lab name.
func nsPrefix(name string) string { return "mk-" + name + "-" }

// ClientNetNS and ServerNetNS name the lab's namespaces.
func (s *Testbed) ClientNetNS() string { return s.Client }

// ServerNetNS names the server namespace.
func (s *Testbed) ServerNetNS() string { return s.Server }

// openNetNS opens the server and the client namespace; the caller closes
// both.
func (s *Testbed) openNetNS() (server, client *netns.NetNS, err error) {
	if server, err = netns.Open(s.Server); err != nil {
		return nil, nil, err
	}
	if client, err = netns.Open(s.Client); err != nil {
		server.Close()
		return nil, nil, err
	}
	return server, client, nil
}

// Load reads the state of lab name.
func Load(name string) (*Testbed, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(statePath(name))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", &NotFoundError{Name: name, Path: statePath(name)}, os.ErrNotExist)
		}
		return nil, err
	}
	s := Testbed{CreatorUID: -1}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, &DamagedError{Name: name, Path: statePath(name), Err: err}
	}
	return &s, nil
}

// List returns the state of every lab, by name.
func List() ([]*Testbed, error) {
	ents, err := os.ReadDir(StateDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Testbed
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || CheckName(n) != nil {
			continue
		}
		s, err := Load(n)
		if err != nil {
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Testbed) save() error {
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := statePath(s.Name) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, statePath(s.Name))
}

// freeNumber picks the smallest lab number not used by another lab.
func freeNumber(name string) int {
	used := map[int]bool{}
	labs, _ := List()
	for _, s := range labs {
		if s.Name != name {
			used[s.Number] = true
		}
	}
	for n := 1; n < 255; n++ {
		if !used[n] {
			return n
		}
	}
	return 254
}

// CallerUID is the user on whose behalf this process acts: SUDO_UID when
// run through sudo (labs need root), else the process's real uid.
func CallerUID() int {
	if v, err := strconv.Atoi(os.Getenv("SUDO_UID")); err == nil && v >= 0 {
		return v
	}
	return os.Getuid()
}

// callerName names CallerUID for people ("" when unknown).
func callerName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return ""
}

// NetNSRef is the prefix of a lab namespace reference: "lab:NAME:client"
// or "lab:NAME:server" names the client or server namespace of lab NAME
// (mk-NAME-client, mk-NAME-server), wherever a namespace name is taken.
const NetNSRef = "lab:"

// ResolveNetNS turns a namespace reference "lab:NAME:client|server" into
// the lab's namespace name; any other string is returned as is.
func ResolveNetNS(ref string) (string, error) {
	rest, ok := strings.CutPrefix(ref, NetNSRef)
	if !ok {
		return ref, nil
	}
	name, side, ok := strings.Cut(rest, ":")
	if !ok || (side != "client" && side != "server" && side != "dest") {
		return "", fmt.Errorf("namespace %q: %w", ref, ErrNetNSRef)
	}
	if err := CheckName(name); err != nil {
		return "", fmt.Errorf("namespace %q: %v", ref, err)
	}
	if !Exists(name) {
		return "", fmt.Errorf("namespace %q: %w", ref, &NotFoundError{Name: name})
	}
	switch side {
	case "client":
		return clientNS(name), nil
	case "dest":
		if st, err := Load(name); err == nil && st.Dest == "" {
			return "", fmt.Errorf("namespace %q: %w", ref, &NoDestError{Name: name})
		}
		return destNS(name), nil
	}
	return serverNS(name), nil
}
