package fakecodex

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// loginConfig is the login's environment, read once.
type loginConfig struct {
	listen         string
	port, fallback int
	retryDelay     time.Duration
	redirectHost   string
	printedURL     string
	exchangeError  string
}

func (p *program) loginConfig() (loginConfig, error) {
	c := loginConfig{
		listen:        p.env("FAKE_CODEX_LISTEN", "127.0.0.1"),
		redirectHost:  p.env("FAKE_CODEX_REDIRECT_HOST", "127.0.0.1"),
		printedURL:    p.getenv("FAKE_CODEX_URL"),
		exchangeError: p.getenv("FAKE_CODEX_EXCHANGE_ERROR"),
	}
	var err error
	if c.port, err = strconv.Atoi(p.env("FAKE_CODEX_PORT", "1455")); err != nil {
		return c, fmt.Errorf("FAKE_CODEX_PORT: %w", err)
	}
	if c.fallback, err = strconv.Atoi(p.env("FAKE_CODEX_FALLBACK_PORT", "1457")); err != nil {
		return c, fmt.Errorf("FAKE_CODEX_FALLBACK_PORT: %w", err)
	}
	if c.retryDelay, err = time.ParseDuration(p.env("FAKE_CODEX_RETRY_DELAY", "200ms")); err != nil {
		return c, fmt.Errorf("FAKE_CODEX_RETRY_DELAY: %w", err)
	}
	return c, nil
}

// outcome is how a login ends: exit code and the line printed on stderr.
type outcome struct {
	code int
	line string
}

func (p *program) login(home string) int {
	cfg, err := p.loginConfig()
	if err != nil {
		p.errorf("fakecodex: %v", err)
		return 2
	}
	// From here until the end, SIGHUP, SIGTERM and SIGINT release the port, then end the
	// process by the same signal, as they end codex, which leaves them their default action.
	// One ignored from the start (SIGINT in a job of a non-interactive shell) stays ignored.
	sigs := make(chan os.Signal, 1)
	for _, s := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT} {
		if !signal.Ignored(s) {
			signal.Notify(sigs, s)
		}
	}
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bound := make(chan net.Listener, 1)
	var bindErr error
	go func() {
		ln, err := p.bind(ctx, cfg)
		bindErr = err
		bound <- ln
	}()
	var ln net.Listener
	select {
	case ln = <-bound:
	case sig := <-sigs:
		cancel()
		if ln := <-bound; ln != nil {
			ln.Close()
		}
		return dieBy(sig)
	}
	if ln == nil {
		p.errorf("Error logging in: %s", bindErr)
		return 1
	}

	port := ln.Addr().(*net.TCPAddr).Port
	origin := "http://" + net.JoinHostPort(cfg.redirectHost, strconv.Itoa(port))
	verifier := randomB64(64)
	sum := sha256.Sum256([]byte(verifier))
	state := randomB64(32)
	authURL := authorizeURL(origin+"/auth/callback", b64(sum[:]), state, p.env("CODEX_INTERNAL_ORIGINATOR_OVERRIDE", "codex_cli_rs"))
	printed := authURL
	if cfg.printedURL != "" {
		printed = cfg.printedURL
	}
	p.openBrowser(printed)
	fmt.Fprintf(p.stderr, "Starting local login server on http://localhost:%d.\n"+
		"If your browser did not open, navigate to this URL to authenticate:\n\n%s\n\n"+
		"On a remote or headless machine? Use `codex login --device-auth` instead.\n", port, printed)

	h := &handler{p: p, cfg: cfg, home: home, state: state, origin: origin, done: make(chan outcome, 1)}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: time.Minute,
		// net/http's own complaints must not reach stderr, which is codex's output.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	// The port is released before the last line is printed.
	select {
	case o := <-h.done:
		srv.Close()
		<-served
		p.errorf("%s", o.line)
		return o.code
	case sig := <-sigs:
		srv.Close()
		<-served
		return dieBy(sig)
	}
}

// dieBy ends the process by sig with its default action, as codex ends, so that a parent sees
// "killed by SIGHUP" (and a shell $? = 129). Should the process survive, it returns the code a
// shell would report.
func dieBy(sig os.Signal) int {
	s := sig.(syscall.Signal)
	signal.Reset(s)
	syscall.Kill(os.Getpid(), s)
	time.Sleep(time.Second) // the signal is on its way
	return 128 + int(s)
}

// authorizeURL builds the URL codex 0.169.0 prints, with its parameter order and its
// application/x-www-form-urlencoded encoding (spaces as "+").
func authorizeURL(redirectURI, challenge, state, originator string) string {
	params := [][2]string{
		{"response_type", "code"},
		{"client_id", clientID},
		{"redirect_uri", redirectURI},
		{"code_challenge", challenge},
		{"code_challenge_method", "S256"},
		{"state", state},
		{"scope", "openid profile email offline_access api.connectors.read api.connectors.invoke"},
		{"id_token_add_organizations", "true"},
		{"codex_cli_simplified_flow", "true"},
		{"originator", originator},
	}
	var b strings.Builder
	b.WriteString("https://auth.openai.com/oauth/authorize?")
	for i, kv := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(formEncode(kv[0]) + "=" + formEncode(kv[1]))
	}
	return b.String()
}

// formEncode is the WHATWG application/x-www-form-urlencoded byte serializer (Rust's
// form_urlencoded): alphanumerics and *-._ stay, space becomes +, the rest is %XX.
func formEncode(s string) string {
	return percentEncode(s, "*-._", true)
}

// uriEncode is Rust's urlencoding::encode, which codex uses for the /success redirect:
// alphanumerics and -._~ stay, the rest is %XX.
func uriEncode(s string) string {
	return percentEncode(s, "-._~", false)
}

func percentEncode(s, keep string, plus bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte(keep, c) >= 0:
			b.WriteByte(c)
		case c == ' ' && plus:
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// bind binds the login server's port as codex does: when the port is busy, ask whoever holds it
// to cancel (an older codex login), retry ten times 200 ms apart, then do the same on the
// fallback port, without the cancel.
func (p *program) bind(ctx context.Context, cfg loginConfig) (net.Listener, error) {
	const maxAttempts = 10
	addr := net.JoinHostPort(cfg.listen, strconv.Itoa(cfg.port))
	usingFallback := false
	cancelAttempted := false
	attempts := 0
	for {
		ln, err := net.Listen("tcp4", addr)
		if err == nil {
			return ln, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, osError(err)
		}
		attempts++
		if !cancelAttempted && !usingFallback {
			cancelAttempted = true
			if err := sendCancel(ctx, addr); err != nil {
				p.errorf("Failed to cancel previous login server: %s", osError(err))
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(cfg.retryDelay):
		}
		if attempts >= maxAttempts {
			if !usingFallback && cfg.fallback != cfg.port {
				addr = net.JoinHostPort(cfg.listen, strconv.Itoa(cfg.fallback))
				usingFallback = true
				attempts = 0
				continue
			}
			//lint:ignore ST1005 the real codex's words, printed as they are
			return nil, fmt.Errorf("Port %s is already in use", addr)
		}
	}
}

// sendCancel sends codex's GET /cancel to addr and reads the start of the answer, with codex's
// 2 s timeouts.
func sendCancel(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "GET /cancel HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr); err != nil {
		return err
	}
	var buf [64]byte
	c.Read(buf[:])
	return nil
}

// osError words a system error as Rust's std::io::Error displays it:
// "Connection refused (os error 111)".
func osError(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	msg := errno.Error()
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return fmt.Errorf("%s (os error %d)", msg, int(errno))
}

// openBrowser runs $BROWSER with the URL, as the webbrowser crate codex uses does: a list of
// commands separated by ":", "%s" replaced by the URL or the URL appended.
func (p *program) openBrowser(u string) {
	for _, c := range strings.Split(p.getenv("BROWSER"), ":") {
		args := strings.Fields(c)
		if len(args) == 0 {
			continue
		}
		replaced := false
		for i, a := range args {
			if strings.Contains(a, "%s") {
				args[i] = strings.ReplaceAll(a, "%s", u)
				replaced = true
			}
		}
		if !replaced {
			args = append(args, u)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := exec.CommandContext(ctx, args[0], args[1:]...).Run()
		cancel()
		if err == nil {
			return
		}
	}
}

// handler is the login server. Requests are handled one at a time, as codex's tiny_http loop
// handles them.
type handler struct {
	p      *program
	cfg    loginConfig
	home   string
	state  string
	origin string // http://REDIRECT_HOST:PORT
	done   chan outcome

	mu sync.Mutex
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch r.URL.Path {
	case "/auth/callback":
		h.callback(w, r)
	case "/success":
		h.respondAndExit(w, "text/html; charset=utf-8", successPage, outcome{0, "Successfully logged in"})
	case "/cancel":
		h.respondAndExit(w, "", "Login cancelled", outcome{1, "Error logging in: Login cancelled"})
	default:
		plain(w, http.StatusNotFound, "Not Found")
	}
}

func plain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Server", "tiny-http (Rust)")
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// last returns the last value of key, as codex's HashMap of the query keeps it.
func last(q url.Values, key string) (string, bool) {
	v, ok := q[key]
	if !ok {
		return "", false
	}
	return v[len(v)-1], true
}

func (h *handler) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if state, _ := last(q, "state"); state != h.state {
		plain(w, http.StatusBadRequest, "State mismatch")
		return
	}
	if code, ok := last(q, "error"); ok {
		desc, _ := last(q, "error_description")
		var msg string
		switch {
		case code == "access_denied" && strings.Contains(strings.ToLower(desc), "missing_codex_entitlement"):
			msg = "Codex is not enabled for your workspace. Contact your workspace administrator to request access to Codex."
		case strings.TrimSpace(desc) != "":
			msg = "Sign-in failed: " + desc
		default:
			msg = "Sign-in failed: " + code
		}
		h.p.errorf("OAuth callback error: %s", msg)
		h.failPage(w, msg)
		return
	}
	code, _ := last(q, "code")
	if code == "" {
		h.failPage(w, "Missing authorization code. Sign-in could not be completed.")
		return
	}
	if h.cfg.exchangeError != "" {
		h.p.errorf("Token exchange error: %s", h.cfg.exchangeError)
		h.failPage(w, "Token exchange failed: "+h.cfg.exchangeError)
		return
	}
	id := h.p.identity()
	now := time.Now().UTC()
	tokens := id.tokens(now)
	last := now.Format(time.RFC3339Nano)
	if err := writeAuth(h.home, &authDotJSON{AuthMode: "chatgpt", OpenAIAPIKey: id.apiKey, Tokens: &tokens, LastRefresh: &last}); err != nil {
		h.p.errorf("Persist error: %v", err)
		h.failPage(w, "Sign-in completed but credentials could not be saved locally.")
		return
	}
	success := h.origin + "/success?" + strings.Join([]string{
		"id_token=" + uriEncode(tokens.IDToken),
		"needs_setup=false",
		"org_id=" + uriEncode(id.orgID),
		"project_id=",
		"plan_type=" + uriEncode(id.plan),
		"platform_url=" + uriEncode("https://platform.openai.com"),
	}, "&")
	w.Header().Set("Server", "tiny-http (Rust)")
	w.Header().Set("Location", success)
	w.WriteHeader(http.StatusFound)
}

func (h *handler) failPage(w http.ResponseWriter, msg string) {
	page := fmt.Sprintf(errorPage, html.EscapeString(msg))
	h.respondAndExit(w, "text/html; charset=utf-8", page, outcome{1, "Error logging in: " + msg})
}

// respondAndExit writes the last response of the login the way codex does (it bypasses its HTTP
// library to force "Connection: close"), closes the connection, and only then ends the login:
// when codex prints its last line, the browser has the whole page.
func (h *handler) respondAndExit(w http.ResponseWriter, contentType, body string, o outcome) {
	conn, rw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		// Not HTTP/1: answer normally.
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.Header().Set("Connection", "close")
		fmt.Fprint(w, body)
		w.(http.Flusher).Flush()
	} else {
		writeRaw(rw.Writer, contentType, body)
		rw.Flush()
		conn.Close()
	}
	select {
	case h.done <- o:
	default: // the login already ended
	}
}

func writeRaw(w *bufio.Writer, contentType, body string) {
	w.WriteString("HTTP/1.1 200 OK\r\n")
	if contentType != "" {
		w.WriteString("Content-Type: " + contentType + "\r\n")
	}
	w.WriteString("Connection: close\r\n")
	w.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	w.WriteString(body)
}

const successPage = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Sign into Codex</title>
  </head>
  <body>
    <h1>Signed in to Codex</h1>
    <p>You may now close this page.</p>
  </body>
</html>
`

const errorPage = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Sign-in could not be completed</title>
  </head>
  <body>
    <h1>Sign-in could not be completed</h1>
    <p>%s</p>
    <p>Return to Codex to retry, switch accounts, or contact your workspace admin if access is restricted.</p>
  </body>
</html>
`
