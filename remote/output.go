package remote

import (
	"bufio"
	"io"
	"regexp"
	"strings"

	"github.com/codex-remote-login/codex-remote-login/internal/termsafe"
)

// Kind tells what a line of remote output means.
type Kind int

const (
	// Text is any other line: shown with -v, kept for error reports.
	Text Kind = iota
	// NotFound: the script found no codex.
	NotFound
	// VersionReport: the script ran `codex --version`; Status is its exit
	// status and Text its output.
	VersionReport
	// AuthURL: a line carrying what looks like an authorization URL; Text is
	// the URL, still to be validated.
	AuthURL
	// LoggedIn: codex said "Successfully logged in".
	LoggedIn
	// Failure: codex reported an error; Text is its line.
	Failure
)

// Event is one parsed line.
type Event struct {
	Kind   Kind
	Text   string
	Status int
}

// MaxLine bounds a line of remote output; the rest of a longer line is
// dropped, so a hostile remote cannot make the reader buffer without end.
const MaxLine = 16 << 10

// ParseLine reads one line of what the remote script and codex print. It
// expects a line already cleaned by [Sanitize]. Codex puts its URL on a line
// of its own, but extra lines, prefixes and both redirect_uri forms are
// tolerated: what decides is a token that starts with https:// and leads to
// an /oauth/authorize path.
func ParseLine(line string) Event {
	line = strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(line, marker); ok {
		switch {
		case rest == "not-found":
			return Event{Kind: NotFound}
		case strings.HasPrefix(rest, "version:"):
			status, out := versionLine(strings.TrimPrefix(rest, "version:"))
			return Event{Kind: VersionReport, Status: status, Text: out}
		}
	}
	if line == "Successfully logged in" {
		return Event{Kind: LoggedIn, Text: line}
	}
	if failure.MatchString(line) {
		return Event{Kind: Failure, Text: line}
	}
	for _, tok := range strings.Fields(line) {
		tok = strings.TrimLeft(tok, `<("'[`)
		tok = strings.TrimRight(tok, `>)"'].,;`)
		if len(tok) > len("https://") && strings.EqualFold(tok[:len("https://")], "https://") &&
			strings.Contains(strings.ToLower(tok), "/oauth/authorize") {
			return Event{Kind: AuthURL, Text: tok}
		}
	}
	return Event{Kind: Text, Text: line}
}

// failure matches codex's error lines: "Error logging in: …", "Error
// loading configuration: …", "Sign-in failed: …", clap's "error: …".
var failure = regexp.MustCompile(`^(Error\b|error:|Sign-in failed:)`)

// Sanitize makes a line of remote output safe to parse and to print on the
// laptop's terminal; see [termsafe.Line].
func Sanitize(s string) string { return termsafe.Line(s) }

// readLines calls fn with each sanitized line of r until r ends. Lines longer
// than MaxLine are cut there.
func readLines(r io.Reader, fn func(string)) error {
	br := bufio.NewReaderSize(r, 4096)
	var line []byte
	overflow := false
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 && !overflow {
			room := MaxLine - len(line)
			if len(chunk) > room {
				chunk, overflow = chunk[:room], true
			}
			line = append(line, chunk...)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil:
			if len(line) > 0 {
				fn(Sanitize(string(line)))
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
		fn(Sanitize(string(line)))
		line, overflow = line[:0], false
	}
}
