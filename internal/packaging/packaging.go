package packaging

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// Stage is a directory laid out as the packages install it: Stage/usr/bin/
// mptcpkit, Stage/usr/lib/systemd/system/..., Stage/usr/share/....
type Stage string

// Spec says what to package.
type Spec struct {
	Stage   Stage
	Version string // e.g. 0.1.0 or 0.0.0+git20261204.abcdef123456
	Arch    string // Go's GOARCH (amd64, arm64); nFPM maps it per format
	OutDir  string
	// MTime stamps every file and the archives: the same input gives the
	// same packages.
	MTime time.Time
}

// Build writes OutDir/<conventional name>.deb and .rpm and returns their
// paths (deb first).
func Build(s Spec) ([]string, error) {
	contents, err := s.contents()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, format := range []string{"deb", "rpm"} {
		info := &nfpm.Info{
			Name:        "mptcpkit",
			Arch:        s.Arch,
			Platform:    "linux",
			Version:     s.Version,
			Section:     "net",
			Priority:    "optional",
			Maintainer:  "mptcpkit developers <mptcpkit@example.invalid>",
			Description: "Multipath TCP on Linux, end to end: path manager CLI, daemon, proxy, bench and labs",
			Homepage:    "https://github.com/mptcpkit/mptcpkit",
			License:     "Apache-2.0",
			MTime:       s.MTime,
			Overridables: nfpm.Overridables{
				Contents:   contents,
				Recommends: []string{"iproute2", "nftables"},
			},
		}
		info.RPM.Summary = "Multipath TCP on Linux, end to end"
		info = nfpm.WithDefaults(info)
		if err := nfpm.PrepareForPackager(info, format); err != nil {
			return nil, fmt.Errorf("%s: %w", format, err)
		}
		pkgr, err := nfpm.Get(format)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(s.OutDir, pkgr.ConventionalFileName(info))
		if err := os.MkdirAll(s.OutDir, 0o755); err != nil {
			return nil, err
		}
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		if err := pkgr.Package(info, f); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", format, err)
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		out = append(out, path)
	}
	return out, nil
}

// Files lists the installed paths of the stage's files, sorted.
func (st Stage) Files() ([]string, error) {
	var out []string
	err := filepath.WalkDir(string(st), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(string(st), p)
		out = append(out, "/"+filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(out)
	return out, err
}

func (s Spec) contents() (files.Contents, error) {
	paths, err := s.Stage.Files()
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("stage %s is empty", s.Stage)
	}
	var c files.Contents
	for _, p := range paths {
		mode := os.FileMode(0o644)
		if strings.HasPrefix(p, "/usr/bin/") {
			mode = 0o755
		}
		c = append(c, &files.Content{
			Source:      filepath.Join(string(s.Stage), p),
			Destination: p,
			FileInfo:    &files.ContentFileInfo{Mode: mode, MTime: s.MTime, Owner: "root", Group: "root"},
		})
	}
	return c, nil
}
