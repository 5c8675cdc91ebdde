package issuer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const clientID = "app_EMoamEEZ73f0CkXaXp7hrann"

// world runs both servers on loopback and returns clients that reach them the
// way Chromium (host-resolver mapping) and codex (HTTPS_PROXY) do.
type world struct {
	iss       *Issuer
	browser   *http.Client
	codex     *http.Client
	authorize string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	iss, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	authLn := listen(t)
	proxyLn := listen(t)
	wg.Add(2)
	go func() { defer wg.Done(); _ = iss.ServeAuthorize(ctx, authLn) }()
	go func() { defer wg.Done(); _ = iss.ServeProxy(ctx, proxyLn) }()

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(iss.CACertPEM()) {
		t.Fatal("CA certificate does not parse")
	}
	authAddr := authLn.Addr().String()
	browser := &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, authAddr)
			},
		},
		// The test looks at the redirect itself instead of following it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	proxyURL := &url.URL{Scheme: "http", Host: proxyLn.Addr().String()}
	codex := &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyURL(proxyURL),
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
	return &world{iss: iss, browser: browser, codex: codex, authorize: "https://" + Host + "/oauth/authorize"}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func authorizeQuery(challenge string) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {"http://127.0.0.1:1455/auth/callback"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"state":                 {"st4te"},
		"scope":                 {"openid profile email offline_access"},
	}
}

// authorize plays the browser and returns the code from the redirect.
func (w *world) authorizeCode(t *testing.T, q url.Values) string {
	t.Helper()
	resp, err := w.browser.Get(w.authorize + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != q.Get("redirect_uri") {
		t.Fatalf("redirected to %s, want %s", got, q.Get("redirect_uri"))
	}
	if loc.Query().Get("state") != q.Get("state") {
		t.Fatalf("state %q came back as %q", q.Get("state"), loc.Query().Get("state"))
	}
	return loc.Query().Get("code")
}

func (w *world) exchange(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := w.codex.PostForm("https://"+Host+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func exchangeForm(code, verifier string) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {"http://127.0.0.1:1455/auth/callback"},
		"client_id":     {clientID},
		"code_verifier": {verifier},
	}
}

func TestLoginSucceedsOnlyWithTheMatchingVerifier(t *testing.T) {
	const verifier = "the-verifier-only-the-right-codex-knows-0123456789abcdef"
	tests := []struct {
		name   string
		change func(url.Values)
		want   string // "" for success, else the recorded reason
	}{
		{"matching verifier", func(url.Values) {}, ""},
		{"other verifier", func(f url.Values) { f.Set("code_verifier", "another-codex-verifier") }, "code_verifier does not match the code_challenge"},
		{"no verifier", func(f url.Values) { f.Del("code_verifier") }, "code_verifier missing"},
		{"other redirect_uri", func(f url.Values) { f.Set("redirect_uri", "http://127.0.0.1:1457/auth/callback") }, "redirect_uri differs from the authorize request"},
		{"other client", func(f url.Values) { f.Set("client_id", "app_other") }, "client_id differs from the authorize request"},
		{"unknown code", func(f url.Values) { f.Set("code", "e2e-code-made-up") }, "unknown code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			code := w.authorizeCode(t, authorizeQuery(PKCEChallenge(verifier)))
			form := exchangeForm(code, verifier)
			tt.change(form)
			status, body := w.exchange(t, form)
			events := w.iss.Events()
			last := events[len(events)-1]
			if tt.want == "" {
				if status != http.StatusOK || body["id_token"] == nil || body["refresh_token"] == nil {
					t.Fatalf("exchange: status %d, body keys %v; want 200 with tokens", status, keys(body))
				}
				if !last.OK || last.Login != 1 {
					t.Fatalf("last event %+v, want the first successful login", last)
				}
				return
			}
			if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Fatalf("exchange: status %d, body %v; want 400 invalid_grant", status, body)
			}
			if last.OK || last.Reason != tt.want {
				t.Fatalf("last event %+v, want refused for %q", last, tt.want)
			}
		})
	}
}

func TestCodeIsSpentByTheFirstExchange(t *testing.T) {
	const verifier = "verifier-for-the-reuse-test-0123456789abcdef0123456789"
	w := newWorld(t)
	code := w.authorizeCode(t, authorizeQuery(PKCEChallenge(verifier)))
	if status, _ := w.exchange(t, exchangeForm(code, verifier)); status != http.StatusOK {
		t.Fatalf("first exchange: status %d, want 200", status)
	}
	if status, _ := w.exchange(t, exchangeForm(code, verifier)); status != http.StatusBadRequest {
		t.Fatalf("second exchange of the same code: status %d, want 400", status)
	}
}

func TestAuthorizeRefusesWhatCodexWouldNotSend(t *testing.T) {
	tests := []struct {
		name   string
		change func(url.Values)
	}{
		{"token flow", func(q url.Values) { q.Set("response_type", "token") }},
		{"no state", func(q url.Values) { q.Del("state") }},
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }},
		{"no challenge", func(q url.Values) { q.Del("code_challenge") }},
		{"https redirect", func(q url.Values) { q.Set("redirect_uri", "https://127.0.0.1:1455/auth/callback") }},
		{"remote redirect", func(q url.Values) { q.Set("redirect_uri", "http://evil.example:1455/auth/callback") }},
		{"no port", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1/auth/callback") }},
		{"other path", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:1455/other") }},
		{"no openid scope", func(q url.Values) { q.Set("scope", "profile") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			q := authorizeQuery(PKCEChallenge("v"))
			tt.change(q)
			resp, err := w.browser.Get(w.authorize + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			if ev := w.iss.Events(); len(ev) != 1 || ev[0].OK || ev[0].Kind != Authorize {
				t.Fatalf("events %+v, want one refused authorize", ev)
			}
		})
	}
}

func TestProxyOnlyReachesTheIssuer(t *testing.T) {
	w := newWorld(t)
	_, err := w.codex.Get("https://api.openai.com/v1/models")
	if err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Fatalf("GET through the proxy to another host: err %v, want the CONNECT refused", err)
	}
	if ev := w.iss.Events(); len(ev) != 1 || ev[0].Kind != Other {
		t.Fatalf("events %+v, want one Other", ev)
	}
}

func TestSecretsListsWhatWasHandedOut(t *testing.T) {
	const verifier = "verifier-for-the-secrets-test-0123456789abcdef0123456"
	w := newWorld(t)
	code := w.authorizeCode(t, authorizeQuery(PKCEChallenge(verifier)))
	_, body := w.exchange(t, exchangeForm(code, verifier))
	secrets := strings.Join(w.iss.Secrets(), "\n")
	for _, s := range []string{code, body["id_token"].(string), body["access_token"].(string), body["refresh_token"].(string)} {
		if !strings.Contains(secrets, s) {
			t.Errorf("Secrets() lacks a value that was handed out")
		}
	}
}

func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	return k
}

func TestRevokeAnswersAndRecordsWhetherTheTokenWasIssued(t *testing.T) {
	const verifier = "verifier-for-the-revoke-test-0123456789abcdef01234567"
	w := newWorld(t)
	code := w.authorizeCode(t, authorizeQuery(PKCEChallenge(verifier)))
	_, body := w.exchange(t, exchangeForm(code, verifier))
	for _, tc := range []struct {
		token, reason string
		json          bool
	}{
		{body["refresh_token"].(string), "", true},
		{body["refresh_token"].(string), "", false},
		{"rt-never-issued", "token was not issued here", true},
	} {
		var resp *http.Response
		var err error
		if tc.json {
			b, _ := json.Marshal(map[string]string{"token": tc.token, "token_type_hint": "refresh_token"})
			resp, err = w.codex.Post("https://"+Host+"/oauth/revoke", "application/json", strings.NewReader(string(b)))
		} else {
			resp, err = w.codex.PostForm("https://"+Host+"/oauth/revoke", url.Values{"token": {tc.token}, "client_id": {clientID}})
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke: status %d, want 200", resp.StatusCode)
		}
		ev := w.iss.Events()
		if last := ev[len(ev)-1]; last.Kind != Revoke || !last.OK || last.Reason != tc.reason {
			t.Fatalf("last event %+v, want an accepted revoke with reason %q", last, tc.reason)
		}
	}
}
