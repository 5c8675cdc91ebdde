//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a running process as /proc shows it.
type proc struct {
	pid     int
	cmdline string
}

func (p proc) String() string { return fmt.Sprintf("%d %s", p.pid, p.cmdline) }

// processesOf lists the processes whose real uid is uid.
func processesOf(uid int) []proc {
	entries, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := os.Open(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		match := false
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "Uid:") {
				fields := strings.Fields(line)
				match = len(fields) > 1 && fields[1] == strconv.Itoa(uid)
				break
			}
		}
		f.Close()
		if !match {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if len(cmd) == 0 {
			continue // a zombie or a kernel thread: nothing left running
		}
		out = append(out, proc{pid: pid, cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))})
	}
	return out
}

func killPID(pid int) {
	if pid > 1 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// userEnv is the environment of a fresh login of u on the laptop: nothing of
// the suite's own environment (no SSH_AUTH_SOCK, no DISPLAY) leaks in.
func userEnv(u *account, extra ...string) []string {
	env := []string{
		"HOME=" + u.home,
		"USER=" + u.name,
		"LOGNAME=" + u.name,
		"SHELL=/bin/bash",
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LANG=C.UTF-8",
	}
	return append(env, extra...)
}

// asUser makes a command that runs argv as u inside namespace ns, in a
// session of its own: no controlling terminal, so /dev/tty cannot be opened.
func asUser(ns string, u *account, env []string, argv ...string) *exec.Cmd {
	args := []string{"netns", "exec", ns,
		"setpriv", "--reuid=" + strconv.Itoa(u.uid), "--regid=" + strconv.Itoa(u.gid), "--init-groups", "--"}
	cmd := exec.Command("ip", append(args, argv...)...)
	cmd.Env = env
	cmd.Dir = u.home
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd
}

// process is a command started by a scenario, its output in files (so that
// Wait returns when the process exits, not when some child it left behind
// closes the pipe).
type process struct {
	name         string
	cmd          *exec.Cmd
	stdoutPath   string
	stderrPath   string
	start, ended time.Time
	done         chan struct{}
	state        *os.ProcessState
	err          error
	once         sync.Once
}

// startProcess starts cmd (stdin /dev/null) with its output in dir/name.*.
// `ip netns exec` and setpriv exec in place, so the pid is the program's.
func startProcess(dir, name string, cmd *exec.Cmd) (*process, error) {
	p := &process{name: name, cmd: cmd, done: make(chan struct{}),
		stdoutPath: filepath.Join(dir, name+".stdout"), stderrPath: filepath.Join(dir, name+".stderr")}
	stdout, err := os.Create(p.stdoutPath)
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := os.Create(p.stderrPath)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		p.ended = time.Now()
		p.state = cmd.ProcessState
		close(p.done)
	}()
	return p, nil
}

// wait waits for the process to exit; if ctx ends first it is killed and
// wait reports that.
func (p *process) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		p.kill()
		<-p.done
		return fmt.Errorf("%s still running when the scenario's time ran out: killed", p.name)
	}
}

func (p *process) kill() { p.once.Do(func() { killPID(p.cmd.Process.Pid) }) }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode is the exit status, or -1 with the signal when it was killed.
func (p *process) exitCode() (int, string) {
	if p.state == nil {
		return -1, "not exited"
	}
	if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, "killed by " + ws.Signal().String()
	}
	return p.state.ExitCode(), ""
}

func (p *process) stdout() string { b, _ := os.ReadFile(p.stdoutPath); return string(b) }
func (p *process) stderr() string { b, _ := os.ReadFile(p.stderrPath); return string(b) }

// waitFor polls until cond holds, the process exits, or timeout passes.
func (p *process) waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if p.exited() || time.Now().After(deadline) || ctx.Err() != nil {
			return cond()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventually polls cond for up to timeout.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}
