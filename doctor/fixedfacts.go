package doctor

import (
	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/pm"
)

// FixedFacts is a fixed set of facts: it implements [Facts] from its fields,
// for tests and for diagnosing facts gathered elsewhere.
type FixedFacts struct {
	Release string
	// Socket4Err and Socket6Err are what socket(AF_INET/AF_INET6,
	// SOCK_STREAM, IPPROTO_MPTCP) returned (nil: it worked).
	Socket4Err, Socket6Err error
	SysctlValues           map[string]string
	LimitValues            pm.Limits
	EndpointList           []pm.Endpoint
	InterfaceList          []Interface
	ProcessList            []Process
	NM                     NetworkManagerConfig
	BTFInfo                BTF
	// Errs makes the method of that name fail ("Limits", "Endpoints",
	// "Interfaces", "Processes", "Sysctls", "NetworkManager", "KernelBTF",
	// "KernelRelease").
	Errs map[string]error
}

var _ Facts = (*FixedFacts)(nil)

func (s *FixedFacts) KernelRelease() (string, error) { return s.Release, s.Errs["KernelRelease"] }

func (s *FixedFacts) MPTCPSocket(family int) error {
	if family == unix.AF_INET6 {
		return s.Socket6Err
	}
	return s.Socket4Err
}

func (s *FixedFacts) Sysctls() (map[string]string, error) { return s.SysctlValues, s.Errs["Sysctls"] }

func (s *FixedFacts) Limits() (pm.Limits, error) { return s.LimitValues, s.Errs["Limits"] }

func (s *FixedFacts) Endpoints() ([]pm.Endpoint, error) { return s.EndpointList, s.Errs["Endpoints"] }

func (s *FixedFacts) Interfaces() ([]Interface, error) { return s.InterfaceList, s.Errs["Interfaces"] }

func (s *FixedFacts) Processes() ([]Process, error) { return s.ProcessList, s.Errs["Processes"] }

func (s *FixedFacts) NetworkManager() (NetworkManagerConfig, error) {
	return s.NM, s.Errs["NetworkManager"]
}

func (s *FixedFacts) KernelBTF() (BTF, error) { return s.BTFInfo, s.Errs["KernelBTF"] }
