package buildinfo

import (
	"runtime/debug"
	"strings"
)

// stamped is set at link time by packagers and release builds:
//
//	go build -ldflags "-X github.com/mptcpkit/mptcpkit/internal/buildinfo.stamped=v1.2.3" ./cmd/mptcpkit
//
// It is the one package-level variable the linker writes; nothing else does.
var stamped string

// Info is what is known about this build.
type Info struct {
	Version  string `json:"version"`            // v1.2.3, or "devel"
	Revision string `json:"revision,omitempty"` // git commit
	Time     string `json:"time,omitempty"`     // commit time (RFC 3339)
	Modified bool   `json:"modified,omitempty"` // built from a tree with changes
	Go       string `json:"go,omitempty"`       // Go toolchain
}

// Read returns this build's Info.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(stamped, bi)
}

func fromBuildInfo(stamp string, bi *debug.BuildInfo) Info {
	var in Info
	if bi != nil {
		in.Go = bi.GoVersion
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			in.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Revision = s.Value
			case "vcs.time":
				in.Time = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	if stamp != "" {
		in.Version = stamp
	}
	if in.Version == "" {
		in.Version = "devel"
	}
	return in
}

// String is one line for people: "v1.2.3", "v0.0.0-2026...-abcdef (abcdef123456, 2026-12-04T12:00:00Z)",
// "devel (abcdef123456, 2026-..., modified)" or "devel (no version
// information: built without VCS data, e.g. by go run)".
func (in Info) String() string {
	var extra []string
	if in.Revision != "" {
		r := in.Revision
		if len(r) > 12 {
			r = r[:12]
		}
		if !strings.Contains(in.Version, r) {
			extra = append(extra, r)
		}
		if in.Time != "" {
			extra = append(extra, in.Time)
		}
		if in.Modified {
			extra = append(extra, "modified")
		}
	}
	if in.Version == "devel" && len(extra) == 0 {
		return "devel (no version information: built without VCS data, e.g. by go run; release builds stamp one)"
	}
	if len(extra) == 0 {
		return in.Version
	}
	return in.Version + " (" + strings.Join(extra, ", ") + ")"
}
