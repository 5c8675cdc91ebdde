//go:build unix

package main

import (
	"bufio"
	"io"
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
	for _, tt := range []struct {
		name    string
		signals []syscall.Signal
	}{
		{"SIGINT", []syscall.Signal{syscall.SIGINT}},
		{"SIGTERM", []syscall.Signal{syscall.SIGTERM}},
		{"SIGINT twice", []syscall.Signal{syscall.SIGINT, syscall.SIGINT}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			cmd, _ := startCLI(t, w)
			for _, sig := range tt.signals {
				cmd.Process.Signal(sig)
			}
			code, took := exitCode(t, cmd, 2*time.Second)
			if code != exitInterrupted {
				t.Errorf("exit %d, want %d", code, exitInterrupted)
			}
			t.Logf("exit %d %s after %v", code, took.Round(time.Millisecond), tt.signals)
			// After a second signal nothing is cleaned up on purpose: the
			// remote codex ends when its sshd sees the connection close
			// and hangs up the terminal, which checkClean waits for.
			w.checkClean()
		})
	}
}
