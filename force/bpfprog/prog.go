package bpfprog

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/mptcpkit/mptcpkit/internal/feature"
)

// Map names, as referenced by the instructions.
const (
	CgroupsMap = "mptcpkit_cgroups"
	CommsMap   = "mptcpkit_comms"
)

// MaxCgroupLevels is how many cgroup levels (from the root) the program
// checks for an ancestor in the cgroups map.
const MaxCgroupLevels = 16

// MaxEntries is the capacity of each scope map.
const MaxEntries = 1024

// KernelFunction is the function the fmod_ret program is attached to.
const KernelFunction = "update_socket_protocol"

// CommLen is the size of a task name as the kernel stores it, NUL included:
// names longer than CommLen-1 bytes are truncated by the kernel.
const CommLen = 16

// ErrNotSupported is wrapped by errors saying the kernel cannot run the
// program (no BTF, no update_socket_protocol — Debian's 6.1 lacks it —,
// trampolines refused); such an error is an *UnsupportedFeatureError. It is
// the same error as mptcp.ErrNotSupported and seccomp.ErrNotSupported.
var ErrNotSupported = feature.ErrNotSupported

// UnsupportedFeatureError names a feature the running kernel lacks and the
// first Linux release that has it; errors.Is(err, ErrNotSupported) holds.
type UnsupportedFeatureError = feature.UnsupportedFeatureError

// fmodRet is what the program needs: an fmod_ret program attached by BTF
// to KernelFunction, which Linux 6.6 added.
func fmodRet() *UnsupportedFeatureError {
	return &UnsupportedFeatureError{Name: "fmod_ret on " + KernelFunction, MinimumVersion: "6.6", Config: "CONFIG_DEBUG_INFO_BTF"}
}

// hasKernelFunction asks the kernel's BTF, once, whether it has
// KernelFunction; without BTF it cannot tell.
var hasKernelFunction = &feature.Probe{
	Name: "fmod_ret on " + KernelFunction, MinimumVersion: "6.6",
	Fn: func() error {
		spec, err := btf.LoadKernelSpec()
		if err != nil {
			return err
		}
		var fn *btf.Func
		if errors.Is(spec.TypeByName(KernelFunction, &fn), btf.ErrNotFound) {
			return ErrNotSupported
		}
		return nil
	},
}

// Instructions returns the program: it reads family, type and protocol from
// the u64 argument array in R1 and returns IPPROTO_MPTCP or 0.
func Instructions() asm.Instructions {
	const (
		ret0   = "ret0"
		retMP  = "mptcp"
		typeOK = "type"
	)
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1), // ctx
		// family: only the low 32 bits of an int argument are defined.
		asm.LoadMem(asm.R2, asm.R6, 0, asm.DWord),
		asm.JEq.Imm32(asm.R2, unix.AF_INET, typeOK),
		asm.JNE.Imm32(asm.R2, unix.AF_INET6, ret0),
		asm.LoadMem(asm.R2, asm.R6, 8, asm.DWord).WithSymbol(typeOK),
		asm.And.Imm32(asm.R2, 0xf),
		asm.JNE.Imm32(asm.R2, unix.SOCK_STREAM, ret0),
		asm.LoadMem(asm.R2, asm.R6, 16, asm.DWord),
		asm.JEq.Imm32(asm.R2, 0, "scope"),
		asm.JNE.Imm32(asm.R2, unix.IPPROTO_TCP, ret0),
		// comm lookup: zero 16 bytes at fp-16, bpf_get_current_comm into it.
		asm.Mov.Imm(asm.R3, 0).WithSymbol("scope"),
		asm.StoreMem(asm.RFP, -16, asm.R3, asm.DWord),
		asm.StoreMem(asm.RFP, -8, asm.R3, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, -16),
		asm.Mov.Imm(asm.R2, CommLen),
		asm.FnGetCurrentComm.Call(),
		asm.LoadMapPtr(asm.R1, 0).WithReference(CommsMap),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, retMP),
		// own cgroup
		asm.FnGetCurrentCgroupId.Call(),
		asm.StoreMem(asm.RFP, -24, asm.R0, asm.DWord),
		asm.LoadMapPtr(asm.R1, 0).WithReference(CgroupsMap),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -24),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, retMP),
	}
	// ancestors, unrolled: level 1 (a child of the root) downwards; an id of
	// 0 means the task's cgroup is not that deep.
	for level := 1; level <= MaxCgroupLevels; level++ {
		insns = append(insns,
			asm.Mov.Imm(asm.R1, int32(level)),
			asm.FnGetCurrentAncestorCgroupId.Call(),
			asm.JEq.Imm(asm.R0, 0, ret0),
			asm.StoreMem(asm.RFP, -24, asm.R0, asm.DWord),
			asm.LoadMapPtr(asm.R1, 0).WithReference(CgroupsMap),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -24),
			asm.FnMapLookupElem.Call(),
			asm.JNE.Imm(asm.R0, 0, retMP),
		)
	}
	insns = append(insns,
		asm.Mov.Imm(asm.R0, 0).WithSymbol(ret0),
		asm.Return(),
		asm.Mov.Imm(asm.R0, unix.IPPROTO_MPTCP).WithSymbol(retMP),
		asm.Return(),
	)
	return insns
}

// MapSpecs returns the specs of the two scope maps.
func MapSpecs() map[string]*ebpf.MapSpec {
	return map[string]*ebpf.MapSpec{
		CgroupsMap: {Name: CgroupsMap, Type: ebpf.Hash, KeySize: 8, ValueSize: 4, MaxEntries: MaxEntries},
		CommsMap:   {Name: CommsMap, Type: ebpf.Hash, KeySize: CommLen, ValueSize: 4, MaxEntries: MaxEntries},
	}
}

// license is GPL-compatible: trampolines and some helpers require it.
const license = "Dual MIT/GPL"

// Maps are the two scope maps.
type Maps struct {
	Cgroups *ebpf.Map
	Comms   *ebpf.Map
}

// NewMaps creates empty scope maps.
func NewMaps() (*Maps, error) {
	specs := MapSpecs()
	cg, err := ebpf.NewMap(specs[CgroupsMap])
	if err != nil {
		return nil, fmt.Errorf("create %s map: %w", CgroupsMap, err)
	}
	co, err := ebpf.NewMap(specs[CommsMap])
	if err != nil {
		cg.Close()
		return nil, fmt.Errorf("create %s map: %w", CommsMap, err)
	}
	return &Maps{Cgroups: cg, Comms: co}, nil
}

// Close closes both maps.
func (m *Maps) Close() error {
	return errors.Join(m.Cgroups.Close(), m.Comms.Close())
}

func (m *Maps) replacements() map[string]*ebpf.Map {
	return map[string]*ebpf.Map{CgroupsMap: m.Cgroups, CommsMap: m.Comms}
}

func load(spec *ebpf.ProgramSpec, m *Maps) (*ebpf.Program, error) {
	insns := spec.Instructions
	spec.Instructions = make(asm.Instructions, len(insns))
	copy(spec.Instructions, insns)
	for i := range spec.Instructions {
		ins := &spec.Instructions[i]
		if ref := ins.Reference(); ref != "" && ins.IsLoadFromMap() {
			mp, ok := m.replacements()[ref]
			if !ok {
				return nil, fmt.Errorf("program references unknown map %q", ref)
			}
			if err := ins.AssociateMap(mp); err != nil {
				return nil, fmt.Errorf("associate map %s: %w", ref, err)
			}
		}
	}
	return ebpf.NewProgramWithOptions(spec, ebpf.ProgramOptions{LogDisabled: false})
}

// NewRawTracepointProgram loads Instructions as a raw tracepoint program,
// which BPF_PROG_TEST_RUN can run with a context of u64 arguments laid out
// like the fmod_ret program's: use it to test the decisions.
func NewRawTracepointProgram(m *Maps) (*ebpf.Program, error) {
	p, err := load(&ebpf.ProgramSpec{
		Name:         "mptcpkit_test",
		Type:         ebpf.RawTracepoint,
		Instructions: Instructions(),
		License:      license,
	}, m)
	if err != nil {
		return nil, fmt.Errorf("load raw tracepoint program: %w", err)
	}
	return p, nil
}

// NewProgram loads Instructions as the fmod_ret program on
// update_socket_protocol. Errors meaning the kernel cannot do it wrap
// ErrNotSupported and name the cause.
func NewProgram(m *Maps) (*ebpf.Program, error) {
	p, err := load(&ebpf.ProgramSpec{
		Name:         progName,
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachModifyReturn,
		AttachTo:     KernelFunction,
		Instructions: Instructions(),
		License:      license,
	}, m)
	if err != nil {
		return nil, classify(err)
	}
	return p, nil
}

// classify turns a load error into a feature error where it means the
// kernel cannot run the program.
func classify(err error) error {
	if missing := hasKernelFunction.Result(); errors.Is(missing, ErrNotSupported) {
		return fmt.Errorf("load fmod_ret program: kernel %s has no function %s (it was added in Linux 6.6) (%v); %w",
			feature.KernelRelease(), KernelFunction, err, missing)
	}
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("fmod_ret program on %s: the kernel refused the BPF trampoline (%v): "+
			"fentry/fmod_ret programs are not allowed on this kernel (lockdown, a BPF LSM policy, or a kernel without trampoline support); %w",
			KernelFunction, errors.Unwrap(err), &UnsupportedFeatureError{Name: "BPF trampolines"})
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EINVAL) && isMissingBTF(err):
		return fmt.Errorf("load fmod_ret program on %s: %v; %w", KernelFunction, err, fmodRet())
	case errors.Is(err, unix.ENOENT), isMissingBTF(err):
		return fmt.Errorf("load fmod_ret program: the kernel has no function %s, or no BTF to find it by: %v; %w", KernelFunction, err, fmodRet())
	}
	return fmt.Errorf("load fmod_ret program on %s: %w", KernelFunction, err)
}

func isMissingBTF(err error) bool {
	return errors.Is(err, btf.ErrNotFound) || errors.Is(err, btf.ErrNotSupported)
}

// Attachment is the fmod_ret program attached to update_socket_protocol.
type Attachment struct {
	Program *ebpf.Program
	Link    link.Link
}

// Attach loads the fmod_ret program using maps m and attaches it.
func Attach(m *Maps) (*Attachment, error) {
	p, err := NewProgram(m)
	if err != nil {
		return nil, err
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: p, AttachType: ebpf.AttachModifyReturn})
	if err != nil {
		p.Close()
		return nil, classify(fmt.Errorf("attach: %w", err))
	}
	return &Attachment{Program: p, Link: l}, nil
}

// Close detaches the program (unless its link is pinned) and closes it.
func (a *Attachment) Close() error {
	return errors.Join(a.Link.Close(), a.Program.Close())
}
