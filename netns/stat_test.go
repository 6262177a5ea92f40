package netns_test

import "golang.org/x/sys/unix"

type unixStat struct{ dev, ino uint64 }

func statFD(fd int, s *unixStat) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	*s = unixStat{st.Dev, st.Ino}
	return nil
}

func statPath(p string, s *unixStat) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return err
	}
	*s = unixStat{st.Dev, st.Ino}
	return nil
}
