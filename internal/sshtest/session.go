package sshtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
)

// Payloads of session requests, RFC 4254 section 6.
type ptyReqMsg struct {
	Term     string
	Columns  uint32
	Rows     uint32
	Width    uint32
	Height   uint32
	Modelist string
}

type windowChangeMsg struct {
	Columns uint32
	Rows    uint32
	Width   uint32
	Height  uint32
}

type envMsg struct {
	Name  string
	Value string
}

type execMsg struct {
	Command string
}

type signalMsg struct {
	Signal string
}

type exitStatusMsg struct {
	Status uint32
}

type exitSignalMsg struct {
	Signal     string
	CoreDumped bool
	Error      string
	Lang       string
}

// signals are the names sshd's "signal" request understands (OpenSSH session.c name2sig).
var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP,
	"ILL": syscall.SIGILL, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

func signalName(sig syscall.Signal) string {
	for name, s := range signals {
		if s == sig {
			return name
		}
	}
	// OpenSSH's sig2name for a signal outside RFC 4254's list.
	return "SIG@openssh.com"
}

// session is one "session" channel.
type session struct {
	srv    *Server
	conn   *ssh.ServerConn
	ch     ssh.Channel
	prefix string // for log lines

	mu       sync.Mutex
	hungUp   bool     // the client closed the channel or the connection dropped
	env      []string // accepted "env" requests
	ptm, pts *os.File // pty master and slave, after "pty-req"
	ptsName  string
	term     string
	proc     *process
	stdin    *os.File // our end of the command's stdin pipe (no pty)
	outputs  []*os.File
}

func (s *Server) handleSession(sc *ssh.ServerConn, nc ssh.NewChannel) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		s.logf("sshtest: %s: accept session: %v", sc.RemoteAddr(), err)
		return
	}
	ss := &session{srv: s, conn: sc, ch: ch, prefix: fmt.Sprintf("sshtest: %s: session", sc.RemoteAddr())}
	for req := range reqs {
		ok, then := ss.request(req)
		if req.WantReply {
			req.Reply(ok, nil)
		}
		if then != nil {
			then()
		}
	}
	// The channel is closed: by the client, by us after the command ended, or because the
	// connection is gone.
	ss.hangup()
}

// request handles one session request; then, when not nil, runs after the reply, as sshd
// replies to "exec" before the command's output can reach the client.
func (ss *session) request(req *ssh.Request) (ok bool, then func()) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch req.Type {
	case "pty-req":
		var m ptyReqMsg
		if err := ssh.Unmarshal(req.Payload, &m); err != nil || ss.ptm != nil || ss.proc != nil {
			return false, nil
		}
		ptm, pts, err := openPTY()
		if err != nil {
			ss.srv.logf("%s: pty-req: %v", ss.prefix, err)
			return false, nil
		}
		if err := setWinsize(ptm, m.Columns, m.Rows, m.Width, m.Height); err != nil {
			ss.srv.logf("%s: pty-req: window size: %v", ss.prefix, err)
		}
		if err := applyModes(pts, []byte(m.Modelist)); err != nil {
			ss.srv.logf("%s: pty-req: terminal modes: %v", ss.prefix, err)
		}
		ss.ptm, ss.pts, ss.ptsName, ss.term = ptm, pts, pts.Name(), m.Term
		ss.srv.logf("%s: pty-req %q %dx%d", ss.prefix, m.Term, m.Columns, m.Rows)
		return true, nil
	case "window-change":
		var m windowChangeMsg
		if err := ssh.Unmarshal(req.Payload, &m); err != nil || ss.ptm == nil {
			return false, nil
		}
		if err := setWinsize(ss.ptm, m.Columns, m.Rows, m.Width, m.Height); err != nil {
			return false, nil
		}
		return true, nil
	case "env":
		var m envMsg
		if err := ssh.Unmarshal(req.Payload, &m); err != nil {
			return false, nil
		}
		if !ss.srv.envAccepted(m.Name) {
			// sshd ignores the variable and answers failure; the value is not logged: it may
			// be a secret.
			ss.srv.logf("%s: env %s refused (not in AcceptEnv)", ss.prefix, m.Name)
			return false, nil
		}
		ss.env = append(ss.env, m.Name+"="+m.Value)
		return true, nil
	case "exec":
		var m execMsg
		if err := ssh.Unmarshal(req.Payload, &m); err != nil || ss.proc != nil || ss.hungUp {
			return false, nil
		}
		ss.srv.recordCommand(m.Command)
		run, err := ss.start(m.Command)
		if err != nil {
			ss.srv.logf("%s: exec %q: %v", ss.prefix, m.Command, err)
			return false, nil
		}
		return true, run
	case "signal":
		var m signalMsg
		if err := ssh.Unmarshal(req.Payload, &m); err != nil || ss.proc == nil {
			return false, nil
		}
		sig, known := signals[m.Signal]
		if !known {
			ss.srv.logf("%s: signal %q unsupported", ss.prefix, m.Signal)
			return false, nil
		}
		if err := ss.proc.signal(sig); err != nil {
			ss.srv.logf("%s: signal %s: %v", ss.prefix, m.Signal, err)
			return false, nil
		}
		ss.srv.logf("%s: signal %s delivered to process group %d", ss.prefix, m.Signal, ss.proc.pid)
		return true, nil
	default:
		// "shell", "subsystem", "x11-req", "auth-agent-req@openssh.com", …
		ss.srv.logf("%s: request %q refused", ss.prefix, req.Type)
		return false, nil
	}
}

// environ returns the command's environment, in sshd's order: the account's, the accepted
// client variables, then what sshd sets itself (which wins).
func (ss *session) environ() []string {
	cfg := &ss.srv.cfg
	var env []string
	if cfg.Env != nil {
		env = append(env, cfg.Env...)
	} else {
		user := ss.conn.User()
		env = append(env, "PATH=/usr/bin:/bin", "HOME="+cfg.Dir, "SHELL="+cfg.Shell, "USER="+user, "LOGNAME="+user)
	}
	env = append(env, ss.env...)
	rhost, rport, _ := net.SplitHostPort(ss.conn.RemoteAddr().String())
	lhost, lport, _ := net.SplitHostPort(ss.conn.LocalAddr().String())
	env = append(env,
		"SSH_CLIENT="+rhost+" "+rport+" "+lport,
		"SSH_CONNECTION="+rhost+" "+rport+" "+lhost+" "+lport)
	if ss.ptm != nil {
		env = append(env, "SSH_TTY="+ss.ptsName)
		if ss.term != "" {
			env = append(env, "TERM="+ss.term)
		}
	}
	return env
}

// start starts command under the user's shell. Called with ss.mu held.
func (ss *session) start(command string) (run func(), err error) {
	cfg := &ss.srv.cfg
	cmd := exec.Command(cfg.Shell, "-c", command)
	// sshd runs the shell with argv[0] set to its base name (a "-" prefix only for login shells).
	cmd.Args[0] = filepath.Base(cfg.Shell)
	cmd.Dir = cfg.Dir
	cmd.Env = ss.environ()
	// sshd puts every command in a session of its own; with a pty, the pty becomes its
	// controlling terminal (fd 0 in the child).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}

	var childEnds []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	if ss.ptm != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ss.pts, ss.pts, ss.pts
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
		childEnds = append(childEnds, ss.pts)
		ss.outputs = []*os.File{ss.ptm}
	} else {
		var ours []*os.File
		for range 3 {
			r, w, err := os.Pipe()
			if err != nil {
				closeAll(ours)
				closeAll(childEnds)
				return nil, err
			}
			ours = append(ours, r, w)
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ours[0], ours[3], ours[5]
		childEnds = []*os.File{ours[0], ours[3], ours[5]}
		ss.stdin = ours[1]
		ss.outputs = []*os.File{ours[2], ours[4]}
	}

	p := &process{cmd: cmd}
	err = ss.srv.track(p, cmd.Start)
	// The child has its copies; ours would keep the pipes and the pty open after it exits.
	closeAll(childEnds)
	ss.pts = nil
	if err != nil {
		closeAll(ss.outputs)
		if ss.stdin != nil {
			ss.stdin.Close()
		}
		ss.outputs, ss.stdin, ss.ptm = nil, nil, nil
		return nil, err
	}
	p.pid = cmd.Process.Pid
	ss.proc = p
	ss.srv.logf("%s: exec %q: pid %d, pty %v", ss.prefix, command, p.pid, ss.ptm != nil)
	return func() {
		ss.srv.wg.Add(1)
		go func() {
			defer ss.srv.wg.Done()
			ss.run(p)
		}()
	}, nil
}

// run copies the command's input and output until it ends, then reports how it ended and closes
// the channel.
func (ss *session) run(p *process) {
	ss.mu.Lock()
	outputs, stdin, ptm := ss.outputs, ss.stdin, ss.ptm
	ss.mu.Unlock()

	// Input: from the channel until the client's EOF. Without a pty, EOF closes the command's
	// stdin; with a pty sshd leaves the terminal alone (no ^D is typed for the client).
	ss.srv.wg.Add(1)
	go func() {
		defer ss.srv.wg.Done()
		if ptm != nil {
			io.Copy(ptm, ss.ch)
			return
		}
		io.Copy(stdin, ss.ch)
		stdin.Close()
	}()

	// Output: stdout (or the pty) to the channel, stderr as extended data.
	var out sync.WaitGroup
	for i, f := range outputs {
		w := io.Writer(ss.ch)
		if i == 1 {
			w = ss.ch.Stderr()
		}
		out.Add(1)
		go func() {
			defer out.Done()
			copyOutput(w, f)
		}()
	}

	p.wait()
	// All output first, as the client reads it before the exit status; a background process
	// still holding the pipes keeps the channel open, as with sshd.
	out.Wait()
	for _, f := range outputs {
		f.Close()
	}

	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		ss.srv.logf("%s: pid %d killed by signal %v", ss.prefix, p.pid, ws.Signal())
		ss.ch.SendRequest("exit-signal", false, ssh.Marshal(&exitSignalMsg{
			Signal:     signalName(ws.Signal()),
			CoreDumped: ws.CoreDump(),
		}))
	} else {
		ss.srv.logf("%s: pid %d exited with status %d", ss.prefix, p.pid, ws.ExitStatus())
		ss.ch.SendRequest("exit-status", false, ssh.Marshal(&exitStatusMsg{Status: uint32(ws.ExitStatus())}))
	}
	ss.ch.CloseWrite()
	ss.ch.Close()
}

// copyOutput copies a pipe or a pty master to the channel until EOF. A pty master reads EIO
// once no process has the terminal open any more: that is its EOF.
func copyOutput(w io.Writer, r *os.File) {
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hangup runs once the channel is closed. With a pty, it closes the master: the kernel then
// hangs the terminal up and sends SIGHUP to the session leader and the foreground process group.
// Without a pty, sshd only closes its ends of the pipes: the command keeps running.
func (ss *session) hangup() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.hungUp {
		return
	}
	ss.hungUp = true
	if ss.pts != nil {
		ss.pts.Close()
		ss.pts = nil
	}
	if ss.ptm != nil {
		ss.ptm.Close()
	}
	if ss.stdin != nil {
		ss.stdin.Close()
	}
	for _, f := range ss.outputs {
		f.Close()
	}
}

// process is a command the server started. Its pid is also its process group and session id.
type process struct {
	cmd *exec.Cmd
	pid int

	mu        sync.Mutex
	exited    bool // reaped: the pid may be reused, never signal it again
	leftovers bool // when it exited, other processes were left in its session
}

// wait waits for the command to exit and reaps it. It waits without reaping first, so that
// signal and kill, which hold p.mu, never target a pid that has been reaped and reused, and so
// that what the command left behind in its session can be told apart.
func (p *process) wait() {
	waitExited(p.pid)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leftovers = len(sessionMembers(p.pid)) > 1
	p.cmd.Wait()
	p.exited = true
}

func (p *process) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return errors.New("sshtest: command has exited")
	}
	// sshd: killpg(s->pid, sig).
	return syscall.Kill(-p.pid, sig)
}

// kill kills the command's process group and whatever else is left in its session, and reports
// whether anything may be left to wait for.
func (p *process) kill() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited && !p.leftovers {
		// Nothing was left: the ids may belong to someone else by now.
		return false
	}
	// A session outlives its leader while a member (a background job) does, and its id
	// cannot be reused until then.
	syscall.Kill(-p.pid, syscall.SIGKILL)
	for _, pid := range sessionMembers(p.pid) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return true
}

// gone reports whether nothing is left running of the command: its leader is reaped and no
// process of its session is alive (zombies waiting for an init that may never reap them count
// as gone).
func (p *process) gone() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exited {
		return false
	}
	if !p.leftovers {
		return true
	}
	for _, pid := range sessionMembers(p.pid) {
		if ProcessAlive(pid) {
			return false
		}
	}
	return true
}
