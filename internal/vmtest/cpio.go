package vmtest

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// cpioWriter writes a "newc" cpio archive, the format the kernel unpacks as
// an initramfs. Every entry is owned by root; inode numbers count up.
type cpioWriter struct {
	w   io.Writer
	ino uint32
	err error
}

const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
)

func (c *cpioWriter) header(name string, mode uint32, size int) {
	if c.err != nil {
		return
	}
	c.ino++
	nlink := 1
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	c.write([]byte(hdr + name + "\x00"))
	c.pad(len(hdr) + len(name) + 1)
}

func (c *cpioWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

func (c *cpioWriter) pad(n int) {
	if r := n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) dir(name string) { c.header(name, modeDir|0o755, 0) }

func (c *cpioWriter) file(name string, perm uint32, data []byte) {
	c.header(name, modeFile|perm, len(data))
	c.write(data)
	c.pad(len(data))
}

func (c *cpioWriter) symlink(name, target string) {
	c.header(name, modeSymlink|0o777, len(target))
	c.write([]byte(target))
	c.pad(len(target))
}

func (c *cpioWriter) close() error {
	c.header("TRAILER!!!", 0, 0)
	return c.err
}

// tree is the initramfs's contents: guest path (no leading slash) to entry.
type tree map[string]entry

type entry struct {
	data    []byte
	perm    uint32
	symlink string
	dir     bool
}

func (t tree) addFile(path string, perm uint32, data []byte) {
	path = strings.TrimPrefix(path, "/")
	t.addParents(path)
	t[path] = entry{data: data, perm: perm}
}

func (t tree) addSymlink(path, target string) {
	path = strings.TrimPrefix(path, "/")
	t.addParents(path)
	t[path] = entry{symlink: target}
}

func (t tree) addDir(path string) {
	path = strings.TrimPrefix(path, "/")
	t.addParents(path)
	if _, ok := t[path]; !ok {
		t[path] = entry{dir: true}
	}
}

func (t tree) addParents(path string) {
	for i := strings.LastIndexByte(path, '/'); i > 0; i = strings.LastIndexByte(path[:i], '/') {
		if _, ok := t[path[:i]]; !ok {
			t[path[:i]] = entry{dir: true}
		}
	}
}

// writeTo writes the tree, parents before children.
func (t tree) writeTo(w io.Writer) error {
	names := make([]string, 0, len(t))
	for n := range t {
		names = append(names, n)
	}
	sort.Strings(names)
	c := &cpioWriter{w: w}
	for _, n := range names {
		e := t[n]
		switch {
		case e.dir:
			c.dir(n)
		case e.symlink != "":
			c.symlink(n, e.symlink)
		default:
			c.file(n, e.perm, e.data)
		}
	}
	return c.close()
}
