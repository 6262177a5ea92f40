package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestSignalContext: a SIGINT cancels the context once a command has used
// it; before that the process keeps the default action (checked in a child
// process, which the signal must kill); stop before any use leaves it
// cancelled without registering.
func TestSignalContext(t *testing.T) {
	switch os.Getenv("MPTCPKIT_SIGNAL_CONTEXT_CHILD") {
	case "unused":
		_, stop := newSignalContext(os.Interrupt)
		defer stop()
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
		time.Sleep(5 * time.Second)
		os.Exit(0) // not reached: SIGINT's default action ends the process
	case "":
	default:
		return
	}

	t.Run("used", func(t *testing.T) {
		ctx, stop := newSignalContext(syscall.SIGUSR1)
		defer stop()
		done := ctx.Done() // registers
		if err := ctx.Err(); err != nil {
			t.Fatalf("Err before any signal = %v", err)
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("SIGUSR1 did not cancel the context")
		}
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("Err = %v, want context.Canceled", ctx.Err())
		}
		// Derived contexts see the cancellation too.
		child, cancel := context.WithCancel(ctx)
		defer cancel()
		if child.Err() == nil {
			t.Error("a context derived after the signal is not cancelled")
		}
	})

	t.Run("stopped before use", func(t *testing.T) {
		ctx, stop := newSignalContext(syscall.SIGUSR1)
		stop()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("Err after stop = %v, want context.Canceled", ctx.Err())
		}
	})

	t.Run("Run", func(t *testing.T) {
		ctx, stop := newSignalContext(syscall.SIGUSR1)
		defer stop()
		c := ctx.(*signalContext)
		if err := Run(ctx, []string{"version"}, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		if c.ctx != nil {
			t.Error("Run registered the signals for version, a quick command")
		}
		_ = Run(ctx, []string{"check", "--help"}, io.Discard, io.Discard) // errHelp
		if c.ctx == nil {
			t.Error("Run did not register the signals for check")
		}
	})

	t.Run("unused", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSignalContext$")
		cmd.Env = append(os.Environ(), "MPTCPKIT_SIGNAL_CONTEXT_CHILD=unused")
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("child: %v, want it killed by SIGINT", err)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
			t.Errorf("child ended with %v, want killed by SIGINT (nothing registered for it before first use)", ee)
		}
	})
}
