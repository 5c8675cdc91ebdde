package remote

import (
	"strings"
	"testing"
	"unicode"
)

const realURL = "https://auth.openai.com/oauth/authorize?response_type=code&client_id=app_EMoamEEZ73f0CkXaXp7hrann&redirect_uri=http%3A%2F%2F127.0.0.1%3A1455%2Fauth%2Fcallback&code_challenge=s6rssBu2LuktFeJ3sXXfKq1O-p1MvkmNQE9Wch04xDY&code_challenge_method=S256&state=30QH6bDEbSr9ioK18U_3Ii8sx5n8UdktWNJeq91jmAM&scope=openid+profile+email+offline_access+api.connectors.read+api.connectors.invoke&id_token_add_organizations=true&codex_cli_simplified_flow=true&originator=codex_cli_rs"

func TestParseLine(t *testing.T) {
	tests := []struct {
		line string
		want Event
	}{
		{marker + "not-found", Event{Kind: NotFound}},
		{marker + "version:0:codex-cli 0.169.0", Event{Kind: VersionReport, Status: 0, Text: "codex-cli 0.169.0"}},
		{marker + "version:0:WARNING: proceeding, even though … codex-cli 0.169.0", Event{Kind: VersionReport, Text: "WARNING: proceeding, even though … codex-cli 0.169.0"}},
		{marker + "version:126:/usr/bin/env: 'node': No such file or directory", Event{Kind: VersionReport, Status: 126, Text: "/usr/bin/env: 'node': No such file or directory"}},
		{realURL, Event{Kind: AuthURL, Text: realURL}},
		{"  " + realURL + "  ", Event{Kind: AuthURL, Text: realURL}},
		{"visit <" + realURL + ">.", Event{Kind: AuthURL, Text: realURL}},
		{"https://AUTH.openai.com/OAUTH/authorize?x=1", Event{Kind: AuthURL, Text: "https://AUTH.openai.com/OAUTH/authorize?x=1"}},
		// A hostile URL is still a candidate: validation refuses it later, loudly.
		{"https://evil.example/oauth/authorize?x", Event{Kind: AuthURL, Text: "https://evil.example/oauth/authorize?x"}},
		{"Starting local login server on http://localhost:1455.", Event{Kind: Text, Text: "Starting local login server on http://localhost:1455."}},
		{"see https://help.ubuntu.com for help", Event{Kind: Text, Text: "see https://help.ubuntu.com for help"}},
		{"On a remote or headless machine? Use `codex login --device-auth` instead.", Event{Kind: Text, Text: "On a remote or headless machine? Use `codex login --device-auth` instead."}},
		{"Successfully logged in", Event{Kind: LoggedIn, Text: "Successfully logged in"}},
		{"Error logging in: Login cancelled", Event{Kind: Failure, Text: "Error logging in: Login cancelled"}},
		{"Error logging in: Port 127.0.0.1:1457 is already in use", Event{Kind: Failure, Text: "Error logging in: Port 127.0.0.1:1457 is already in use"}},
		{"Sign-in failed: access_denied", Event{Kind: Failure, Text: "Sign-in failed: access_denied"}},
		{"Error loading configuration: CODEX_HOME points to \"/x\", but that path does not exist", Event{Kind: Failure, Text: "Error loading configuration: CODEX_HOME points to \"/x\", but that path does not exist"}},
		{"", Event{Kind: Text}},
		{marker + "bogus", Event{Kind: Text, Text: marker + "bogus"}},
	}
	for _, tt := range tests {
		if got := ParseLine(Sanitize(tt.line)); got != tt.want {
			t.Errorf("ParseLine(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

func TestSanitize(t *testing.T) {
	tests := map[string]string{
		"plain":                    "plain",
		"\x1b[31mred\x1b[0m":       "red",
		"\x1b]0;new title\x07text": "text",
		"\x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\": "link",
		"line\r":                "line",
		"bell\a and nul\x00":    "bell and nul",
		"a\tb":                  "a b",
		"bidi \u202eevil\u202c": "bidi evil",
		"bad \xff utf8":         "bad \uFFFD utf8",
		"\x1b[2J\x1b[Hcleared":  "cleared",
	}
	for in, want := range tests {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadLinesBoundsLongLines(t *testing.T) {
	long := strings.Repeat("x", 3*MaxLine)
	var got []string
	err := readLines(strings.NewReader("first\r\n"+long+"\nlast"), func(s string) { got = append(got, s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != "first" || len(got[1]) != MaxLine || got[2] != "last" {
		t.Fatalf("got %d lines (lengths %v), want first, a line cut at %d, last", len(got), lens(got), MaxLine)
	}
}

func lens(ss []string) []int {
	var n []int
	for _, s := range ss {
		n = append(n, len(s))
	}
	return n
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want Version
		ok   bool
	}{
		{"codex-cli 0.169.0", Version{0, 169, 0}, true},
		{"codex-cli 0.20.0", Version{0, 20, 0}, true},
		{"codex-cli 0.1.2505172129", Version{0, 1, 2505172129}, true},
		{"WARNING: proceeding 1.2.3 codex-cli 0.169.0", Version{0, 169, 0}, true},
		{"codex-cli 1.0", Version{1, 0, 0}, true},
		{"codex 2.3.4-beta", Version{2, 3, 4}, true},
		{"command not found", Version{}, false},
		{"codex-cli 99999999999999999999.0.0", Version{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseVersion(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if !(Version{0, 19, 9}).Less(MinVersion) || (Version{0, 20, 0}).Less(MinVersion) || !(Version{0, 1, 2505172129}).Less(MinVersion) {
		t.Error("version ordering is wrong around 0.20.0")
	}
}

// FuzzParseLine feeds arbitrary remote output through the reader and the
// parser: no panic, nothing unprintable comes out, and an AuthURL is always
// an https token.
func FuzzParseLine(f *testing.F) {
	f.Add(realURL)
	f.Add(marker + "version:0:codex-cli 0.169.0")
	f.Add("\x1b]0;x\x07Error logging in: \x1b[1mboom")
	f.Add("https://auth.openai.com/oauth/authorize\x00\u202e")
	f.Fuzz(func(t *testing.T, s string) {
		readLines(strings.NewReader(s), func(line string) {
			for _, r := range line {
				if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
					t.Fatalf("sanitized line %q holds %U", line, r)
				}
			}
			ev := ParseLine(line)
			if ev.Kind == AuthURL && (!strings.HasPrefix(strings.ToLower(ev.Text), "https://") || strings.ContainsAny(ev.Text, " \t")) {
				t.Fatalf("AuthURL %q from %q", ev.Text, line)
			}
		})
	})
}
