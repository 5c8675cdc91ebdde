package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"

	"github.com/codex-remote-login/codex-remote-login/internal/fakecodex"
	"github.com/codex-remote-login/codex-remote-login/internal/sshtest"
)

// mainEnvVar makes the test binary run main(), so that the real signal
// handling is tested in a real process (signal_test.go).
const mainEnvVar = "CODEX_REMOTE_LOGIN_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(fakecodex.EnvVar) == "1" {
		os.Exit(fakecodex.Main(os.Args[1:]))
	}
	if os.Getenv(mainEnvVar) == "1" {
		main() // signal_test.go: the real CLI in a process of its own
	}
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe for the goroutines that print progress.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testBrowser plays the browser and the issuer: it sends the redirect the
// issuer would (redirect_uri?code=…&state=…) and follows codex's redirect to
// /success, as a browser does.
type testBrowser struct {
	t      *testing.T
	follow bool // false: open nothing, like a user who never signs in

	mu     sync.Mutex
	opened []string
	status int
	final  string
	wg     sync.WaitGroup
}

const testCode = "test-authorization-code-4f1d"

func newTestBrowser(t *testing.T, follow bool) *testBrowser {
	b := &testBrowser{t: t, follow: follow}
	t.Cleanup(b.wg.Wait)
	return b
}

func (b *testBrowser) Open(ctx context.Context, authURL string) error {
	b.mu.Lock()
	b.opened = append(b.opened, authURL)
	b.mu.Unlock()
	if !b.follow {
		return nil
	}
	u, err := url.Parse(authURL)
	if err != nil {
		return err
	}
	q := u.Query()
	cb, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		return err
	}
	cb.RawQuery = url.Values{"code": {testCode}, "state": {q.Get("state")}}.Encode()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
		resp, err := client.Get(cb.String())
		if err != nil {
			b.t.Logf("test browser: %v", err)
			return
		}
		resp.Body.Close()
		b.mu.Lock()
		b.status, b.final = resp.StatusCode, resp.Request.URL.Path
		b.mu.Unlock()
	}()
	return nil
}

func (b *testBrowser) calls() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.opened...)
}

// world is a laptop and a VPS for the login flow: the VPS is an in-process
// SSH server whose "codex" is the fake one, reached through the user's login
// shell, serving its callback on 127.0.0.2 — the VPS's own loopback — at the
// same port the laptop forwards from 127.0.0.1.
type world struct {
	t          *testing.T
	laptopHome string
	keyPath    string
	key        ssh.Signer
	vpsHome    string
	codexHome  string
	pidFile    string
	port       int
	vpsEnv     []string
	vps        *sshtest.Server
	browser    *testBrowser
	stdout     syncBuffer
	stderr     syncBuffer
}

func newWorld(t *testing.T, codexEnv ...string) *world {
	t.Helper()
	w := &world{t: t, laptopHome: t.TempDir(), vpsHome: t.TempDir()}
	w.codexHome = filepath.Join(w.vpsHome, ".codex")
	w.pidFile = filepath.Join(w.vpsHome, "codex.pid")
	w.port = callbackPort(t)
	signer, priv := sshtest.NewKey(t)
	w.key = signer
	os.MkdirAll(filepath.Join(w.laptopHome, ".ssh"), 0o700)
	w.keyPath = filepath.Join(w.laptopHome, ".ssh", "id_ed25519")
	sshtest.WriteKeyFile(t, w.keyPath, priv, "")

	bin := filepath.Join(w.vpsHome, "npm-global", "bin")
	os.MkdirAll(bin, 0o755)
	codexVar := fakecodex.Install(t, bin)
	// As npm's instructions have it: PATH set in ~/.profile only.
	os.WriteFile(filepath.Join(w.vpsHome, ".profile"), []byte(`PATH="$HOME/npm-global/bin:$PATH"`+"\n"), 0o644)
	w.vpsEnv = append([]string{
		"HOME=" + w.vpsHome, "SHELL=/bin/bash", "PATH=/usr/bin:/bin", "USER=dev",
		codexVar,
		"FAKE_CODEX_LISTEN=127.0.0.2",
		"FAKE_CODEX_PORT=" + strconv.Itoa(w.port),
		"FAKE_CODEX_FALLBACK_PORT=" + strconv.Itoa(callbackPort(t)),
		"FAKE_CODEX_PIDFILE=" + w.pidFile,
	}, codexEnv...)
	w.vps = w.startVPS()
	w.browser = newTestBrowser(t, true)
	return w
}

func (w *world) startVPS() *sshtest.Server {
	return sshtest.Start(w.t, sshtest.Config{
		AuthorizedKeys: []ssh.PublicKey{w.key.PublicKey()},
		User:           "dev",
		Shell:          "/bin/bash",
		Env:            w.vpsEnv,
		Dir:            w.vpsHome,
		Dial:           sshtest.MapLoopback("127.0.0.2"),
	})
}

// callbackPort finds a port free on both loopbacks.
func callbackPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.2:%d", port))
		l1.Close()
		if err == nil {
			l2.Close()
			return port
		}
	}
	t.Skip("127.0.0.2 is not usable as a second loopback here")
	return 0
}

func (w *world) env() *env {
	return &env{
		stdout:  &w.stdout,
		stderr:  &w.stderr,
		getenv:  func(k string) string { return map[string]string{"HOME": w.laptopHome, "USER": "laptopuser"}[k] },
		browser: w.browser,
		// Not this machine's /etc/ssh/ssh_config: tests see only their own.
		sshSystemConfig: filepath.Join(w.laptopHome, "no-system-config"),
	}
}

// args are the common options for a run against the VPS.
func (w *world) args(extra ...string) []string {
	return append([]string{"codex-remote-login", "-p", strconv.Itoa(w.vps.Port()), "-i", w.keyPath, "--accept-new", "-o", "GlobalKnownHostsFile=none"}, extra...)
}

func (w *world) run(ctx context.Context, args ...string) int {
	w.t.Helper()
	code := run(ctx, args, w.env())
	w.t.Logf("exit %d\nstdout:\n%s\nstderr:\n%s", code, w.stdout.String(), w.stderr.String())
	return code
}

// checkClean asserts what a user would check after any run: no codex left
// on the VPS, the laptop's port free again.
func (w *world) checkClean() {
	w.t.Helper()
	if b, err := os.ReadFile(w.pidFile); err == nil {
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		deadline := time.Now().Add(3 * time.Second)
		for sshtest.ProcessAlive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if sshtest.ProcessAlive(pid) {
			w.t.Errorf("the remote codex (pid %d) is still running", pid)
		}
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", w.port))
	if err != nil {
		w.t.Errorf("local port %d still taken: %v", w.port, err)
	} else {
		l.Close()
	}
	if l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.2:%d", w.port)); err != nil {
		w.t.Errorf("remote port %d still taken: %v", w.port, err)
	} else {
		l2.Close()
	}
}

func (w *world) checkLoggedIn() {
	w.t.Helper()
	path := filepath.Join(w.codexHome, "auth.json")
	st, err := os.Stat(path)
	if err != nil {
		w.t.Fatalf("no auth.json on the VPS: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		w.t.Errorf("auth.json mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	var auth struct {
		Mode string `json:"auth_mode"`
	}
	if err := json.Unmarshal(b, &auth); err != nil || auth.Mode != "chatgpt" {
		w.t.Errorf("auth.json auth_mode = %q (%v), want chatgpt", auth.Mode, err)
	}
}

// checkNoSecrets: the authorization code must not be printed, logged, or on
// any remote command line.
func (w *world) checkNoSecrets() {
	w.t.Helper()
	for name, s := range map[string]string{"stdout": w.stdout.String(), "stderr": w.stderr.String(), "remote commands": strings.Join(w.vps.Commands(), "\n")} {
		if strings.Contains(s, testCode) {
			w.t.Errorf("the authorization code appears in %s", name)
		}
	}
}

func inOrder(t *testing.T, s string, steps ...string) {
	t.Helper()
	at := 0
	for _, step := range steps {
		i := strings.Index(s[at:], step)
		if i < 0 {
			t.Errorf("%q missing (or out of order) in:\n%s", step, s)
			return
		}
		at += i + len(step)
	}
}

func TestLoginDirect(t *testing.T) {
	w := newWorld(t)
	code := w.run(context.Background(), w.args("-v", "dev@127.0.0.1")...)
	if code != exitOK {
		t.Fatalf("exit %d, want 0", code)
	}
	want := fmt.Sprintf("signed in: codex on dev@127.0.0.1:%d is logged in with ChatGPT\n", w.vps.Port())
	if w.stdout.String() != want {
		t.Errorf("stdout %q, want %q", w.stdout.String(), want)
	}
	inOrder(t, w.stderr.String(),
		"connecting to dev@127.0.0.1",
		"codex-cli 0.169.0 found on 127.0.0.1",
		fmt.Sprintf("tunnel 127.0.0.1:%d", w.port),
		"opening your browser", "https://auth.openai.com/oauth/authorize?",
		"waiting for you to sign in",
		"callback received")
	if calls := w.browser.calls(); len(calls) != 1 {
		t.Errorf("browser opened %d times", len(calls))
	}
	if w.browser.status != http.StatusOK || w.browser.final != "/success" {
		t.Errorf("browser ended at %s with %d, want /success 200", w.browser.final, w.browser.status)
	}
	if n := w.vps.Accepted(); n != 1 {
		t.Errorf("%d TCP connections to the VPS, want 1", n)
	}
	w.checkLoggedIn()
	w.checkClean()
	w.checkNoSecrets()
}

func TestOptionsAfterDestAndLoginCommand(t *testing.T) {
	for _, layout := range [][]string{
		{"dev@127.0.0.1", "-p", "PORT", "-i", "KEY", "--accept-new", "-oGlobalKnownHostsFile=none"},
		{"login", "-pPORT", "dev@127.0.0.1", "--identity=KEY", "--accept-new", "-o", "GlobalKnownHostsFile=none"},
		{"--accept-new", "login", "ssh://dev@127.0.0.1:PORT", "-i", "KEY", "-o", "GlobalKnownHostsFile=none"},
	} {
		t.Run(strings.Join(layout, " "), func(t *testing.T) {
			w := newWorld(t)
			args := []string{"codex-remote-login"}
			for _, a := range layout {
				a = strings.ReplaceAll(a, "PORT", strconv.Itoa(w.vps.Port()))
				args = append(args, strings.ReplaceAll(a, "KEY", w.keyPath))
			}
			if code := w.run(context.Background(), args...); code != exitOK {
				t.Fatalf("exit %d", code)
			}
			w.checkLoggedIn()
		})
	}
}

func TestLoginThroughJumpHostAlias(t *testing.T) {
	w := newWorld(t)
	jump := sshtest.Start(t, sshtest.Config{
		AuthorizedKeys: []ssh.PublicKey{w.key.PublicKey()},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != "vps.internal:22" {
				return nil, fmt.Errorf("no route to %s", addr)
			}
			return (&net.Dialer{}).DialContext(ctx, network, w.vps.Addr())
		},
	})
	config := fmt.Sprintf(`Host vps
  HostName vps.internal
  User dev
  ProxyJump bastion
Host bastion
  HostName 127.0.0.1
  Port %d
  User ops
Host *
  IdentityFile %s
  IdentitiesOnly yes
`, jump.Port(), w.keyPath)
	os.WriteFile(filepath.Join(w.laptopHome, ".ssh", "config"), []byte(config), 0o600)
	code := w.run(context.Background(), "codex-remote-login", "--accept-new", "-o", "GlobalKnownHostsFile=none", "vps")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if want := "signed in: codex on dev@vps is logged in with ChatGPT\n"; w.stdout.String() != want {
		t.Errorf("stdout %q, want %q", w.stdout.String(), want)
	}
	if !strings.Contains(w.stderr.String(), "connecting to dev@vps (via bastion)") {
		t.Errorf("progress does not name the jump host:\n%s", w.stderr.String())
	}
	if jump.Accepted() != 1 || w.vps.Accepted() != 1 {
		t.Errorf("connections: jump %d, vps %d; want one each", jump.Accepted(), w.vps.Accepted())
	}
	kh, _ := os.ReadFile(filepath.Join(w.laptopHome, ".ssh", "known_hosts"))
	if !strings.Contains(string(kh), fmt.Sprintf("[127.0.0.1]:%d ", jump.Port())) || !strings.Contains(string(kh), "vps.internal ") {
		t.Errorf("each hop's key should be recorded under its own name:\n%s", kh)
	}
	w.checkLoggedIn()
	w.checkClean()
}

// waitFor polls until s contains want.
func waitFor(t *testing.T, s *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(s.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%q never appeared in:\n%s", want, s.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// background runs the CLI in a goroutine. The exit func it returns waits
// for the exit code: the test fails with msg if none comes within the bound,
// and if the code is not want. It returns how long it waited.
func (w *world) background(ctx context.Context, args []string) (exit func(want int, within time.Duration, msg string) time.Duration) {
	w.t.Helper()
	codeCh := make(chan int, 1)
	go func() { codeCh <- run(ctx, args, w.env()) }()
	return func(want int, within time.Duration, msg string) time.Duration {
		w.t.Helper()
		start := time.Now()
		select {
		case code := <-codeCh:
			if code != want {
				w.t.Errorf("exit %d, want %d", code, want)
			}
		case <-time.After(within):
			w.t.Fatal(msg)
		}
		return time.Since(start)
	}
}

func TestInterruptWhileWaiting(t *testing.T) {
	w := newWorld(t)
	w.browser = newTestBrowser(t, false)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	exit := w.background(ctx, w.args("dev@127.0.0.1"))
	waitFor(t, &w.stderr, "waiting for you to sign in")
	cancel(errInterrupted)
	took := exit(exitInterrupted, 5*time.Second, "no exit 5 s after the interrupt")
	if took > 2*time.Second {
		t.Errorf("took %s to exit after the interrupt, want at most 2 s", took)
	}
	t.Logf("exited %s after the interrupt\n%s", took.Round(time.Millisecond), w.stderr.String())
	w.checkClean()
	if _, err := os.Stat(filepath.Join(w.codexHome, "auth.json")); err == nil {
		t.Error("auth.json written by an interrupted login")
	}
}

func TestTimeout(t *testing.T) {
	w := newWorld(t)
	w.browser = newTestBrowser(t, false)
	code := w.run(context.Background(), w.args("--timeout", "1500ms", "dev@127.0.0.1")...)
	if code != exitFailed {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(w.stderr.String(), "error: timed out after 1.5s") || !strings.Contains(w.stderr.String(), "hint: the sign-in did not finish in time") {
		t.Errorf("stderr does not explain the timeout:\n%s", w.stderr.String())
	}
	w.checkClean()
}

func TestRemoteFailures(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		args     []string
		noCodex  bool
		wantErr  string
		wantHint string
	}{
		{name: "codex not installed", noCodex: true, wantErr: "codex not found on the remote host", wantHint: "npm install -g @openai/codex"},
		{name: "--codex wrong", args: []string{"--codex", "/opt/nowhere/codex"}, wantErr: "/opt/nowhere/codex not found", wantHint: "--codex /path/to/codex"},
		{name: "too old", env: []string{"FAKE_CODEX_VERSION=0.19.2"}, wantErr: "codex 0.19.2 is too old", wantHint: "npm install -g @openai/codex@latest"},
		{name: "codex refuses", env: []string{"FAKE_CODEX_FAIL=ChatGPT login is disabled. Use API key login instead."}, wantErr: "Error logging in: ChatGPT login is disabled"},
		{name: "hostile URL", env: []string{"FAKE_CODEX_URL=https://auth.openai.com.evil.example/oauth/authorize?response_type=code"}, wantErr: "refusing authorization URL", wantHint: "nothing was opened"},
		{name: "file URL", env: []string{"FAKE_CODEX_URL=https://auth.openai.com/oauth/authorize?response_type=code&client_id=x&redirect_uri=file%3A%2F%2F%2Fetc%2Fpasswd&code_challenge=x&code_challenge_method=S256&state=x"}, wantErr: "refusing authorization URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, tt.env...)
			if tt.noCodex {
				os.Remove(filepath.Join(w.vpsHome, "npm-global", "bin", "codex"))
			}
			code := w.run(context.Background(), w.args(append(tt.args, "dev@127.0.0.1")...)...)
			if code != exitFailed {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(w.stderr.String(), "codex-remote-login: error: ") || !strings.Contains(w.stderr.String(), tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, w.stderr.String())
			}
			if tt.wantHint != "" && !hasHint(w.stderr.String(), tt.wantHint) {
				t.Errorf("stderr lacks the hint %q:\n%s", tt.wantHint, w.stderr.String())
			}
			if calls := w.browser.calls(); len(calls) != 0 {
				t.Errorf("the browser was opened: %q", calls)
			}
			w.checkClean()
		})
	}
}

// hasHint reports whether a "hint:" line says want.
func hasHint(stderr, want string) bool {
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "hint: ") && strings.Contains(line, want) {
			return true
		}
	}
	return false
}

func TestLocalPortBusy(t *testing.T) {
	w := newWorld(t)
	busy, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", w.port))
	if err != nil {
		t.Fatal(err)
	}
	code := w.run(context.Background(), w.args("dev@127.0.0.1")...)
	busy.Close()
	if code != exitFailed || !strings.Contains(w.stderr.String(), fmt.Sprintf("127.0.0.1:%d", w.port)) {
		t.Errorf("exit %d; the error should name the busy port:\n%s", code, w.stderr.String())
	}
	w.checkClean()
}

func TestConnectionLostWhileWaiting(t *testing.T) {
	w := newWorld(t)
	w.browser = newTestBrowser(t, false)
	exit := w.background(context.Background(), w.args("-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=1", "dev@127.0.0.1"))
	waitFor(t, &w.stderr, "waiting for you to sign in")
	w.vps.Blackhole()
	exit(exitFailed, 10*time.Second, "a dead link was not noticed")
	if !strings.Contains(w.stderr.String(), "lost") || !strings.Contains(w.stderr.String(), "keepalive") {
		t.Errorf("stderr does not say the connection was lost:\n%s", w.stderr.String())
	}
	port, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", w.port))
	if err != nil {
		t.Errorf("local port still taken: %v", err)
	} else {
		port.Close()
	}
}

func TestSecondLoginRightAfter(t *testing.T) {
	w := newWorld(t)
	for i := range 2 {
		w.stdout.b.Reset()
		if code := w.run(context.Background(), w.args("dev@127.0.0.1")...); code != exitOK {
			t.Fatalf("login %d: exit %d", i+1, code)
		}
		w.checkLoggedIn()
		w.checkClean()
	}
}

func TestNoBrowser(t *testing.T) {
	w := newWorld(t)
	w.browser = newTestBrowser(t, false)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	exit := w.background(ctx, w.args("--no-browser", "dev@127.0.0.1"))
	waitFor(t, &w.stderr, "waiting for you to sign in")
	cancel(errInterrupted)
	exit(exitInterrupted, 5*time.Second, "no exit 5 s after the interrupt")
	if calls := w.browser.calls(); len(calls) != 0 {
		t.Errorf("--no-browser opened %q", calls)
	}
	if !strings.Contains(w.stderr.String(), "open this URL in your browser:\n  https://auth.openai.com/oauth/authorize?") {
		t.Errorf("URL not printed:\n%s", w.stderr.String())
	}
	w.checkClean()
}

// TestOldRedirectForm: codex up to about 0.128 wrote localhost in
// redirect_uri; the browser may then come from ::1 as well.
func TestOldRedirectForm(t *testing.T) {
	w := newWorld(t, "FAKE_CODEX_REDIRECT_HOST=localhost")
	if code := w.run(context.Background(), w.args("dev@127.0.0.1")...); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	w.checkLoggedIn()
	w.checkClean()
}

func TestUnknownHostWithoutTerminal(t *testing.T) {
	w := newWorld(t)
	args := []string{"codex-remote-login", "-p", strconv.Itoa(w.vps.Port()), "-i", w.keyPath, "-o", "GlobalKnownHostsFile=none", "dev@127.0.0.1"}
	if code := w.run(context.Background(), args...); code != exitFailed {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(w.stderr.String(), ssh.FingerprintSHA256(w.vps.PublicKey())) || !hasHint(w.stderr.String(), "--accept-new") {
		t.Errorf("stderr should show the fingerprint and the --accept-new hint:\n%s", w.stderr.String())
	}
	if w.vps.AuthAttempts() != 0 {
		t.Error("authenticated to an unverified host")
	}
}

func TestChangedHostKey(t *testing.T) {
	w := newWorld(t)
	other, _ := sshtest.NewKey(t)
	kh := filepath.Join(w.laptopHome, ".ssh", "known_hosts")
	os.WriteFile(kh, []byte(xknownhosts.Line([]string{w.vps.Addr()}, other.PublicKey())+"\n"), 0o600)
	if code := w.run(context.Background(), w.args("dev@127.0.0.1")...); code != exitFailed {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(w.stderr.String(), "REMOTE HOST IDENTIFICATION HAS CHANGED") || !strings.Contains(w.stderr.String(), kh+":1") || !hasHint(w.stderr.String(), "ssh-keygen -R") {
		t.Errorf("stderr should refuse loudly, naming %s:1:\n%s", kh, w.stderr.String())
	}
	if w.vps.AuthAttempts() != 0 {
		t.Error("authenticated to a host whose key changed")
	}
}

func TestUsageErrors(t *testing.T) {
	tests := [][]string{
		{},
		{"a", "b"},
		{"--no-such-flag", "vps"},
		{"-o", "ProxyCommand=nc %h %p", "vps"},
		{"-o", "NoSuchOption=1", "vps"},
		{"-p", "notaport", "vps"},
		{"--timeout", "0s", "vps"},
		{"-oProxyCommand=x"},
		{"--", "-oProxyCommand=x"},
	}
	for _, args := range tests {
		var stdout, stderr syncBuffer
		e := &env{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return map[string]string{"HOME": t.TempDir(), "USER": "u"}[k] }}
		code := run(context.Background(), append([]string{"codex-remote-login"}, args...), e)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, stderr.String())
		}
		if !strings.Contains(stderr.String(), "codex-remote-login: error: ") {
			t.Errorf("%q: no error line:\n%s", args, stderr.String())
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"--help"}, {"vps", "--help"}, {"login", "--help"}} {
		var stdout, stderr syncBuffer
		e := &env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}
		if code := run(context.Background(), append([]string{"codex-remote-login"}, args...), e); code != exitOK {
			t.Errorf("%q: exit %d\n%s", args, code, stderr.String())
		}
		if stdout.String() == "" {
			t.Errorf("%q printed nothing", args)
		}
	}
}

func TestPermute(t *testing.T) {
	app := newApp(&env{stdout: &syncBuffer{}, stderr: &syncBuffer{}, getenv: func(string) string { return "" }})
	tests := []struct{ in, want string }{
		{"vps", "-- vps"},
		{"vps -J jump -v", "-J jump -v -- vps"},
		{"-p 22 vps", "-p 22 -- vps"},
		{"-p2222 vps -oUser=x", "-p 2222 -o User=x -- vps"},
		{"login vps -i k", "login -i k -- vps"},
		{"-v login vps", "login -v -- vps"},
		{"-l login vps", "-l login -- vps"},
		{"-l login login vps", "login -l login -- vps"},
		{"vps -- -x", "-- vps -x"},
		{"-- login", "-- login"},
		{"--timeout=5m vps --no-browser", "--timeout=5m --no-browser -- vps"},
		{"vps --codex-home ~/x", "--codex-home ~/x -- vps"},
	}
	for _, tt := range tests {
		got := strings.Join(permute(app, append([]string{"prog"}, strings.Fields(tt.in)...))[1:], " ")
		if got != tt.want {
			t.Errorf("permute(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestInterruptWhileOpeningSession: a server that authenticates, answers
// keepalives and never answers the session open must not make the CLI deaf
// to Ctrl-C or --timeout.
func TestInterruptWhileOpeningSession(t *testing.T) {
	w := newWorld(t)
	hang := sshtest.Start(t, sshtest.Config{AuthorizedKeys: []ssh.PublicKey{w.key.PublicKey()}, IgnoreSessions: true})
	args := []string{"codex-remote-login", "-p", strconv.Itoa(hang.Port()), "-i", w.keyPath, "--accept-new", "-o", "GlobalKnownHostsFile=none"}

	ctx, cancel := context.WithCancelCause(context.Background())
	exit := w.background(ctx, append(args, "dev@127.0.0.1"))
	waitFor(t, &w.stderr, "connecting to")
	time.Sleep(300 * time.Millisecond) // authenticated, waiting for the session
	cancel(errInterrupted)
	exit(exitInterrupted, 2*time.Second, "Ctrl-C ignored while the session was being opened")

	start := time.Now()
	code := run(context.Background(), append(args, "--timeout", "1s", "dev@127.0.0.1"), w.env())
	if code != exitFailed || time.Since(start) > 3*time.Second {
		t.Errorf("--timeout 1s: exit %d after %s", code, time.Since(start))
	}
}

// TestInterruptOnDeadLink: the link dies silently while the browser has a
// connection open through the tunnel, and keepalives are off: Ctrl-C must
// still end the run within two seconds.
func TestInterruptOnDeadLink(t *testing.T) {
	w := newWorld(t)
	w.browser = newTestBrowser(t, false)
	ctx, cancel := context.WithCancelCause(context.Background())
	exit := w.background(ctx, w.args("-o", "ServerAliveInterval=0", "dev@127.0.0.1"))
	waitFor(t, &w.stderr, "waiting for you to sign in")
	// A browser connection with half a request sent.
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", w.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /auth/callback?code=x"))
	time.Sleep(200 * time.Millisecond)
	w.vps.Blackhole()
	cancel(errInterrupted)
	if took := exit(exitInterrupted, 5*time.Second, "still running 5 s after Ctrl-C on a dead link"); took > 2*time.Second {
		t.Errorf("exit took %s after Ctrl-C, want at most 2 s", took)
	} else {
		t.Logf("exit %s after Ctrl-C on a dead link", took.Round(time.Millisecond))
	}
}

// TestConnectionLostBeforeURL: the link dies while the remote login shell
// is still starting; the error must say the connection was lost.
func TestConnectionLostBeforeURL(t *testing.T) {
	w := newWorld(t)
	os.WriteFile(filepath.Join(w.vpsHome, ".profile"), []byte("sleep 3\nPATH=\"$HOME/npm-global/bin:$PATH\"\n"), 0o644)
	exit := w.background(context.Background(), w.args("-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=1", "dev@127.0.0.1"))
	waitFor(t, &w.stderr, "connecting to")
	time.Sleep(500 * time.Millisecond)
	w.vps.Blackhole()
	exit(exitFailed, 10*time.Second, "a dead link was not noticed")
	if !strings.Contains(w.stderr.String(), "lost") || !hasHint(w.stderr.String(), "ServerAliveInterval") {
		t.Errorf("stderr does not say the connection was lost:\n%s", w.stderr.String())
	}
}
