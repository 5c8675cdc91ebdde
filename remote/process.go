package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"sync"

	"golang.org/x/crypto/ssh"
)

// Sessioner opens sessions on the remote host; *tunnel.Conn is one.
type Sessioner interface {
	NewSession(ctx context.Context) (*ssh.Session, error)
}

// Process is a command running on the remote host.
//
// # Ending it
//
// Under a pseudo-terminal, closing the session makes sshd hang the terminal
// up: the kernel sends SIGHUP to the command's process group, and a waiting
// `codex login` exits (129) and frees its port. Without one, sshd lets the
// command run on after the session ends, which is why [Start] asks for a
// terminal.
type Process struct {
	session *ssh.Session
	stdin   io.WriteCloser
	pty     bool
	lines   chan string
	stop    chan struct{} // closed by Close: readers stop delivering lines
	exited  chan struct{} // closed once the exit status (or its absence) is known
	exitErr error

	closeOnce sync.Once
	wg        sync.WaitGroup
}

// Start runs command on the remote host, under a pseudo-terminal when
// withPTY is set and the server grants one (wide, no echo, so that output
// arrives as printed). ctx bounds the start only; end the process with
// Close.
func Start(ctx context.Context, s Sessioner, command string, withPTY bool, logger *log.Logger) (*Process, error) {
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	session, err := s.NewSession(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { session.Close() })
	p, err := start(session, command, withPTY, logger)
	if !stop() {
		if err == nil {
			p.Close()
		}
		return nil, ctx.Err()
	}
	if err != nil {
		session.Close()
		return nil, err
	}
	return p, nil
}

func start(session *ssh.Session, command string, withPTY bool, logger *log.Logger) (*Process, error) {
	p := &Process{
		session: session,
		lines:   make(chan string),
		stop:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
	if withPTY {
		modes := ssh.TerminalModes{ssh.ECHO: 0, ssh.ONLCR: 0, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
		if err := session.RequestPty("dumb", 40, 4096, modes); err != nil {
			// PermitTTY no, or a forced command: run without one and rely
			// on the caller's other ways of ending the command.
			logger.Printf("remote: no terminal granted (%v); the command will not be hung up when the session ends", err)
		} else {
			p.pty = true
		}
	}
	// Held open and never written: an EOF on a terminal's input is a ^D
	// for whatever reads it.
	stdin, err := session.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	p.stdin = stdin
	stdout, err := session.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	stderr, err := session.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	if err := session.Start(command); err != nil {
		return nil, fmt.Errorf("remote: start command: %w", err)
	}
	var readers sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		readers.Add(1)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer readers.Done()
			readLines(r, func(line string) {
				logger.Printf("remote: %s", line)
				select {
				case p.lines <- line:
				case <-p.stop:
				}
			})
		}()
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		readers.Wait()
		close(p.lines)
	}()
	go func() {
		defer p.wg.Done()
		p.exitErr = session.Wait()
		close(p.exited)
	}()
	return p, nil
}

// PTY reports whether the command runs under a pseudo-terminal.
func (p *Process) PTY() bool { return p.pty }

// Lines delivers the command's output, a sanitized line at a time (stdout
// and stderr together). It is closed when the output ends.
func (p *Process) Lines() <-chan string { return p.lines }

// Exited is closed once the command has ended or the session was closed.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitStatus returns the command's exit status after Exited is closed:
// -1 when none was reported (the session or connection ended first, or a
// signal killed it).
func (p *Process) ExitStatus() int {
	<-p.exited
	var exit *ssh.ExitError
	switch {
	case p.exitErr == nil:
		return 0
	case errors.As(p.exitErr, &exit):
		return exit.ExitStatus()
	}
	return -1
}

// Hangup closes the session without waiting: under a terminal, the remote
// command gets SIGHUP. Without one, it is first asked to terminate with a
// signal request, which OpenSSH's sshd honours for sessions without a
// terminal.
func (p *Process) Hangup() {
	if !p.pty {
		p.session.Signal(ssh.SIGTERM)
	}
	p.session.Close()
}

// Close hangs up and waits for the process's goroutines. If the connection
// is dead they end only when the connection itself is closed, so close that
// first or call Close from the connection's owner after it.
func (p *Process) Close() {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.stdin.Close()
		p.session.Close()
	})
	p.wg.Wait()
}
