// Package issuer is a fake auth.openai.com for the end-to-end suite: just
// enough of the OAuth issuer for the real Codex CLI to finish a browser login
// offline, and strict enough that a login only succeeds when the browser's
// callback really reached the codex process that printed the URL.
//
// # How the real codex is made to talk to it
//
// The issuer of the browser flow cannot be changed, but codex honours
// HTTPS_PROXY and CODEX_CA_CERTIFICATE (../../../shared/CODEX-LOGIN.md,
// "Making the real codex finish a login offline"). So:
//
//   - [New] makes a throw-away CA and a certificate for auth.openai.com signed
//     by it; [Issuer.CACertPEM] is what CODEX_CA_CERTIFICATE points at.
//   - [Issuer.ServeProxy] is an HTTP proxy for the host where codex runs. It
//     answers CONNECT auth.openai.com:443, terminates TLS itself and serves
//     POST /oauth/token. Nothing is forwarded anywhere.
//   - [Issuer.ServeAuthorize] is the authorize page for the host where the
//     browser runs (Chromium maps auth.openai.com to it with
//     --host-resolver-rules). It checks the query and redirects to the
//     redirect_uri with a fresh code and the state.
//
// # What is checked
//
// The authorize page remembers, per code it hands out, the client_id, the
// redirect_uri and the PKCE code_challenge of the request. The token endpoint
// accepts a code once, only with the same client_id and redirect_uri, and
// only when base64url(SHA-256(code_verifier)) equals that challenge — which
// only the codex that printed the URL can satisfy. Every request, accepted or
// refused, is recorded as an [Event] for the suite to assert on.
//
// Both servers live in one process (the test binary), so they share the
// pending codes in memory; the suite opens their listeners inside the right
// network namespaces.
package issuer

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Host is the issuer's host name, as codex 0.169.0 has it built in.
const Host = "auth.openai.com"

// codeLifetime bounds how long an authorization code stays usable; a real
// issuer's codes live about as long.
const codeLifetime = 5 * time.Minute

// Kind says which endpoint an [Event] is about.
type Kind string

const (
	// Authorize is a GET of /oauth/authorize on the authorize page.
	Authorize Kind = "authorize"
	// Exchange is a POST /oauth/token with grant_type=authorization_code.
	Exchange Kind = "exchange"
	// APIKey is a POST /oauth/token with the token-exchange grant codex uses
	// to obtain an API key after a login.
	APIKey Kind = "apikey"
	// Revoke is a POST /oauth/revoke: codex 0.169.0 revokes the tokens of
	// the auth.json a new login replaces.
	Revoke Kind = "revoke"
	// Other is any other request; a test usually wants none.
	Other Kind = "other"
)

// Event records one request the issuer answered.
type Event struct {
	Time time.Time
	Kind Kind
	// OK is true when the request was accepted.
	OK bool
	// Reason says why a request was refused ("" when OK). It never contains
	// a code, verifier or token.
	Reason string
	// RedirectURI is the redirect_uri of an authorize or exchange request.
	RedirectURI string
	// Login numbers the successful exchanges, from 1; 0 otherwise.
	Login int
	// Request is "METHOD host/path" for Other events.
	Request string
}

// grant is what the authorize page remembers about a code it handed out.
type grant struct {
	clientID    string
	redirectURI string
	challenge   string
	issued      time.Time
	used        bool
}

// Issuer is the fake issuer. Its zero value is not usable; call [New].
type Issuer struct {
	caPEM   []byte
	tlsCert tls.Certificate

	mu      sync.Mutex
	grants  map[string]*grant
	events  []Event
	logins  int
	secrets []string
}

// New makes an issuer with a fresh CA and a certificate for [Host].
func New() (*Issuer, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issuer: generate CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "codex-remote-login e2e throw-away CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("issuer: create CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("issuer: parse CA certificate: %w", err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issuer: generate server key: %w", err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: Host},
		DNSNames:     []string{Host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("issuer: create server certificate: %w", err)
	}
	return &Issuer{
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tlsCert: tls.Certificate{
			Certificate: [][]byte{leafDER, caDER},
			PrivateKey:  leafKey,
		},
		grants: make(map[string]*grant),
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

// CACertPEM returns the CA certificate that signed the auth.openai.com
// certificate, PEM-encoded.
func (i *Issuer) CACertPEM() []byte { return append([]byte(nil), i.caPEM...) }

// tlsConfig serves auth.openai.com over HTTP/1.1 only, which is all both
// clients need and keeps the proxy's hand-off simple.
func (i *Issuer) tlsConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{i.tlsCert},
		NextProtos:   []string{"http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}
}

// Events returns a copy of everything recorded so far, oldest first.
func (i *Issuer) Events() []Event {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]Event(nil), i.events...)
}

// Secrets returns every code and token the issuer handed out, so a test can
// check that none of them was printed.
func (i *Issuer) Secrets() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]string(nil), i.secrets...)
}

func (i *Issuer) record(e Event) {
	e.Time = time.Now()
	i.mu.Lock()
	defer i.mu.Unlock()
	i.events = append(i.events, e)
}

// ServeAuthorize serves the authorize page over TLS on ln until ctx ends,
// then closes ln and waits for the requests in flight.
func (i *Issuer) ServeAuthorize(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/authorize", i.authorize)
	mux.HandleFunc("/", i.other)
	return serve(ctx, tls.NewListener(ln, i.tlsConfig()), mux, nil)
}

// ServeProxy serves an HTTP proxy on ln until ctx ends. CONNECT to
// auth.openai.com:443 is answered by the issuer's own TLS server with the
// token endpoint behind it; every other request is refused and recorded.
func (i *Issuer) ServeProxy(ctx context.Context, ln net.Listener) error {
	inner := newConnListener(ln.Addr())
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", i.token)
	mux.HandleFunc("POST /oauth/revoke", i.revoke)
	mux.HandleFunc("/", i.other)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var innerErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		innerErr = serve(ctx, tls.NewListener(inner, i.tlsConfig()), mux, nil)
	}()
	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || r.Host != Host+":443" {
			i.record(Event{Kind: Other, Reason: "proxy refuses this request", Request: r.Method + " " + r.Host + r.URL.Path})
			http.Error(w, "this proxy only reaches "+Host+":443", http.StatusForbidden)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
			conn.Close()
			return
		}
		inner.push(&bufferedConn{Conn: conn, r: buf.Reader})
	})
	err := serve(ctx, ln, proxy, inner.closeAll)
	cancel()
	wg.Wait()
	return errors.Join(err, innerErr)
}

// serve runs srv on ln until ctx ends, then shuts it down; extra, when not
// nil, closes what srv cannot see (hijacked connections).
func serve(ctx context.Context, ln net.Listener, h http.Handler, extra func()) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if extra != nil {
		extra()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

func (i *Issuer) other(w http.ResponseWriter, r *http.Request) {
	i.record(Event{Kind: Other, Reason: "unexpected request", Request: r.Method + " " + r.Host + r.URL.Path})
	http.NotFound(w, r)
}

// authorize checks the query the way the real issuer would refuse a bad one,
// remembers what the token endpoint must see again, and sends the browser
// back to the redirect_uri.
func (i *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fail := func(reason string) {
		i.record(Event{Kind: Authorize, Reason: reason, RedirectURI: q.Get("redirect_uri")})
		http.Error(w, "fake issuer refuses the authorize request: "+reason, http.StatusBadRequest)
	}
	switch {
	case q.Get("response_type") != "code":
		fail("response_type is not code")
		return
	case q.Get("client_id") == "":
		fail("client_id missing")
		return
	case q.Get("state") == "":
		fail("state missing")
		return
	case q.Get("code_challenge") == "":
		fail("code_challenge missing")
		return
	case q.Get("code_challenge_method") != "S256":
		fail("code_challenge_method is not S256")
		return
	case !strings.Contains(" "+q.Get("scope")+" ", " openid "):
		fail("scope lacks openid")
		return
	}
	redirect, err := CheckRedirectURI(q.Get("redirect_uri"))
	if err != nil {
		fail(err.Error())
		return
	}
	code := "e2e-code-" + randomHex(16)
	i.mu.Lock()
	i.grants[code] = &grant{
		clientID:    q.Get("client_id"),
		redirectURI: q.Get("redirect_uri"),
		challenge:   q.Get("code_challenge"),
		issued:      time.Now(),
	}
	i.secrets = append(i.secrets, code)
	i.mu.Unlock()
	i.record(Event{Kind: Authorize, OK: true, RedirectURI: q.Get("redirect_uri")})

	back := url.Values{"code": {code}, "state": {q.Get("state")}}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// CheckRedirectURI accepts what codex registers as redirect URIs: plain HTTP
// to a loopback host with an explicit port and the path /auth/callback.
func CheckRedirectURI(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("redirect_uri does not parse")
	}
	if u.Scheme != "http" || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") ||
		u.Port() == "" || u.Path != "/auth/callback" || u.RawQuery != "" || u.User != nil {
		return nil, errors.New("redirect_uri is not http://127.0.0.1:PORT/auth/callback")
	}
	return u, nil
}

// PKCEChallenge is base64url(SHA-256(verifier)) without padding (RFC 7636
// S256), what the challenge in the authorize URL must equal.
func PKCEChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (i *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		i.record(Event{Kind: Other, Reason: "token request body does not parse", Request: "POST /oauth/token"})
		tokenError(w, "invalid_request")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		i.exchange(w, r.PostForm)
	case "urn:ietf:params:oauth:grant-type:token-exchange":
		key := "sk-e2e-" + randomHex(16)
		i.mu.Lock()
		i.secrets = append(i.secrets, key)
		i.mu.Unlock()
		i.record(Event{Kind: APIKey, OK: true})
		writeJSON(w, map[string]any{"access_token": key})
	default:
		i.record(Event{Kind: Other, Reason: "unsupported grant_type", Request: "POST /oauth/token"})
		tokenError(w, "unsupported_grant_type")
	}
}

// revoke answers 200 whatever the token, as RFC 7009 asks; the event says
// whether it was one the issuer handed out.
func (i *Issuer) revoke(w http.ResponseWriter, r *http.Request) {
	e := Event{Kind: Revoke, OK: true}
	var token string
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		// codex 0.169.0 posts JSON here, unlike RFC 7009's form.
		var body struct {
			Token string `json:"token"`
		}
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body)
		token = body.Token
	} else if err := r.ParseForm(); err == nil {
		token = r.PostForm.Get("token")
	}
	switch {
	case token == "":
		e.OK, e.Reason = false, "no token to revoke"
	case !i.issued(token):
		e.Reason = "token was not issued here"
	}
	i.record(e)
	writeJSON(w, map[string]any{})
}

func (i *Issuer) issued(token string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, s := range i.secrets {
		if s == token {
			return true
		}
	}
	return false
}

func (i *Issuer) exchange(w http.ResponseWriter, form url.Values) {
	code := form.Get("code")
	redirectURI := form.Get("redirect_uri")
	i.mu.Lock()
	g := i.grants[code]
	var reason string
	switch {
	case g == nil:
		reason = "unknown code"
	case g.used:
		reason = "code already used"
	case time.Since(g.issued) > codeLifetime:
		reason = "code expired"
	case form.Get("client_id") != g.clientID:
		reason = "client_id differs from the authorize request"
	case redirectURI != g.redirectURI:
		reason = "redirect_uri differs from the authorize request"
	case form.Get("code_verifier") == "":
		reason = "code_verifier missing"
	case PKCEChallenge(form.Get("code_verifier")) != g.challenge:
		reason = "code_verifier does not match the code_challenge"
	}
	if g != nil {
		// A code is spent by any attempt, as RFC 6749 §4.1.2 asks.
		g.used = true
	}
	if reason != "" {
		i.mu.Unlock()
		i.record(Event{Kind: Exchange, Reason: reason, RedirectURI: redirectURI})
		tokenError(w, "invalid_grant")
		return
	}
	i.logins++
	n := i.logins
	account := fmt.Sprintf("acct-e2e-%d-%s", n, randomHex(4))
	auth := map[string]any{
		"chatgpt_account_id":            account,
		"chatgpt_plan_type":             "plus",
		"chatgpt_user_id":               "user-e2e",
		"user_id":                       "user-e2e",
		"organization_id":               "org-e2e",
		"project_id":                    "proj-e2e",
		"completed_platform_onboarding": true,
		"is_org_owner":                  true,
	}
	now := time.Now()
	idToken := jwt(map[string]any{
		"iss": "https://" + Host, "aud": g.clientID, "sub": "user-e2e",
		"email": "e2e@example.com", "email_verified": true,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"https://api.openai.com/auth": auth,
	})
	accessToken := jwt(map[string]any{
		"iss": "https://" + Host, "aud": []string{"https://api.openai.com/v1"}, "sub": "user-e2e",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"https://api.openai.com/auth": auth,
	})
	refreshToken := "rt-e2e-" + randomHex(24)
	i.secrets = append(i.secrets, idToken, accessToken, refreshToken)
	i.mu.Unlock()
	i.record(Event{Kind: Exchange, OK: true, RedirectURI: redirectURI, Login: n})
	writeJSON(w, map[string]any{
		"id_token":      idToken,
		"access_token":  accessToken,
		"refresh_token": refreshToken,
		"token_type":    "Bearer",
		"expires_in":    3600,
	})
}

// jwt makes an unsigned JWT: codex reads the claims but does not check the
// signature (CODEX-LOGIN.md).
func jwt(claims map[string]any) string {
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err) // maps of plain values always marshal
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + ".e2e"
}

func tokenError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// bufferedConn keeps what the proxy's reader already buffered past the
// CONNECT request (a client may send its TLS hello without waiting).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// connListener hands hijacked CONNECT tunnels to the inner TLS server.
type connListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once

	mu  sync.Mutex
	all []net.Conn
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) {
	l.mu.Lock()
	l.all = append(l.all, c)
	l.mu.Unlock()
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// closeAll ends the tunnels still open when the proxy stops.
func (l *connListener) closeAll() {
	l.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.all {
		c.Close()
	}
}
