package sshtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// dial connects to srv with auth, checking the host key, and closes the client at the end of
// the test.
func dial(t *testing.T, srv *Server, user string, auth ...ssh.AuthMethod) *ssh.Client {
	t.Helper()
	c, err := dialErr(srv, user, auth...)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialErr(srv *Server, user string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	return ssh.Dial("tcp", srv.Addr(), &ssh.ClientConfig{
		User:            user,
		Auth:            auth,
		HostKeyCallback: ssh.FixedHostKey(srv.PublicKey()),
		Timeout:         5 * time.Second,
	})
}

// keyServer starts a server that accepts one fresh key and returns a client logged in with it.
func keyServer(t *testing.T, cfg Config) (*Server, *ssh.Client) {
	t.Helper()
	signer, _ := NewKey(t)
	cfg.AuthorizedKeys = append(cfg.AuthorizedKeys, signer.PublicKey())
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	srv := Start(t, cfg)
	return srv, dial(t, srv, "alice", ssh.PublicKeys(signer))
}

func newSession(t *testing.T, c *ssh.Client) *ssh.Session {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readPIDs reads one line of space-separated pids from r.
func readPIDs(t *testing.T, r *bufio.Reader) []int {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading pids: %v (got %q)", err, line)
	}
	var pids []int
	for _, f := range strings.Fields(line) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pid line %q: %v", line, err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExecWithoutPTY(t *testing.T) {
	t.Parallel()
	srv, c := keyServer(t, Config{})
	s := newSession(t, c)
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	s.Stdin = strings.NewReader("from stdin\n")
	err := s.Run(`read line; echo "out: $line"; echo err >&2; echo "tty: $SSH_TTY"; exit 3`)
	var exit *ssh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 3 || exit.Signal() != "" {
		t.Fatalf("Run: %v, want exit status 3", err)
	}
	if got, want := stdout.String(), "out: from stdin\ntty: \n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got, want := stderr.String(), "err\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
	if got := srv.Commands(); len(got) != 1 || !strings.HasPrefix(got[0], "read line;") {
		t.Errorf("Commands() = %q", got)
	}
}

func TestExecEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, c := keyServer(t, Config{
		Dir: dir,
		Env: []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "SSH_CLIENT=overridden-by-sshd"},
	})
	s := newSession(t, c)
	if err := s.Setenv("LC_ALL", "C.UTF-8"); err != nil {
		t.Errorf("Setenv(LC_ALL) refused: %v", err)
	}
	if err := s.Setenv("SECRET", "x"); err == nil {
		t.Errorf("Setenv(SECRET) accepted; sshd's default AcceptEnv refuses it")
	}
	out, err := s.Output(`echo "$0|$PWD|$HOME|$LC_ALL|${SECRET-unset}|$SSH_CLIENT|$SSH_CONNECTION"`)
	if err != nil {
		t.Fatalf("Output: %v", err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), "|")
	if len(f) != 7 || f[0] != "sh" || f[1] != dir || f[2] != "/nonexistent" || f[3] != "C.UTF-8" || f[4] != "unset" {
		t.Fatalf("environment = %q", out)
	}
	laddr := c.LocalAddr().(*net.TCPAddr)
	if want := fmt.Sprintf("127.0.0.1 %d ", laddr.Port); !strings.HasPrefix(f[5], want) {
		t.Errorf("SSH_CLIENT = %q, want prefix %q", f[5], want)
	}
	if want := fmt.Sprintf("127.0.0.1 %d 127.0.0.1 ", laddr.Port); !strings.HasPrefix(f[6], want) {
		t.Errorf("SSH_CONNECTION = %q, want prefix %q", f[6], want)
	}
}

func TestExecWithPTY(t *testing.T) {
	t.Parallel()
	_, c := keyServer(t, Config{})
	s := newSession(t, c)
	if err := s.RequestPty("xterm-256color", 40, 100, ssh.TerminalModes{}); err != nil {
		t.Fatalf("RequestPty: %v", err)
	}
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	err := s.Run(`echo out; echo err >&2; echo "$TERM $(stty size)"; [ -t 0 ] && [ "$SSH_TTY" = "$(tty)" ] && echo tty`)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// One stream, with the terminal's \r\n.
	if got, want := stdout.String(), "out\r\nerr\r\nxterm-256color 40 100\r\ntty\r\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr = %q, want nothing: a pty merges it", stderr.String())
	}
}

func TestPTYModesAndWindowChange(t *testing.T) {
	t.Parallel()
	_, c := keyServer(t, Config{})
	for _, echo := range []uint32{0, 1} {
		t.Run(fmt.Sprintf("echo=%d", echo), func(t *testing.T) {
			s := newSession(t, c)
			if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{ssh.ECHO: echo}); err != nil {
				t.Fatal(err)
			}
			stdin, _ := s.StdinPipe()
			stdout, _ := s.StdoutPipe()
			if err := s.Start(`stty size; read x; stty size; echo "[$x]"`); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(stdout)
			if line, _ := r.ReadString('\n'); line != "24 80\r\n" {
				t.Fatalf("first size %q", line)
			}
			if err := s.WindowChange(50, 132); err != nil {
				t.Fatal(err)
			}
			// Requests are handled in order, but data is copied apart from them: a request
			// that wants a reply is the barrier that says the window change is done.
			s.SendRequest("barrier@sshtest", true, nil)
			io.WriteString(stdin, "secret\n")
			rest, _ := io.ReadAll(r)
			want := "50 132\r\n[secret]\r\n"
			if echo == 1 {
				want = "secret\r\n" + want
			}
			if string(rest) != want {
				t.Errorf("output %q, want %q", rest, want)
			}
			if err := s.Wait(); err != nil {
				t.Errorf("Wait: %v", err)
			}
		})
	}
}

func TestPTYCloseHangsUp(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"session", "connection"} {
		t.Run("close "+how, func(t *testing.T) {
			t.Parallel()
			srv, c := keyServer(t, Config{})
			s := newSession(t, c)
			if err := s.RequestPty("xterm", 24, 80, nil); err != nil {
				t.Fatal(err)
			}
			stdout, _ := s.StdoutPipe()
			// The shell records the SIGHUP; its background job, in the foreground process
			// group, must go too.
			if err := s.Start(`trap 'echo hup > hup; exit 0' HUP; sleep 30 & echo $$ $!; wait`); err != nil {
				t.Fatal(err)
			}
			pids := readPIDs(t, bufio.NewReader(stdout))
			// Until the job has exec'd sleep it runs the shell's code with the shell's HUP
			// trap, and would swallow the signal: a race of the shell's, not the server's.
			eventually(t, "the job runs sleep", func() bool {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pids[1]))
				return string(b) == "sleep\x0030\x00"
			})
			if how == "session" {
				s.Close()
			} else {
				c.Close()
			}
			for _, pid := range pids {
				eventually(t, fmt.Sprintf("pid %d is gone", pid), func() bool { return !ProcessAlive(pid) })
			}
			_ = pids
			b, err := os.ReadFile(filepath.Join(srv.cfg.Dir, "hup"))
			if err != nil || string(b) != "hup\n" {
				t.Errorf("the shell got no SIGHUP: %q, %v", b, err)
			}
		})
	}
}

func TestNoPTYCloseLeavesCommandRunning(t *testing.T) {
	t.Parallel()
	var pids []int
	t.Run("server", func(t *testing.T) {
		_, c := keyServer(t, Config{})
		s := newSession(t, c)
		stdout, _ := s.StdoutPipe()
		// A job in a process group of its own must not escape Cleanup either.
		if err := s.Start(`set -m; sleep 30 & echo $$ $!; exec sleep 31`); err != nil {
			t.Fatal(err)
		}
		pids = readPIDs(t, bufio.NewReader(stdout))
		s.Close()
		c.Close()
		time.Sleep(200 * time.Millisecond)
		for _, pid := range pids {
			if !ProcessAlive(pid) {
				t.Errorf("pid %d is gone after the client left; sshd leaves a command without pty running", pid)
			}
		}
	})
	// The subtest's Cleanup closed its server.
	if len(pids) != 2 {
		t.Fatalf("pids = %v", pids)
	}
	for _, pid := range pids {
		if ProcessAlive(pid) {
			t.Errorf("pid %d outlived the server's Cleanup", pid)
		}
	}
}

func TestSignal(t *testing.T) {
	t.Parallel()
	_, c := keyServer(t, Config{})
	s := newSession(t, c)
	stdout, _ := s.StdoutPipe()
	if err := s.Start(`echo started; exec sleep 30`); err != nil {
		t.Fatal(err)
	}
	bufio.NewReader(stdout).ReadString('\n')
	if err := s.Signal(ssh.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := s.Wait()
	var exit *ssh.ExitError
	if !errors.As(err, &exit) || exit.Signal() != "TERM" {
		t.Fatalf("Wait: %v, want exit-signal TERM", err)
	}
}

func TestShellRefused(t *testing.T) {
	t.Parallel()
	srv, c := keyServer(t, Config{})
	s := newSession(t, c)
	if err := s.Shell(); err == nil {
		t.Fatal("shell request accepted")
	}
	if got := srv.Commands(); len(got) != 0 {
		t.Errorf("Commands() = %q", got)
	}
}

func TestConcurrentSessions(t *testing.T) {
	t.Parallel()
	signer, _ := NewKey(t)
	srv := Start(t, Config{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := range 3 {
		c := dial(t, srv, "bob", ssh.PublicKeys(signer))
		for j := range 4 {
			wg.Go(func() {
				s, err := c.NewSession()
				if err != nil {
					errs <- err
					return
				}
				defer s.Close()
				want := fmt.Sprintf("%d-%d", i, j)
				out, err := s.CombinedOutput("echo " + want)
				if err != nil || string(out) != want+"\n" {
					errs <- fmt.Errorf("session %s: %q, %v", want, out, err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := srv.Accepted(); got != 3 {
		t.Errorf("Accepted() = %d, want 3", got)
	}
	if got := len(srv.Commands()); got != 12 {
		t.Errorf("%d commands recorded, want 12", got)
	}
}

// halfCloseServer answers each connection, once the peer has half-closed, with "got: " and
// what it read.
func halfCloseServer(t *testing.T, host string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				fmt.Fprintf(c, "got: %s", b)
			})
		}
	})
	return ln
}

func TestDirectTCPIP(t *testing.T) {
	t.Parallel()
	ln := halfCloseServer(t, "127.0.0.1")
	_, c := keyServer(t, Config{})
	conn, err := c.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "hello")
	// Half-close: the target sees EOF and still answers.
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(conn)
	if err != nil || string(b) != "got: hello" {
		t.Fatalf("read %q, %v", b, err)
	}

	// Refused: nothing listens there any more.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	_, err = c.Dial("tcp", deadAddr)
	var open *ssh.OpenChannelError
	if !errors.As(err, &open) || open.Reason != ssh.ConnectionFailed || open.Message != "Connection refused" {
		t.Fatalf("Dial(%s) = %v, want ConnectionFailed \"Connection refused\"", deadAddr, err)
	}
}

func TestMapLoopback(t *testing.T) {
	t.Parallel()
	// The "remote" service listens on 127.0.0.2 only; the client asks for 127.0.0.1.
	ln := halfCloseServer(t, "127.0.0.2")
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_, c := keyServer(t, Config{Dial: MapLoopback("127.0.0.2")})
	conn, err := c.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "remote")
	conn.(interface{ CloseWrite() error }).CloseWrite()
	if b, _ := io.ReadAll(conn); string(b) != "got: remote" {
		t.Fatalf("read %q", b)
	}
}

func TestKeepaliveAndBlackhole(t *testing.T) {
	t.Parallel()
	srv, c := keyServer(t, Config{})
	ok, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
	if err != nil || ok {
		t.Fatalf("keepalive: %v, %v; want a failure reply, as OpenSSH sends", ok, err)
	}

	srv.Blackhole()
	replied := make(chan error, 1)
	go func() {
		_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
		replied <- err
	}()
	select {
	case err := <-replied:
		t.Fatalf("keepalive answered through a blackhole: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	c.Close()
	if err := <-replied; err == nil {
		t.Error("keepalive succeeded after the client closed")
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	good, _ := NewKey(t)
	bad, _ := NewKey(t)
	srv := Start(t, Config{
		AuthorizedKeys:      []ssh.PublicKey{good.PublicKey()},
		User:                "alice",
		Password:            "pw",
		KeyboardInteractive: "123456",
		Logf:                t.Logf,
	})
	answer := func(a string) ssh.AuthMethod {
		return ssh.KeyboardInteractive(func(name, instruction string, questions []string, echos []bool) ([]string, error) {
			if len(questions) != 1 || questions[0] != "Verification code: " || echos[0] {
				return nil, fmt.Errorf("unexpected challenge %q %v", questions, echos)
			}
			return []string{a}, nil
		})
	}
	tests := []struct {
		name     string
		user     string
		auth     ssh.AuthMethod
		ok       bool
		attempts int
	}{
		{"publickey", "alice", ssh.PublicKeys(good), true, 1},
		{"unknown key", "alice", ssh.PublicKeys(bad), false, 1},
		{"password", "alice", ssh.Password("pw"), true, 1},
		{"wrong password", "alice", ssh.Password("nope"), false, 1},
		{"keyboard-interactive", "alice", answer("123456"), true, 1},
		{"wrong code", "alice", answer("000000"), false, 1},
		{"other user, right key", "mallory", ssh.PublicKeys(good), false, 1},
		{"other user, right password", "mallory", ssh.Password("pw"), false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.AuthAttempts()
			c, err := dialErr(srv, tt.user, tt.auth)
			if c != nil {
				c.Close()
			}
			if (err == nil) != tt.ok {
				t.Errorf("dial: %v, want ok=%v", err, tt.ok)
			}
			if got := srv.AuthAttempts() - before; got != tt.attempts {
				t.Errorf("%d auth attempts counted, want %d", got, tt.attempts)
			}
		})
	}
}

func TestAuthMethodsOffered(t *testing.T) {
	t.Parallel()
	// Only publickey is offered by default: a password is never even asked for.
	srv := Start(t, Config{})
	asked := false
	_, err := dialErr(srv, "alice", ssh.PasswordCallback(func() (string, error) { asked = true; return "x", nil }))
	if err == nil || asked {
		t.Fatalf("dial: %v, password asked: %v", err, asked)
	}
	if srv.AuthAttempts() != 0 {
		t.Errorf("AuthAttempts() = %d, want 0", srv.AuthAttempts())
	}
}

func TestHostKeyRefusedBeforeAuth(t *testing.T) {
	t.Parallel()
	signer, _ := NewKey(t)
	other, _ := NewKey(t)
	srv := Start(t, Config{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
	_, err := ssh.Dial("tcp", srv.Addr(), &ssh.ClientConfig{
		User:            "alice",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(other.PublicKey()),
	})
	if err == nil {
		t.Fatal("dial succeeded with the wrong host key")
	}
	if srv.Accepted() != 1 || srv.AuthAttempts() != 0 {
		t.Errorf("Accepted() = %d, AuthAttempts() = %d; want 1, 0", srv.Accepted(), srv.AuthAttempts())
	}
}

func TestWriteKeyFile(t *testing.T) {
	t.Parallel()
	signer, priv := NewKey(t)
	dir := t.TempDir()
	for _, pass := range []string{"", "correct horse"} {
		path := filepath.Join(dir, "id_"+strconv.Itoa(len(pass)))
		WriteKeyFile(t, path, priv, pass)
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode: %v, %v", fi.Mode(), err)
		}
		pem, _ := os.ReadFile(path)
		var parsed ssh.Signer
		if pass == "" {
			parsed, err = ssh.ParsePrivateKey(pem)
		} else {
			if _, err := ssh.ParsePrivateKey(pem); !errors.As(err, new(*ssh.PassphraseMissingError)) {
				t.Errorf("encrypted key parsed without passphrase: %v", err)
			}
			parsed, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(pass))
		}
		if err != nil || !bytes.Equal(parsed.PublicKey().Marshal(), signer.PublicKey().Marshal()) {
			t.Fatalf("parse %s: %v", path, err)
		}
		pub, _ := os.ReadFile(path + ".pub")
		pk, comment, _, _, err := ssh.ParseAuthorizedKey(pub)
		if err != nil || comment != "sshtest" || !bytes.Equal(pk.Marshal(), signer.PublicKey().Marshal()) {
			t.Fatalf("parse %s.pub: %v", path, err)
		}
	}
}
