package fakecodex

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv(EnvVar) == "1" {
		os.Exit(Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// codex is a fake codex process started by a test.
type codex struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string // stderr, line by line
	stdout bytes.Buffer
	done   chan struct{}
	mu     sync.Mutex
	stderr strings.Builder
}

// env returns a fresh environment for the fake: its own HOME and PATH, and its ports.
type env struct {
	dir, home   string
	port, fback int
	vars        []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), home: t.TempDir()}
	e.port, e.fback = freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	e.vars = []string{
		Install(t, e.dir),
		"PATH=" + e.dir + ":/usr/bin:/bin",
		"HOME=" + e.home,
		"FAKE_CODEX_PORT=" + strconv.Itoa(e.port),
		"FAKE_CODEX_FALLBACK_PORT=" + strconv.Itoa(e.fback),
		"FAKE_CODEX_RETRY_DELAY=10ms",
	}
	return e
}

// freePort returns a port nothing listens on right now.
func freePort(t *testing.T, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp4", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (e *env) start(t *testing.T, extra []string, args ...string) *codex {
	t.Helper()
	return e.startCmd(t, exec.Command(filepath.Join(e.dir, "codex"), args...), extra)
}

func (e *env) startCmd(t *testing.T, cmd *exec.Cmd, extra []string) *codex {
	t.Helper()
	cmd.Env = append(append([]string{}, e.vars...), extra...)
	c := &codex{t: t, cmd: cmd, lines: make(chan string, 100), done: make(chan struct{})}
	cmd.Stdout = &c.stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			c.mu.Lock()
			c.stderr.WriteString(s.Text() + "\n")
			c.mu.Unlock()
			c.lines <- s.Text()
		}
		close(c.lines)
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.done
	})
	return c
}

// line returns the next line of stderr.
func (c *codex) line() string {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("stderr ended; so far:\n%s", c.allStderr())
		}
		return l
	case <-time.After(10 * time.Second):
		c.t.Fatalf("no line on stderr after 10s; so far:\n%s", c.allStderr())
		return ""
	}
}

func (c *codex) allStderr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// authURL reads the login's banner and returns the URL it prints.
func (c *codex) authURL() *url.URL {
	c.t.Helper()
	for {
		l := c.line()
		if strings.HasPrefix(l, "Starting local login server on http://localhost:") {
			break
		}
	}
	if l := c.line(); l != "If your browser did not open, navigate to this URL to authenticate:" {
		c.t.Fatalf("second line %q", l)
	}
	c.line()
	u, err := url.Parse(c.line())
	if err != nil {
		c.t.Fatal(err)
	}
	if l := c.line(); l != "" {
		c.t.Fatalf("line after the URL %q", l)
	}
	if l := c.line(); l != "On a remote or headless machine? Use `codex login --device-auth` instead." {
		c.t.Fatalf("last banner line %q", l)
	}
	return u
}

// wait waits for the process to end and returns how it ended.
func (c *codex) wait() syscall.WaitStatus {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.t.Fatalf("still running after 10s; stderr:\n%s", c.allStderr())
	}
	return c.cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// running reports whether the process is still running after d.
func (c *codex) running(d time.Duration) bool {
	select {
	case <-c.done:
		return false
	case <-time.After(d):
		return true
	}
}

func wantExit(t *testing.T, c *codex, code int, lastLine string) {
	t.Helper()
	ws := c.wait()
	if !ws.Exited() || ws.ExitStatus() != code {
		t.Errorf("ended with %v, want exit %d; stderr:\n%s", ws, code, c.allStderr())
	}
	lines := strings.Split(strings.TrimSuffix(c.allStderr(), "\n"), "\n")
	if got := lines[len(lines)-1]; got != lastLine {
		t.Errorf("last line %q, want %q", got, lastLine)
	}
	if c.stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing: codex login writes to stderr only", c.stdout.String())
	}
}

// noRedirect is an HTTP client that shows redirects instead of following them.
var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

func get(t *testing.T, client *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", u, err)
	}
	return resp, string(b)
}

func jwtClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tt := range []struct{ env, want string }{
		{"FAKE_CODEX_VERSION=", "codex-cli 0.169.0\n"},
		{"FAKE_CODEX_VERSION=0.20.0", "codex-cli 0.20.0\n"},
	} {
		c := e.start(t, []string{tt.env, "FAKE_CODEX_PRELUDE=WARNING: not for --version"}, "--version")
		if ws := c.wait(); ws.ExitStatus() != 0 || c.stdout.String() != tt.want || c.allStderr() != "" {
			t.Errorf("%s: %v, stdout %q, stderr %q", tt.env, ws, c.stdout.String(), c.allStderr())
		}
	}
}

// The real 0.169.0 printed this URL for this challenge and state.
func TestAuthorizeURLMatchesRealCodex(t *testing.T) {
	t.Parallel()
	const real = "https://auth.openai.com/oauth/authorize?response_type=code&client_id=app_EMoamEEZ73f0CkXaXp7hrann&redirect_uri=http%3A%2F%2F127.0.0.1%3A1455%2Fauth%2Fcallback&code_challenge=lon_T0xj0bhFtkV-GYmsYINiZFqLzRt46-bZmCm4KRE&code_challenge_method=S256&state=JomJzodrlsQg-WCCkbQQdd5652Oh3YQ6Xm6E7EoHPPY&scope=openid+profile+email+offline_access+api.connectors.read+api.connectors.invoke&id_token_add_organizations=true&codex_cli_simplified_flow=true&originator=codex_cli_rs"
	got := authorizeURL("http://127.0.0.1:1455/auth/callback", "lon_T0xj0bhFtkV-GYmsYINiZFqLzRt46-bZmCm4KRE", "JomJzodrlsQg-WCCkbQQdd5652Oh3YQ6Xm6E7EoHPPY", "codex_cli_rs")
	if got != real {
		t.Errorf("authorizeURL:\n got %s\nwant %s", got, real)
	}
}

func TestEncoders(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, form, uri string }{
		{"a b", "a+b", "a%20b"},
		{"http://x:1/y", "http%3A%2F%2Fx%3A1%2Fy", "http%3A%2F%2Fx%3A1%2Fy"},
		{"-._~*", "-._%7E*", "-._~%2A"},
		{"é", "%C3%A9", "%C3%A9"},
	} {
		if got := formEncode(tt.in); got != tt.form {
			t.Errorf("formEncode(%q) = %q, want %q", tt.in, got, tt.form)
		}
		if got := uriEncode(tt.in); got != tt.uri {
			t.Errorf("uriEncode(%q) = %q, want %q", tt.in, got, tt.uri)
		}
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const prelude = `WARNING: proceeding, even though we could not create PATH aliases: Refusing to create helper binaries under temporary dir "/tmp"`
	c := e.start(t, []string{"FAKE_CODEX_PRELUDE=" + prelude, "FAKE_CODEX_EMAIL=ada@example.org", "BROWSER=true"}, "login")
	if l := c.line(); l != prelude {
		t.Fatalf("first line %q, want the prelude", l)
	}
	u := c.authURL()
	if got, want := c.allStderr(), fmt.Sprintf("%s\nStarting local login server on http://localhost:%d.\n", prelude, e.port); !strings.HasPrefix(got, want) {
		t.Errorf("stderr starts %q, want %q", got, want)
	}

	q := u.Query()
	redirect := fmt.Sprintf("http://127.0.0.1:%d/auth/callback", e.port)
	if u.Scheme+"://"+u.Host+u.Path != "https://auth.openai.com/oauth/authorize" ||
		q.Get("response_type") != "code" || q.Get("client_id") != clientID ||
		q.Get("redirect_uri") != redirect || q.Get("code_challenge_method") != "S256" ||
		len(q.Get("code_challenge")) != 43 || len(q.Get("state")) != 43 ||
		q.Get("scope") != "openid profile email offline_access api.connectors.read api.connectors.invoke" ||
		q.Get("originator") != "codex_cli_rs" {
		t.Fatalf("URL %s", u)
	}

	// A browser: the callback redirects to /success on the same origin.
	resp, _ := get(t, noRedirect, redirect+"?code=ac_123&state="+url.QueryEscape(q.Get("state")))
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("callback: %s, %v", resp.Status, err)
	}
	if loc.Host != fmt.Sprintf("127.0.0.1:%d", e.port) || loc.Path != "/success" || loc.Query().Get("plan_type") != "plus" {
		t.Fatalf("redirect to %s", loc.Redacted())
	}
	if !c.running(100 * time.Millisecond) {
		t.Fatal("the login ended before the browser loaded /success")
	}
	resp, body := get(t, noRedirect, loc.String())
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "</html>") || !resp.Close {
		t.Fatalf("/success: %s %q", resp.Status, body)
	}
	wantExit(t, c, 0, "Successfully logged in")

	// auth.json, private.
	codexHome := filepath.Join(e.home, ".codex")
	if fi, err := os.Stat(codexHome); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("CODEX_HOME: %v, %v", fi.Mode(), err)
	}
	fi, err := os.Stat(filepath.Join(codexHome, "auth.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("auth.json: %v, %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(filepath.Join(codexHome, "auth.json"))
	var auth struct {
		AuthMode string  `json:"auth_mode"`
		APIKey   *string `json:"OPENAI_API_KEY"`
		Tokens   struct {
			IDToken      string `json:"id_token"`
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			AccountID    string `json:"account_id"`
		} `json:"tokens"`
		LastRefresh time.Time `json:"last_refresh"`
	}
	if err := json.Unmarshal(b, &auth); err != nil {
		t.Fatal(err)
	}
	if auth.AuthMode != "chatgpt" || auth.APIKey != nil || auth.Tokens.RefreshToken == "" || auth.Tokens.AccessToken == "" || time.Since(auth.LastRefresh) > time.Minute {
		t.Errorf("auth.json: %s", b)
	}
	claims := jwtClaims(t, auth.Tokens.IDToken)
	openai, _ := claims["https://api.openai.com/auth"].(map[string]any)
	if claims["email"] != "ada@example.org" || openai["chatgpt_plan_type"] != "plus" || openai["chatgpt_account_id"] != auth.Tokens.AccountID {
		t.Errorf("id_token claims %v", claims)
	}
	if loc.Query().Get("id_token") != auth.Tokens.IDToken {
		t.Errorf("the /success redirect does not carry the saved id_token")
	}

	// The port is free again.
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", e.port))
	if err != nil {
		t.Fatalf("port still taken after exit: %v", err)
	}
	ln.Close()

	status := e.start(t, nil, "login", "status")
	wantExit(t, status, 0, "Logged in using ChatGPT")
}

func TestStateMismatchThenCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.start(t, nil, "login")
	u := c.authURL()
	redirect := u.Query().Get("redirect_uri")
	resp, body := get(t, noRedirect, redirect+"?code=x&state=forged")
	if resp.StatusCode != http.StatusBadRequest || body != "State mismatch" {
		t.Fatalf("forged state: %s %q", resp.Status, body)
	}
	if !c.running(200 * time.Millisecond) {
		t.Fatal("a forged callback ended the login")
	}
	resp, body = get(t, noRedirect, fmt.Sprintf("http://127.0.0.1:%d/cancel", e.port))
	if resp.StatusCode != http.StatusOK || body != "Login cancelled" {
		t.Fatalf("/cancel: %s %q", resp.Status, body)
	}
	wantExit(t, c, 1, "Error logging in: Login cancelled")
	if _, err := os.Stat(filepath.Join(e.home, ".codex", "auth.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("auth.json after a cancelled login: %v", err)
	}
}

func TestCallbackFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, query string
		env         []string
		lines       []string
	}{
		{"error with description", "error=access_denied&error_description=Nope+nope", nil, []string{
			"OAuth callback error: Sign-in failed: Nope nope", "Error logging in: Sign-in failed: Nope nope"}},
		{"error alone", "error=access_denied", nil, []string{
			"OAuth callback error: Sign-in failed: access_denied", "Error logging in: Sign-in failed: access_denied"}},
		{"missing code", "", nil, []string{
			"Error logging in: Missing authorization code. Sign-in could not be completed."}},
		{"token exchange", "code=x", []string{"FAKE_CODEX_EXCHANGE_ERROR=token endpoint returned status 400 Bad Request: invalid_grant"}, []string{
			"Token exchange error: token endpoint returned status 400 Bad Request: invalid_grant",
			"Error logging in: Token exchange failed: token endpoint returned status 400 Bad Request: invalid_grant"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			c := e.start(t, tt.env, "login")
			u := c.authURL()
			cb := u.Query().Get("redirect_uri") + "?state=" + u.Query().Get("state")
			if tt.query != "" {
				cb += "&" + tt.query
			}
			resp, body := get(t, noRedirect, cb)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign-in could not be completed") {
				t.Errorf("callback: %s %q", resp.Status, body)
			}
			wantExit(t, c, 1, tt.lines[len(tt.lines)-1])
			if got := strings.Join(tt.lines, "\n") + "\n"; !strings.HasSuffix(c.allStderr(), got) {
				t.Errorf("stderr ends %q, want %q", c.allStderr(), got)
			}
			if _, err := os.Stat(filepath.Join(e.home, ".codex", "auth.json")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("auth.json after a failed login: %v", err)
			}
		})
	}
}

func TestSignals(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			pidfile := filepath.Join(t.TempDir(), "pid")
			// Through a shell that reports codex's status, as a user would see it.
			cmd := exec.Command("/bin/sh", "-c", `codex login; echo "rc=$?" >&2`)
			c := e.startCmd(t, cmd, []string{"FAKE_CODEX_PIDFILE=" + pidfile})
			c.authURL()
			b, err := os.ReadFile(pidfile)
			if err != nil {
				t.Fatal(err)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if err := syscall.Kill(pid, sig); err != nil {
				t.Fatal(err)
			}
			wantExit(t, c, 0, fmt.Sprintf("rc=%d", 128+int(sig)))
			ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", e.port))
			if err != nil {
				t.Fatalf("port still taken: %v", err)
			}
			ln.Close()
		})
	}
	t.Run("killed by the signal, as codex is", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		c := e.start(t, nil, "login")
		c.authURL()
		c.cmd.Process.Signal(syscall.SIGHUP)
		if ws := c.wait(); !ws.Signaled() || ws.Signal() != syscall.SIGHUP {
			t.Errorf("ended with %v, want killed by SIGHUP", ws)
		}
	})
}

func TestPortBusy(t *testing.T) {
	t.Parallel()
	// Someone else's server holds the port: it answers /cancel but keeps the port.
	busy := func(t *testing.T, port int) chan string {
		ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		paths := make(chan string, 10)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			paths <- r.URL.Path
		})}
		done := make(chan struct{})
		go func() { defer close(done); srv.Serve(ln) }()
		t.Cleanup(func() { srv.Close(); <-done })
		return paths
	}

	t.Run("fallback", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		paths := busy(t, e.port)
		c := e.start(t, nil, "login")
		u := c.authURL()
		if got, want := u.Query().Get("redirect_uri"), fmt.Sprintf("http://127.0.0.1:%d/auth/callback", e.fback); got != want {
			t.Errorf("redirect_uri %s, want %s", got, want)
		}
		select {
		case p := <-paths:
			if p != "/cancel" {
				t.Errorf("the busy port got %s, want /cancel", p)
			}
		default:
			t.Error("the busy port got no /cancel")
		}
	})
	t.Run("both busy", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		busy(t, e.port)
		fallback := busy(t, e.fback)
		c := e.start(t, nil, "login")
		wantExit(t, c, 1, fmt.Sprintf("Error logging in: Port 127.0.0.1:%d is already in use", e.fback))
		if len(fallback) != 0 {
			t.Error("codex sends /cancel to the preferred port only")
		}
	})
	t.Run("an older login is cancelled", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		older := e.start(t, nil, "login")
		older.authURL()
		newer := e.start(t, nil, "login")
		u := newer.authURL()
		wantExit(t, older, 1, "Error logging in: Login cancelled")
		if got, want := u.Query().Get("redirect_uri"), fmt.Sprintf("http://127.0.0.1:%d/auth/callback", e.port); got != want {
			t.Errorf("redirect_uri %s, want %s", got, want)
		}
	})
}

func TestListenAddressAndURLOverride(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	port := freePort(t, "127.0.0.2")
	c := e.start(t, []string{
		"FAKE_CODEX_LISTEN=127.0.0.2",
		"FAKE_CODEX_PORT=" + strconv.Itoa(port),
		"FAKE_CODEX_URL=https://evil.example/oauth/authorize?x=1",
	}, "login")
	if u := c.authURL(); u.String() != "https://evil.example/oauth/authorize?x=1" {
		t.Fatalf("printed %s", u)
	}
	if conn, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		conn.Close()
		t.Fatal("listening on 127.0.0.1 too")
	}
	get(t, noRedirect, fmt.Sprintf("http://127.0.0.2:%d/cancel", port))
	wantExit(t, c, 1, "Error logging in: Login cancelled")
}

func TestBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	got := filepath.Join(t.TempDir(), "url")
	script := filepath.Join(e.dir, "browser")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$1\" > "+got+"\n"), 0o755)
	c := e.start(t, []string{"BROWSER=" + script}, "login")
	u := c.authURL()
	if b, _ := os.ReadFile(got); strings.TrimSpace(string(b)) != u.String() {
		t.Errorf("BROWSER got %q, want the URL", b)
	}
	get(t, noRedirect, fmt.Sprintf("http://127.0.0.1:%d/cancel", e.port))
	c.wait()
}

func TestCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		env    []string
		stdin  string
		code   int
		stderr string
	}{
		{"unknown option", []string{"--bogus"}, nil, "", 2,
			"error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, use '-- --bogus'\n\nUsage: codex [OPTIONS] [PROMPT]\n       codex [OPTIONS] <COMMAND> [ARGS]\n\nFor more information, try '--help'.\n"},
		{"unknown login option", []string{"login", "--bogus"}, nil, "", 2,
			"error: unexpected argument '--bogus' found\n\nUsage: codex login [OPTIONS] [COMMAND]\n\nFor more information, try '--help'.\n"},
		{"unknown login subcommand", []string{"login", "foo"}, nil, "", 2,
			"error: unrecognized subcommand 'foo'\n\nUsage: codex login [OPTIONS] [COMMAND]\n\nFor more information, try '--help'.\n"},
		{"status option", []string{"login", "status", "--bogus"}, nil, "", 2,
			"error: unexpected argument '--bogus' found\n\nUsage: codex login status [OPTIONS]\n\nFor more information, try '--help'.\n"},
		{"api-key flag", []string{"login", "--api-key", "sk-x"}, nil, "", 1,
			"The --api-key flag is no longer supported. Pipe the key instead, e.g. `printenv OPENAI_API_KEY | codex login --with-api-key`.\n"},
		{"status logged out", []string{"-c", "x=1", "login", "status"}, nil, "", 1, "Not logged in\n"},
		{"logout logged out", []string{"logout"}, nil, "", 0, "Not logged in\n"},
		{"fail", []string{"login"}, []string{"FAKE_CODEX_PRELUDE=WARNING: x", "FAKE_CODEX_FAIL=ChatGPT login is disabled. Use API key login instead."}, "", 1,
			"WARNING: x\nError logging in: ChatGPT login is disabled. Use API key login instead.\n"},
		{"missing CODEX_HOME", []string{"login", "status"}, []string{"CODEX_HOME=/nonexistent/codex"}, "", 1,
			"Error loading configuration: CODEX_HOME points to \"/nonexistent/codex\", but that path does not exist\n"},
		{"empty api key", []string{"login", "--with-api-key"}, nil, "  \n", 1,
			"Reading API key from stdin...\nNo API key provided via stdin.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cmd := exec.Command(filepath.Join(e.dir, "codex"), tt.args...)
			cmd.Stdin = strings.NewReader(tt.stdin)
			c := e.startCmd(t, cmd, tt.env)
			if ws := c.wait(); ws.ExitStatus() != tt.code || c.allStderr() != tt.stderr || c.stdout.Len() != 0 {
				t.Errorf("exit %d, stderr %q, stdout %q; want exit %d, stderr %q", ws.ExitStatus(), c.allStderr(), c.stdout.String(), tt.code, tt.stderr)
			}
		})
	}
}

func TestAPIKeyLoginStatusLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cmd := exec.Command(filepath.Join(e.dir, "codex"), "login", "--with-api-key")
	cmd.Stdin = strings.NewReader("sk-test-1234567890abcdef\n")
	c := e.startCmd(t, cmd, nil)
	wantExit(t, c, 0, "API key saved. Authentication is checked when you send a request.")
	b, _ := os.ReadFile(filepath.Join(e.home, ".codex", "auth.json"))
	if want := "{\n  \"auth_mode\": \"apikey\",\n  \"OPENAI_API_KEY\": \"sk-test-1234567890abcdef\"\n}"; string(b) != want {
		t.Errorf("auth.json %q, want %q", b, want)
	}
	c = e.start(t, nil, "login", "status")
	wantExit(t, c, 0, "Authentication is checked when you send a request.")
	if !strings.HasPrefix(c.allStderr(), "API key configured - sk-test-***bcdef\n") {
		t.Errorf("status %q", c.allStderr())
	}
	wantExit(t, e.start(t, nil, "logout"), 0, "Successfully logged out")
	wantExit(t, e.start(t, nil, "login", "status"), 1, "Not logged in")
}
