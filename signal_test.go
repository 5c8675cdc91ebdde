//go:build unix

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startCLI runs the CLI as a process of its own against w's VPS and returns
// once it waits for the browser.
func startCLI(t *testing.T, w *world) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, w.args("-F", "none", "--no-browser", "dev@127.0.0.1")[1:]...)
	cmd.Env = []string{mainEnvVar + "=1", "HOME=" + w.laptopHome, "USER=laptopuser", "PATH=" + os.Getenv("PATH")}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var seen strings.Builder
	waiting := make(chan struct{})
	go func() {
		r := bufio.NewReader(stderr)
		signalled := false
		for {
			line, err := r.ReadString('\n')
			seen.WriteString(line)
			if !signalled && strings.Contains(line, "waiting for you to sign in") {
				signalled = true
				close(waiting)
			}
			if err != nil {
				io.Copy(io.Discard, r)
				return
			}
		}
	}()
	select {
	case <-waiting:
	case <-time.After(15 * time.Second):
		t.Fatalf("the CLI never got to waiting:\n%s", seen.String())
	}
	return cmd, &seen
}

func exitCode(t *testing.T, cmd *exec.Cmd, within time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if exit, ok := err.(*exec.ExitError); ok {
			return exit.ExitCode(), time.Since(start)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, time.Since(start)
	case <-time.After(within):
		t.Fatalf("still running %s after the signal", within)
		return 0, 0
	}
}

func TestSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			w := newWorld(t)
			cmd, _ := startCLI(t, w)
			cmd.Process.Signal(sig)
			code, took := exitCode(t, cmd, 2*time.Second)
			if code != exitInterrupted {
				t.Errorf("exit %d, want %d", code, exitInterrupted)
			}
			t.Logf("exit %d %s after %v", code, took.Round(time.Millisecond), sig)
			w.checkClean()
		})
	}
}

// TestSecondSignalExitsAtOnce: on a dead link the first SIGINT's cleanup
// waits about 1.3 s for codex's /cancel to be answered; a second SIGINT
// must not wait for it.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	w := newWorld(t)
	cmd, _ := startCLI(t, w)
	w.vps.Blackhole()
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	code, took := exitCode(t, cmd, 2*time.Second)
	if code != exitInterrupted {
		t.Errorf("exit %d, want %d", code, exitInterrupted)
	}
	if took > 500*time.Millisecond {
		t.Errorf("exit %s after the second SIGINT, want at once", took.Round(time.Millisecond))
	}
	t.Logf("exit %d %s after the second SIGINT", code, took.Round(time.Millisecond))
	// Nothing is cleaned up after a second signal, on purpose; the local
	// port goes with the process.
	if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", w.port)); err != nil {
		t.Errorf("local port still taken: %v", err)
	} else {
		l.Close()
	}
}
