package mptcp

import (
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/internal/inetdiag"
)

// lookupDiag fills Backup, LocalID and RemoteID from socket diagnostics in
// the namespace nsFD, one exact inet_diag lookup per subflow (and one dump
// of the family's TCP sockets if a subflow bound to a device, which exact
// lookups cannot find without its interface index, is left). Best effort:
// without CAP_NET_ADMIN the kernel sends no ULP info and Diag stays false.
func lookupDiag(nsFD int, sfs []Subflow) {
	if len(sfs) == 0 {
		return
	}
	c, err := inetdiag.Dial(nsFD)
	if err != nil {
		return
	}
	defer c.Close()
	var missing []int
	for i := range sfs {
		sf := &sfs[i]
		if !sf.Local.IsValid() || !sf.Remote.IsValid() {
			continue
		}
		msgs, err := inetdiag.Query(c, inetdiag.Request{
			Family:   family(sf.Local),
			Protocol: inetdiag.ProtoTCP,
			Ext:      inetdiag.ExtInfo, // the kernel adds ULP info only with INET_DIAG_INFO
			States:   ^uint32(0),
			ID:       inetdiag.SockID{Local: sf.Local, Remote: sf.Remote},
		})
		if err != nil || len(msgs) != 1 {
			// A subflow bound to a device (endpoint "dev X") is found
			// only with its interface index, which no socket option
			// tells: look for it in a dump below.
			missing = append(missing, i)
			continue
		}
		sf.setDiag(msgs[0])
	}
	if len(missing) == 0 {
		return
	}
	fams := map[uint8]bool{}
	for _, i := range missing {
		fams[family(sfs[i].Local)] = true
	}
	for fam := range fams {
		msgs, err := inetdiag.Query(c, inetdiag.Request{
			Family: fam, Protocol: inetdiag.ProtoTCP, Ext: inetdiag.ExtInfo,
			States: inetdiag.AllConnected, Dump: true,
		})
		if err != nil {
			return
		}
		for _, m := range msgs {
			for _, i := range missing {
				if sfs[i].Local == m.ID.Local && sfs[i].Remote == m.ID.Remote {
					sfs[i].setDiag(m)
				}
			}
		}
	}
}

func family(a netip.AddrPort) uint8 {
	if a.Addr().Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func (sf *Subflow) setDiag(m *inetdiag.Msg) {
	u := m.MPTCP
	if u == nil {
		return
	}
	sf.Diag = true
	sf.LocalID, sf.RemoteID = u.IDLoc, u.IDRem
	sf.BackupLocal = u.Flags&inetdiag.FlagBkupLoc != 0
	sf.BackupRemote = u.Flags&inetdiag.FlagBkupRem != 0
	sf.Backup = sf.BackupLocal || sf.BackupRemote
}
