// Package inetdiag speaks the inet_diag protocol of NETLINK_SOCK_DIAG: it
// builds struct inet_diag_req_v2 requests and decodes struct inet_diag_msg
// replies with the attributes mptcpkit needs (INET_DIAG_INFO kept raw,
// INET_DIAG_CONG, INET_DIAG_ULP_INFO with the "mptcp" subflow nest). It
// knows no struct layouts beyond the diag protocol itself, so both the
// public mptcp package (subflow lookups) and sockdiag (dumps) can use it.
package inetdiag
