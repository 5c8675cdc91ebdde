package sshtest

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Config configures a [Server]. The zero value is a server that accepts no one: set
// AuthorizedKeys, Password or KeyboardInteractive.
type Config struct {
	// HostKey is the server's host key; nil means a fresh ed25519 key.
	HostKey ssh.Signer
	// IgnoreSessions makes the server leave session channel opens
	// unanswered — a server that authenticates, answers keepalives, and
	// then hangs.
	IgnoreSessions bool
	// MoreHostKeys are further host keys of other types, as a Debian
	// server has ECDSA and RSA keys beside its Ed25519 one; the client's
	// preference picks which one it is shown.
	MoreHostKeys []ssh.Signer
	// AuthorizedKeys are accepted for "publickey" authentication.
	AuthorizedKeys []ssh.PublicKey
	// User, when non-empty, is the only user name that may log in.
	User string
	// Password, when non-empty, enables "password" authentication with this password.
	Password string
	// KeyboardInteractive, when non-empty, enables "keyboard-interactive" authentication: one
	// question, "Verification code: " with echo off, whose answer must be this.
	KeyboardInteractive string
	// Shell runs exec requests as Shell -c <command>, as sshd runs the user's shell; default /bin/sh.
	Shell string
	// Env is the whole environment of commands (HOME, SHELL, PATH, …), to which the server adds
	// what sshd adds (SSH_CLIENT, SSH_CONNECTION, SSH_TTY, TERM) and accepted "env" requests.
	// nil means a minimal one: PATH=/usr/bin:/bin, HOME=Dir, SHELL=Shell, USER and LOGNAME.
	Env []string
	// AcceptEnv lists the name patterns ("LC_*") of "env" requests that are accepted and set, like
	// sshd_config's AcceptEnv; others are refused. nil means Debian's default: LANG and LC_*.
	AcceptEnv []string
	// Dir is the working directory of commands; empty means a fresh t.TempDir().
	Dir string
	// Dial connects "direct-tcpip" channels; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logf, when set, receives what the server does (e.g. t.Logf). It never receives a password
	// or an answer.
	Logf func(format string, args ...any)
}

// Server is an in-process SSH server on loopback, started by [Start].
type Server struct {
	cfg    Config
	sshCfg *ssh.ServerConfig
	ln     net.Listener
	ctx    context.Context // ends at Close: bounds dials
	cancel context.CancelFunc

	accepted     atomic.Int64
	authAttempts atomic.Int64

	blackhole     chan struct{} // closed by Blackhole
	blackholeOnce sync.Once

	mu       sync.Mutex
	closed   bool
	conns    map[*conn]struct{}
	procs    []*process // every command started, running or not: Close kills what they left
	commands []string

	wg        sync.WaitGroup // every goroutine the server starts
	closeOnce sync.Once
	closeErr  error
}

// Start starts a server on 127.0.0.1:0 for the duration of the test. The test's Cleanup closes
// it, waits for every goroutine it started, and kills and reaps every command it ran.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := newServer(cfg)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("sshtest: close: %v", err)
		}
	})
	return s
}

func newServer(cfg Config) (*Server, error) {
	if cfg.HostKey == nil {
		signer, _, err := newEd25519()
		if err != nil {
			return nil, fmt.Errorf("host key: %w", err)
		}
		cfg.HostKey = signer
	}
	if cfg.Shell == "" {
		cfg.Shell = "/bin/sh"
	}
	if cfg.AcceptEnv == nil {
		cfg.AcceptEnv = []string{"LANG", "LC_*"}
	}
	for _, p := range cfg.AcceptEnv {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("AcceptEnv pattern %q: %w", p, err)
		}
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:       cfg,
		ln:        ln,
		ctx:       ctx,
		cancel:    cancel,
		blackhole: make(chan struct{}),
		conns:     make(map[*conn]struct{}),
	}
	s.sshCfg = s.serverConfig()
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *Server) serverConfig() *ssh.ServerConfig {
	c := &ssh.ServerConfig{
		// OpenSSH's default MaxAuthTries is 6, as is x/crypto's (0 means 6).
		PublicKeyCallback: func(md ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.authAttempts.Add(1)
			if !s.userAllowed(md) {
				return nil, errors.New("sshtest: user not allowed")
			}
			want := key.Marshal()
			for _, k := range s.cfg.AuthorizedKeys {
				if subtle.ConstantTimeCompare(k.Marshal(), want) == 1 {
					s.logf("sshtest: %s: publickey %s accepted for %q", md.RemoteAddr(), key.Type(), md.User())
					return &ssh.Permissions{}, nil
				}
			}
			s.logf("sshtest: %s: publickey %s refused for %q", md.RemoteAddr(), key.Type(), md.User())
			return nil, errors.New("sshtest: key not authorized")
		},
	}
	if s.cfg.Password != "" {
		c.PasswordCallback = func(md ssh.ConnMetadata, password []byte) (*ssh.Permissions, error) {
			s.authAttempts.Add(1)
			ok := s.userAllowed(md) && subtle.ConstantTimeCompare(password, []byte(s.cfg.Password)) == 1
			s.logf("sshtest: %s: password for %q: accepted=%v", md.RemoteAddr(), md.User(), ok)
			if !ok {
				return nil, errors.New("sshtest: wrong password")
			}
			return &ssh.Permissions{}, nil
		}
	}
	if s.cfg.KeyboardInteractive != "" {
		c.KeyboardInteractiveCallback = func(md ssh.ConnMetadata, challenge ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			// Ask even for a user that is not allowed, as sshd (PAM) does, so the client cannot
			// tell a bad user name from a bad answer.
			answers, err := challenge("", "", []string{"Verification code: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			s.authAttempts.Add(1)
			ok := s.userAllowed(md) && len(answers) == 1 &&
				subtle.ConstantTimeCompare([]byte(answers[0]), []byte(s.cfg.KeyboardInteractive)) == 1
			s.logf("sshtest: %s: keyboard-interactive for %q: accepted=%v", md.RemoteAddr(), md.User(), ok)
			if !ok {
				return nil, errors.New("sshtest: wrong verification code")
			}
			return &ssh.Permissions{}, nil
		}
	}
	c.AddHostKey(s.cfg.HostKey)
	for _, k := range s.cfg.MoreHostKeys {
		c.AddHostKey(k)
	}
	return c
}

func (s *Server) userAllowed(md ssh.ConnMetadata) bool {
	return s.cfg.User == "" || md.User() == s.cfg.User
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// Addr returns the address the server listens on, "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// PublicKey returns the server's host key.
func (s *Server) PublicKey() ssh.PublicKey { return s.cfg.HostKey.PublicKey() }

// Accepted returns how many TCP connections the server has accepted so far.
func (s *Server) Accepted() int { return int(s.accepted.Load()) }

// AuthAttempts returns how many credential-carrying authentication attempts the server has seen
// so far: password, keyboard-interactive answers, and each distinct public key offered (x/crypto
// asks once per key, whether the client only queries it or signs with it). The "none" probe is
// not counted.
func (s *Server) AuthAttempts() int { return int(s.authAttempts.Load()) }

// Commands returns the commands of the exec requests received so far, in order.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands)
}

// Blackhole turns every connection, current and future, into a dead link until Close: the
// server stops reading (what the client sends is never processed, so keepalives go unanswered)
// and stops writing (nothing more arrives at the client). Commands keep running.
func (s *Server) Blackhole() {
	s.blackholeOnce.Do(func() {
		s.logf("sshtest: blackhole: every connection is now a dead link")
		close(s.blackhole)
	})
}

// Close stops the server: it closes the listener and every connection, kills every command it
// started (SIGKILL to its process group and to whatever is left in its session), and waits for
// all of it. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		conns := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		procs := slices.Clone(s.procs)
		s.mu.Unlock()

		if err := s.ln.Close(); err != nil {
			s.closeErr = err
		}
		s.cancel()
		for _, c := range conns {
			c.Close()
		}
		for _, p := range procs {
			p.kill()
		}
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			// Something ignores being closed; say so rather than hang the whole test binary
			// silently, then keep waiting: returning would leak what the test must not leak.
			s.logf("sshtest: close: still waiting for goroutines or commands after 10s")
			<-done
		}
		// SIGKILL is delivered asynchronously: wait until what was killed is really gone,
		// killing again whatever a dying shell may have started meanwhile.
		deadline := time.Now().Add(10 * time.Second)
		for _, p := range procs {
			for !p.gone() {
				if time.Now().After(deadline) {
					s.closeErr = errors.Join(s.closeErr, fmt.Errorf("sshtest: processes of pid %d still running after SIGKILL", p.pid))
					break
				}
				p.kill()
				time.Sleep(5 * time.Millisecond)
			}
		}
	})
	return s.closeErr
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.logf("sshtest: accept: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.accepted.Add(1)
		c := newConn(nc, s.blackhole)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handleConn(c)
	}
}

func (s *Server) handleConn(c *conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	sc, chans, reqs, err := ssh.NewServerConn(c, s.sshCfg)
	if err != nil {
		s.logf("sshtest: %s: handshake: %v", c.RemoteAddr(), err)
		return
	}
	s.logf("sshtest: %s: logged in as %q", c.RemoteAddr(), sc.User())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for req := range reqs {
			// OpenSSH answers every global request it does not implement, keepalive@openssh.com
			// included, with SSH_MSG_REQUEST_FAILURE: the client's keepalive only needs a reply.
			s.logf("sshtest: %s: global request %q refused", c.RemoteAddr(), req.Type)
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}()
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			if s.cfg.IgnoreSessions {
				// Never answered: the channel stays half-open until the
				// connection ends.
				s.logf("sshtest: %s: session channel left unanswered", c.RemoteAddr())
				continue
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.handleSession(sc, nc)
			}()
		case "direct-tcpip":
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.handleDirectTCPIP(nc)
			}()
		default:
			s.logf("sshtest: %s: channel type %q refused", c.RemoteAddr(), nc.ChannelType())
			nc.Reject(ssh.UnknownChannelType, "unknown channel type")
		}
	}
	sc.Wait()
	s.logf("sshtest: %s: connection closed", c.RemoteAddr())
}

// track registers a started command so that Close kills it. It fails once the server is closed.
func (s *Server) track(p *process, start func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("sshtest: server closed")
	}
	if err := start(); err != nil {
		return err
	}
	s.procs = append(s.procs, p)
	return nil
}

func (s *Server) recordCommand(cmd string) {
	s.mu.Lock()
	s.commands = append(s.commands, cmd)
	s.mu.Unlock()
}

// envAccepted reports whether an "env" request for name is accepted, like sshd's AcceptEnv.
func (s *Server) envAccepted(name string) bool {
	for _, p := range s.cfg.AcceptEnv {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// MapLoopback returns a [Config.Dial] that sends connections for 127.0.0.1 or localhost to the
// same port on host (e.g. "127.0.0.2"): the server's "remote loopback" then differs from the
// test's own 127.0.0.1, as a VPS's does from a laptop's.
func MapLoopback(host string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		h, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if h == "127.0.0.1" || h == "localhost" {
			addr = net.JoinHostPort(host, port)
		}
		return d.DialContext(ctx, network, addr)
	}
}
