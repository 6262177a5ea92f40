package doctor

// Internal helpers exported for the tests.
var (
	NMMPTCPFlags = nmMPTCPFlags
	NMDisabled   = nmDisabled
)
