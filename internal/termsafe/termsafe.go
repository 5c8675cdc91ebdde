// Package termsafe cleans text that another machine sent before it reaches
// the laptop's terminal. A remote host — the VPS, or any jump host on the way
// — must not be able to move the cursor, rewrite what was shown, retitle the
// window or reorder text with bidirectional overrides.
package termsafe

import (
	"regexp"
	"strings"
	"unicode"
)

// ansi matches terminal escape sequences: CSI (colours, cursor moves), OSC
// (titles, hyperlinks) and two-byte escapes.
var ansi = regexp.MustCompile("\x1b\\[[0-?]*[ -/]*[@-~]|\x1b\\][^\x07\x1b]*(\x07|\x1b\\\\)?|\x1b[@-Z\\\\-_]")

// Line returns s with escape sequences, control characters (line breaks and
// carriage returns included) and bidirectional-control characters removed,
// tabs turned into spaces and invalid UTF-8 replaced.
func Line(s string) string { return clean(s, false) }

// Text is [Line] that keeps line breaks, for messages of several lines such
// as a server's keyboard-interactive instructions.
func Text(s string) string { return clean(s, true) }

func clean(s string, keepNewlines bool) string {
	s = ansi.ReplaceAllString(s, "")
	s = strings.ToValidUTF8(s, "\uFFFD")
	if isClean(s, keepNewlines) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteByte(' ')
		case r == '\n' && keepNewlines:
			b.WriteByte('\n')
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isClean(s string, keepNewlines bool) bool {
	for _, r := range s {
		if r == '\n' && keepNewlines {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r))) {
			return false
		}
	}
	return true
}
