package oauth

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxAuthURLLength is the longest authorization URL [ParseAuthURL] accepts.
// Real ones are about 500 bytes; the limit only bounds what a remote can
// make us parse and print.
const MaxAuthURLLength = 8 << 10

// CallbackPath is the path of codex's login server that the issuer
// redirects the browser to, with the authorization code in the query.
const CallbackPath = "/auth/callback"

const (
	authHost = "auth.openai.com"
	authPath = "/oauth/authorize"
)

// maxPrintedURL bounds the URL text kept in a [URLError].
const maxPrintedURL = 300

// AuthRequest is an authorization URL that passed validation.
type AuthRequest struct {
	URL          string   // the URL exactly as codex printed it: this is what gets opened
	RedirectURI  *url.URL // parsed redirect_uri
	RedirectHost string   // "127.0.0.1", "localhost" or "::1" (as written, brackets removed)
	Port         int      // callback port from redirect_uri (1455, 1457 or whatever codex printed — never assumed)
}

// URLError is returned by [ParseAuthURL] for every refusal.
type URLError struct {
	// Reason says what is wrong, in lower case without a final period.
	Reason string
	// URL is the refused text made safe to print: control characters,
	// ANSI escapes and anything outside printable ASCII are shown escaped,
	// and long input is cut at about 300 characters, ending in "…".
	URL string
}

func (e *URLError) Error() string {
	return "oauth: refusing authorization URL: " + e.Reason + ": " + e.URL
}

// ParseAuthURL validates the URL a remote codex printed. Anything that is
// not a codex authorization URL is refused, so that a compromised or odd
// remote cannot make the laptop open an arbitrary URL or file. Every
// refusal is a *[URLError].
//
// raw must be the URL alone: surrounding whitespace (such as the "\r" a PTY
// puts at the end of a line) is refused, not trimmed.
func ParseAuthURL(raw string) (*AuthRequest, error) {
	refuse := func(reason string) (*AuthRequest, error) {
		return nil, &URLError{Reason: reason, URL: printable(raw)}
	}

	// Byte-level checks first, so that nothing below has to think about
	// spaces that split a command line, escapes that repaint a terminal or
	// look-alike Unicode letters in the host (an ASCII-only URL has no IDN).
	if raw == "" {
		return refuse("empty")
	}
	if len(raw) > MaxAuthURLLength {
		return refuse("longer than " + strconv.Itoa(MaxAuthURLLength) + " bytes")
	}
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			return refuse("contains whitespace")
		case c < 0x20 || c == 0x7f:
			return refuse("contains a control character")
		case c >= 0x80:
			return refuse("contains a character outside printable ascii")
		}
	}

	u, err := url.Parse(raw)
	if err != nil {
		return refuse("not a valid url")
	}
	// url.Parse lower-cases the scheme and accepts "https:host" (opaque)
	// forms; look at the text itself so that only the plain form passes.
	if !strings.HasPrefix(raw, "https://") || u.Scheme != "https" || u.Opaque != "" {
		return refuse("does not start with https://")
	}
	// The authority is compared as written: url.Parse would decode percent
	// escapes in the host and hide "auth%2eopenai.com"-style spellings.
	rest := raw[len("https://"):]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, rest := rest[:end], rest[end:]
	if strings.Contains(authority, "@") || u.User != nil {
		return refuse("user information before the host")
	}
	host, port, hasPort := strings.Cut(authority, ":")
	if !strings.EqualFold(host, authHost) || !strings.EqualFold(u.Hostname(), authHost) {
		return refuse("host is not " + authHost)
	}
	if hasPort && port != "443" {
		return refuse("port is not 443")
	}
	if strings.Contains(rest, "#") {
		return refuse("has a fragment")
	}
	path, query, _ := strings.Cut(rest, "?")
	if path != authPath || u.Path != authPath {
		return refuse("path is not " + authPath)
	}

	q, err := url.ParseQuery(query)
	if err != nil {
		return refuse("malformed query: " + err.Error())
	}
	// Each parameter that matters exactly once: with two, the issuer and we
	// could each read a different one.
	for _, name := range []string{"response_type", "client_id", "redirect_uri", "code_challenge", "code_challenge_method", "state"} {
		switch n := len(q[name]); {
		case n == 0:
			return refuse("missing " + name)
		case n > 1:
			return refuse(name + " appears more than once")
		case q.Get(name) == "":
			return refuse("empty " + name)
		}
	}
	if q.Get("response_type") != "code" {
		return refuse("response_type is not code")
	}
	if q.Get("code_challenge_method") != "S256" {
		return refuse("code_challenge_method is not S256")
	}

	redirect, rhost, rport, reason := parseRedirectURI(q.Get("redirect_uri"))
	if reason != "" {
		return refuse("redirect_uri " + reason)
	}
	return &AuthRequest{URL: raw, RedirectURI: redirect, RedirectHost: rhost, Port: rport}, nil
}

// parseRedirectURI checks that s is exactly http://HOST:PORT/auth/callback
// with a loopback HOST: the only place a login server started by codex can
// listen, and the only place we will forward the browser's callback to. On
// refusal it returns a reason to be prefixed with "redirect_uri ".
func parseRedirectURI(s string) (u *url.URL, host string, port int, reason string) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, "", 0, "is not a valid url"
	}
	if !strings.HasPrefix(s, "http://") || u.Scheme != "http" || u.Opaque != "" {
		return nil, "", 0, "does not start with http://"
	}
	rest := s[len("http://"):]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, rest := rest[:end], rest[end:]
	if strings.Contains(authority, "@") || u.User != nil {
		return nil, "", 0, "has user information"
	}

	// Split host and port by hand, as written: "[::1]:1455" or "host:1455".
	var portText string
	var hasPort bool
	if strings.HasPrefix(authority, "[") {
		inside, after, ok := strings.Cut(authority[1:], "]")
		if !ok {
			return nil, "", 0, "is not a valid url"
		}
		host = inside
		portText, hasPort = strings.CutPrefix(after, ":")
		if after != "" && !hasPort {
			return nil, "", 0, "is not a valid url"
		}
	} else {
		host, portText, hasPort = strings.Cut(authority, ":")
	}
	switch host {
	case "127.0.0.1", "localhost", "::1":
	default:
		return nil, "", 0, "host is not 127.0.0.1, localhost or [::1]"
	}
	if u.Hostname() != host {
		// Our split and net/url disagree: refuse rather than guess which
		// one a browser would follow.
		return nil, "", 0, "is not a valid url"
	}
	if !hasPort || portText == "" {
		return nil, "", 0, "has no port"
	}
	port, ok := parsePort(portText)
	if !ok || u.Port() != portText {
		return nil, "", 0, "port is not a number from 1 to 65535"
	}
	if strings.Contains(rest, "#") {
		return nil, "", 0, "has a fragment"
	}
	if strings.Contains(rest, "?") {
		return nil, "", 0, "has a query"
	}
	if rest != CallbackPath || u.Path != CallbackPath || u.RawPath != "" {
		return nil, "", 0, "path is not " + CallbackPath
	}
	return u, host, port, ""
}

// parsePort accepts a port written in plain decimal without leading zeros,
// from 1 to 65535.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n >= 1 && n <= 65535
}

// printable returns s escaped like a Go string literal's contents
// (non-ASCII and control bytes as \x.., \u.., so ANSI escapes and
// look-alike letters show), cut to about maxPrintedURL bytes with "…".
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		if r >= 0x20 && r < 0x7f && r != '\\' {
			piece = s[i : i+size]
		} else {
			q := strconv.QuoteToASCII(s[i : i+size])
			piece = q[1 : len(q)-1]
		}
		if b.Len()+len(piece) > maxPrintedURL {
			b.WriteString("…")
			break
		}
		b.WriteString(piece)
		i += size
	}
	return b.String()
}
