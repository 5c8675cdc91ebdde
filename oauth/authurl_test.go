package oauth

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// genuineURL was printed by the real codex-cli 0.169.0
// (BROWSER=true CODEX_HOME=$(mktemp -d) codex login).
const genuineURL = "https://auth.openai.com/oauth/authorize?response_type=code&client_id=app_EMoamEEZ73f0CkXaXp7hrann&redirect_uri=http%3A%2F%2F127.0.0.1%3A1455%2Fauth%2Fcallback&code_challenge=ohdmeH_eQmq9vYWC5HtoflpWzC263s7PPM4a5bGPYas&code_challenge_method=S256&state=H9X3-ypUwjd0urzjofzyl54kt0_CVbjBkACNd0HLvWE&scope=openid+profile+email+offline_access+api.connectors.read+api.connectors.invoke&id_token_add_organizations=true&codex_cli_simplified_flow=true&originator=codex_cli_rs"

const (
	base      = "https://auth.openai.com/oauth/authorize?"
	challenge = "code_challenge=Zq1TcPcB0g2tU4vJc0ZVgf6oFS3xHq0cJm8pQkT3y7A&code_challenge_method=S256"
	client    = "client_id=app_EMoamEEZ73f0CkXaXp7hrann"
	state     = "state=f3b0Yp8kQ_2mZr6Lw-1vXc9NsT4uJeGh0aKdPqRbSiY"
	redirect  = "redirect_uri=http%3A%2F%2F127.0.0.1%3A1455%2Fauth%2Fcallback"
	scope     = "scope=openid+profile+email+offline_access"
)

// authURL builds base + the given query parts joined by "&".
func authURL(parts ...string) string { return base + strings.Join(parts, "&") }

// good is a complete 0.169.0-style URL; goodWith replaces the parameter
// named in each "name=value" pair (an entry "name" alone removes it).
var good = authURL("response_type=code", client, redirect, challenge, state, scope, "originator=codex_cli_rs")

func goodWith(changes ...string) string {
	parts := strings.Split(strings.TrimPrefix(good, base), "&")
	for _, c := range changes {
		name, _, _ := strings.Cut(c, "=")
		out := parts[:0:0]
		replaced := false
		for _, p := range parts {
			if n, _, _ := strings.Cut(p, "="); n == name {
				if !replaced && strings.Contains(c, "=") {
					out = append(out, c)
				}
				replaced = true
				continue
			}
			out = append(out, p)
		}
		if !replaced {
			out = append(out, c)
		}
		parts = out
	}
	return base + strings.Join(parts, "&")
}

func redirectParam(uri string) string { return "redirect_uri=" + url.QueryEscape(uri) }

func TestParseAuthURLAccepts(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		host     string
		port     int
		redirect string
	}{
		{"genuine 0.169.0", genuineURL, "127.0.0.1", 1455, "http://127.0.0.1:1455/auth/callback"},
		{"0.169.0 layout with workspace", goodWith("allowed_workspace_id=ws_4e1b2c3d", "id_token_add_organizations=true", "codex_cli_simplified_flow=true"), "127.0.0.1", 1455, "http://127.0.0.1:1455/auth/callback"},
		{"older localhost form", authURL("response_type=code", client, "redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fauth%2Fcallback", scope, challenge, "id_token_add_organizations=true", state), "localhost", 1455, "http://localhost:1455/auth/callback"},
		{"fallback port 1457", goodWith(redirectParam("http://127.0.0.1:1457/auth/callback")), "127.0.0.1", 1457, "http://127.0.0.1:1457/auth/callback"},
		{"any port codex prints", goodWith(redirectParam("http://127.0.0.1:39021/auth/callback")), "127.0.0.1", 39021, "http://127.0.0.1:39021/auth/callback"},
		{"port 1", goodWith(redirectParam("http://127.0.0.1:1/auth/callback")), "127.0.0.1", 1, "http://127.0.0.1:1/auth/callback"},
		{"port 65535", goodWith(redirectParam("http://127.0.0.1:65535/auth/callback")), "127.0.0.1", 65535, "http://127.0.0.1:65535/auth/callback"},
		{"ipv6 loopback", goodWith(redirectParam("http://[::1]:1455/auth/callback")), "::1", 1455, "http://[::1]:1455/auth/callback"},
		{"redirect_uri not percent-encoded", goodWith("redirect_uri=http://127.0.0.1:1455/auth/callback"), "127.0.0.1", 1455, "http://127.0.0.1:1455/auth/callback"},
		{"parameters in another order", authURL(state, scope, challenge, redirect, client, "response_type=code"), "127.0.0.1", 1455, "http://127.0.0.1:1455/auth/callback"},
		{"upper-case host", strings.Replace(good, "auth.openai.com", "AUTH.OpenAI.com", 1), "127.0.0.1", 1455, "http://127.0.0.1:1455/auth/callback"},
		{"explicit port 443", strings.Replace(good, "auth.openai.com", "auth.openai.com:443", 1), "127.0.0.1", 1455, "http://127.0.0.1:1455/auth/callback"},
		{"unknown future parameter", goodWith("prompt=login", "x_new_flag="), "127.0.0.1", 1455, "http://127.0.0.1:1455/auth/callback"},
		{"scope repeated (not checked)", goodWith(scope) + "&scope=openid", "127.0.0.1", 1455, "http://127.0.0.1:1455/auth/callback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ParseAuthURL(tt.raw)
			if err != nil {
				t.Fatalf("ParseAuthURL(%q): %v", tt.raw, err)
			}
			if req.URL != tt.raw {
				t.Errorf("URL = %q, want the input unchanged", req.URL)
			}
			if req.RedirectHost != tt.host || req.Port != tt.port {
				t.Errorf("RedirectHost, Port = %q, %d; want %q, %d", req.RedirectHost, req.Port, tt.host, tt.port)
			}
			if req.RedirectURI == nil || req.RedirectURI.String() != tt.redirect {
				t.Errorf("RedirectURI = %v, want %s", req.RedirectURI, tt.redirect)
			}
		})
	}
}

func TestParseAuthURLRefuses(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		reason string // a substring of URLError.Reason
	}{
		{"empty", "", "empty"},
		{"too long", goodWith("pad=" + strings.Repeat("a", MaxAuthURLLength)), "longer than 8192 bytes"},
		{"javascript", "javascript:alert(document.cookie)", "does not start with https://"},
		{"file", "file:///etc/passwd", "does not start with https://"},
		{"data", "data:text/html,<script>alert(1)</script>", "does not start with https://"},
		{"plain http", strings.Replace(good, "https://", "http://", 1), "does not start with https://"},
		{"upper-case scheme", strings.Replace(good, "https://", "HTTPS://", 1), "does not start with https://"},
		{"opaque https", strings.Replace(good, "https://", "https:", 1), "does not start with https://"},
		{"triple slash", strings.Replace(good, "https://", "https:///", 1), "host is not auth.openai.com"},
		{"scheme-relative", strings.TrimPrefix(good, "https:"), "does not start with https://"},
		{"leading space", " " + good, "whitespace"},
		{"trailing CR from a pty", good + "\r", "whitespace"},
		{"newline inside", strings.Replace(good, "&state", "\n&state", 1), "whitespace"},
		{"tab inside", strings.Replace(good, "&state", "\t&state", 1), "whitespace"},
		{"ansi escape", good + "\x1b[2J", "control character"},
		{"nul byte", good + "\x00", "control character"},
		{"DEL", good + "\x7f", "control character"},
		{"no-break space", strings.Replace(good, "&state", "\u00a0&state", 1), "outside printable ascii"},
		{"cyrillic a in host (IDN homograph)", strings.Replace(good, "auth.openai.com", "auth.open\u0430i.com", 1), "outside printable ascii"},
		{"fullwidth dot in host", strings.Replace(good, "auth.openai.com", "auth.openai\uff0ecom", 1), "outside printable ascii"},
		{"invalid utf-8", good + "\xff", "outside printable ascii"},
		{"punycode host", strings.Replace(good, "auth.openai.com", "xn--auth-openai-com.example", 1), "host is not auth.openai.com"},
		{"userinfo then evil host", strings.Replace(good, "auth.openai.com", "auth.openai.com@evil.example", 1), "user information"},
		{"evil userinfo then real host", strings.Replace(good, "auth.openai.com", "evil.example@auth.openai.com", 1), "user information"},
		{"suffix domain", strings.Replace(good, "auth.openai.com", "auth.openai.com.evil.example", 1), "host is not auth.openai.com"},
		{"prefix domain", strings.Replace(good, "auth.openai.com", "evilauth.openai.com", 1), "host is not auth.openai.com"},
		{"other openai host", strings.Replace(good, "auth.openai.com", "chatgpt.com", 1), "host is not auth.openai.com"},
		{"trailing dot", strings.Replace(good, "auth.openai.com", "auth.openai.com.", 1), "host is not auth.openai.com"},
		{"percent-encoded host", strings.Replace(good, "auth.openai.com", "auth%2eopenai.com", 1), "not a valid url"},
		{"backslash host", strings.Replace(good, "auth.openai.com", "auth.openai.com\\@evil.example", 1), "not a valid url"},
		{"backslash after host", strings.Replace(good, "auth.openai.com", "auth.openai.com\\evil.example", 1), "not a valid url"},
		{"ip host", strings.Replace(good, "auth.openai.com", "104.18.0.1", 1), "host is not auth.openai.com"},
		{"port 8443", strings.Replace(good, "auth.openai.com", "auth.openai.com:8443", 1), "port is not 443"},
		{"empty port", strings.Replace(good, "auth.openai.com", "auth.openai.com:", 1), "port is not 443"},
		{"wrong path", strings.Replace(good, "/oauth/authorize", "/oauth/authorise", 1), "path is not /oauth/authorize"},
		{"path with trailing slash", strings.Replace(good, "/oauth/authorize", "/oauth/authorize/", 1), "path is not /oauth/authorize"},
		{"path traversal", strings.Replace(good, "/oauth/authorize", "/oauth/authorize/../../logout", 1), "path is not /oauth/authorize"},
		{"percent-encoded path", strings.Replace(good, "/oauth/authorize", "/oauth/%61uthorize", 1), "path is not /oauth/authorize"},
		{"no path", "https://auth.openai.com?" + strings.TrimPrefix(good, base), "path is not /oauth/authorize"},
		{"no query", "https://auth.openai.com/oauth/authorize", "missing response_type"},
		{"fragment", good + "#x", "has a fragment"},
		{"empty fragment", good + "#", "has a fragment"},
		{"semicolon separator", strings.Replace(good, "&state", ";state", 1), "malformed query"},
		{"bad escape in query", goodWith("scope=%zz"), "malformed query"},
		{"missing state", goodWith("state"), "missing state"},
		{"missing response_type", goodWith("response_type"), "missing response_type"},
		{"missing client_id", goodWith("client_id"), "missing client_id"},
		{"missing redirect_uri", goodWith("redirect_uri"), "missing redirect_uri"},
		{"missing code_challenge", goodWith("code_challenge"), "missing code_challenge"},
		{"missing code_challenge_method", goodWith("code_challenge_method"), "missing code_challenge_method"},
		{"empty state", goodWith("state="), "empty state"},
		{"empty code_challenge", goodWith("code_challenge="), "empty code_challenge"},
		{"empty client_id", goodWith("client_id="), "empty client_id"},
		{"state twice", good + "&state=other", "state appears more than once"},
		{"redirect_uri twice", good + "&" + redirectParam("http://127.0.0.1:9999/auth/callback"), "redirect_uri appears more than once"},
		{"redirect_uri twice, once percent-encoded name", good + "&redirect%5Furi=http%3A%2F%2F127.0.0.1%3A9999%2Fauth%2Fcallback", "redirect_uri appears more than once"},
		{"response_type twice", good + "&response_type=code", "response_type appears more than once"},
		{"response_type token", goodWith("response_type=token"), "response_type is not code"},
		{"plain method", goodWith("code_challenge_method=plain"), "code_challenge_method is not S256"},
		{"lower-case s256", goodWith("code_challenge_method=s256"), "code_challenge_method is not S256"},
		{"redirect to LAN IP", goodWith(redirectParam("http://192.168.1.20:1455/auth/callback")), "host is not 127.0.0.1, localhost or [::1]"},
		{"redirect to public host", goodWith(redirectParam("http://evil.example:1455/auth/callback")), "host is not"},
		{"redirect to 0.0.0.0", goodWith(redirectParam("http://0.0.0.0:1455/auth/callback")), "host is not"},
		{"redirect to 127.0.0.2", goodWith(redirectParam("http://127.0.0.2:1455/auth/callback")), "host is not"},
		{"redirect to 127.1", goodWith(redirectParam("http://127.1:1455/auth/callback")), "host is not"},
		{"redirect to localhost.evil.example", goodWith(redirectParam("http://localhost.evil.example:1455/auth/callback")), "host is not"},
		{"redirect to long-form ipv6 loopback", goodWith(redirectParam("http://[0:0:0:0:0:0:0:1]:1455/auth/callback")), "host is not"},
		{"redirect to ipv6 with zone", goodWith(redirectParam("http://[::1%25lo]:1455/auth/callback")), "host is not"},
		{"redirect with encoded host", goodWith(redirectParam("http://127.0.0.%31:1455/auth/callback")), "not a valid url"},
		{"redirect https", goodWith(redirectParam("https://127.0.0.1:1455/auth/callback")), "redirect_uri does not start with http://"},
		{"redirect javascript", goodWith(redirectParam("javascript:alert(1)")), "redirect_uri does not start with http://"},
		{"redirect opaque", goodWith(redirectParam("http:127.0.0.1:1455/auth/callback")), "redirect_uri does not start with http://"},
		{"redirect without port", goodWith(redirectParam("http://127.0.0.1/auth/callback")), "redirect_uri has no port"},
		{"redirect empty port", goodWith(redirectParam("http://127.0.0.1:/auth/callback")), "redirect_uri has no port"},
		{"redirect ipv6 without port", goodWith(redirectParam("http://[::1]/auth/callback")), "redirect_uri has no port"},
		{"redirect port 0", goodWith(redirectParam("http://127.0.0.1:0/auth/callback")), "port is not a number from 1 to 65535"},
		{"redirect port 70000", goodWith(redirectParam("http://127.0.0.1:70000/auth/callback")), "port is not a number from 1 to 65535"},
		{"redirect port 65536", goodWith(redirectParam("http://127.0.0.1:65536/auth/callback")), "port is not a number from 1 to 65535"},
		{"redirect port with leading zero", goodWith(redirectParam("http://127.0.0.1:01455/auth/callback")), "port is not a number from 1 to 65535"},
		{"redirect port not numeric", goodWith(redirectParam("http://127.0.0.1:http/auth/callback")), "redirect_uri is not a valid url"},
		{"redirect path traversal", goodWith(redirectParam("http://127.0.0.1:1455/auth/callback/../x")), "redirect_uri path is not /auth/callback"},
		{"redirect other path", goodWith(redirectParam("http://127.0.0.1:1455/cancel")), "redirect_uri path is not /auth/callback"},
		{"redirect trailing slash", goodWith(redirectParam("http://127.0.0.1:1455/auth/callback/")), "redirect_uri path is not /auth/callback"},
		{"redirect encoded path", goodWith(redirectParam("http://127.0.0.1:1455/auth/%63allback")), "redirect_uri path is not /auth/callback"},
		{"redirect without path", goodWith(redirectParam("http://127.0.0.1:1455")), "redirect_uri path is not /auth/callback"},
		{"redirect userinfo", goodWith(redirectParam("http://user:pw@127.0.0.1:1455/auth/callback")), "redirect_uri has user information"},
		{"redirect userinfo to LAN", goodWith(redirectParam("http://127.0.0.1:1455@192.168.1.20:1455/auth/callback")), "redirect_uri has user information"},
		{"redirect query", goodWith(redirectParam("http://127.0.0.1:1455/auth/callback?next=https://evil.example")), "redirect_uri has a query"},
		{"redirect fragment", goodWith(redirectParam("http://127.0.0.1:1455/auth/callback#x")), "redirect_uri has a fragment"},
		{"redirect control character", goodWith("redirect_uri=http%3A%2F%2F127.0.0.1%3A1455%2Fauth%2Fcallback%0a"), "redirect_uri is not a valid url"},
		{"redirect empty", goodWith("redirect_uri="), "empty redirect_uri"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ParseAuthURL(tt.raw)
			if err == nil {
				t.Fatalf("ParseAuthURL(%q) accepted it: %+v", tt.raw, req)
			}
			if req != nil {
				t.Errorf("refusal returned a non-nil request")
			}
			var ue *URLError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is %T, want *URLError", err, err)
			}
			if !strings.Contains(ue.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", ue.Reason, tt.reason)
			}
			checkURLError(t, ue)
		})
	}
}

// checkURLError asserts what a user reading the error relies on: a fixed
// prefix, a short lower-case reason and nothing that could drive a terminal.
func checkURLError(t *testing.T, ue *URLError) {
	t.Helper()
	msg := ue.Error()
	if want := "oauth: refusing authorization URL: " + ue.Reason + ": " + ue.URL; msg != want {
		t.Errorf("Error() = %q, want %q", msg, want)
	}
	if ue.Reason == "" || ue.Reason != strings.ToLower(ue.Reason[:1])+ue.Reason[1:] || strings.HasSuffix(ue.Reason, ".") {
		t.Errorf("Reason %q: want non-empty, starting lower case, no final period", ue.Reason)
	}
	for _, r := range msg {
		if unicode.IsControl(r) || (r > unicode.MaxASCII && r != '…') {
			t.Fatalf("Error() contains %U: %q", r, msg)
		}
	}
	if n := len([]rune(ue.URL)); n > maxPrintedURL+1 {
		t.Errorf("URL is %d characters long, want at most about %d", n, maxPrintedURL)
	}
}

func TestURLErrorURLIsSafeToPrint(t *testing.T) {
	tests := []struct {
		raw  string
		want string
	}{
		{"javascript:alert(1)", "javascript:alert(1)"},
		{"https://x/\x1b[31mred\x1b[0m", `https://x/\x1b[31mred\x1b[0m`},
		{"a\nb\rc\td", `a\nb\rc\td`},
		{"https://auth.open\u0430i.com/", `https://auth.open\u0430i.com/`},
		{"bidi\u202eevil", `bidi\u202eevil`},
		{"bad\xffutf8", `bad\xffutf8`},
		{`back\slash "quoted"`, `back\\slash "quoted"`},
		{"x" + strings.Repeat("y", 400), "x" + strings.Repeat("y", 299) + "…"},
		// An escape sequence is never cut in half.
		{strings.Repeat("y", 298) + "\x1b", strings.Repeat("y", 298) + "…"},
	}
	for _, tt := range tests {
		_, err := ParseAuthURL(tt.raw)
		var ue *URLError
		if !errors.As(err, &ue) {
			t.Fatalf("ParseAuthURL(%q) = %v, want a *URLError", tt.raw, err)
		}
		if ue.URL != tt.want {
			t.Errorf("ParseAuthURL(%q).URL = %q, want %q", tt.raw, ue.URL, tt.want)
		}
		checkURLError(t, ue)
	}
}

func FuzzParseAuthURL(f *testing.F) {
	f.Add(genuineURL)
	f.Add(good)
	for _, s := range []string{
		goodWith(redirectParam("http://[::1]:1455/auth/callback")),
		goodWith(redirectParam("http://localhost:1457/auth/callback")),
		goodWith(redirectParam("http://127.0.0.1:0/auth/callback")),
		goodWith(redirectParam("http://127.0.0.1:1455/auth/callback/../x")),
		goodWith(redirectParam("http://192.168.1.20:1455/auth/callback")),
		strings.Replace(good, "auth.openai.com", "auth.openai.com@evil.example", 1),
		strings.Replace(good, "auth.openai.com", "auth.openai.com:443", 1),
		good + "&state=x",
		good + "#x",
		"javascript:alert(1)",
		"file:///etc/passwd",
		"data:text/html,x",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := ParseAuthURL(raw)
		if err != nil {
			var ue *URLError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is %T, want *URLError", err, err)
			}
			if req != nil {
				t.Fatal("refusal returned a non-nil request")
			}
			checkURLError(t, ue)
			return
		}
		if req.URL != raw {
			t.Fatalf("URL = %q, want the input %q", req.URL, raw)
		}
		u, err := url.Parse(req.URL)
		if err != nil {
			t.Fatalf("accepted %q, which url.Parse refuses: %v", raw, err)
		}
		if u.Scheme != "https" || !strings.EqualFold(u.Hostname(), "auth.openai.com") || (u.Port() != "" && u.Port() != "443") || u.User != nil {
			t.Fatalf("accepted %q: scheme %q, host %q, port %q, user %v", raw, u.Scheme, u.Hostname(), u.Port(), u.User)
		}
		if u.Path != "/oauth/authorize" || u.Fragment != "" || strings.ContainsAny(raw, "# \t\r\n\x1b") {
			t.Fatalf("accepted %q: path %q, fragment %q", raw, u.Path, u.Fragment)
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			t.Fatalf("accepted %q with a malformed query: %v", raw, err)
		}
		if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("state") == "" || len(q["state"]) != 1 || len(q["redirect_uri"]) != 1 {
			t.Fatalf("accepted %q with query %v", raw, q)
		}
		r, err := url.Parse(q.Get("redirect_uri"))
		if err != nil {
			t.Fatalf("accepted redirect_uri %q that url.Parse refuses: %v", q.Get("redirect_uri"), err)
		}
		if r.Scheme != "http" || r.User != nil || r.RawQuery != "" || r.Fragment != "" || r.Path != "/auth/callback" {
			t.Fatalf("accepted redirect_uri %q", q.Get("redirect_uri"))
		}
		switch r.Hostname() {
		case "127.0.0.1", "localhost", "::1":
		default:
			t.Fatalf("accepted redirect_uri %q with host %q", q.Get("redirect_uri"), r.Hostname())
		}
		if req.RedirectHost != r.Hostname() || req.RedirectURI.String() != r.String() {
			t.Fatalf("RedirectHost %q, RedirectURI %v; redirect_uri re-parses to %q, %v", req.RedirectHost, req.RedirectURI, r.Hostname(), r)
		}
		if req.Port < 1 || req.Port > 65535 || r.Port() != strconv.Itoa(req.Port) {
			t.Fatalf("Port = %d, redirect_uri port %q", req.Port, r.Port())
		}
		again, err := ParseAuthURL(req.URL)
		if err != nil || *again.RedirectURI != *req.RedirectURI || again.Port != req.Port || again.RedirectHost != req.RedirectHost {
			t.Fatalf("second parse differs: %+v, %v", again, err)
		}
	})
}
