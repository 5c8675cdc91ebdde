package remote

import (
	"fmt"
	"strings"
)

// Quote returns s as one word for a POSIX shell: single-quoted, with each '
// written as '\”. The result reads the same in sh, bash, zsh, fish and csh
// as long as s holds no newline (csh refuses those inside quotes).
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Command wraps a POSIX sh script into the command line an SSH exec request
// carries. sshd hands that line to the user's login shell, whatever it is
// (bash, zsh, fish, tcsh…), so the line itself is kept to what all of them
// parse alike — exec, a path, and one single-quoted word — and the script
// runs in /bin/sh.
//
// Inside single quotes fish still reads \\ and \', and tcsh still expands !
// history; csh refuses newlines. So the script must be one line and hold none
// of those: its fixed parts are written that way, and values from the user go
// in through [word].
func Command(script string) string {
	return "exec /bin/sh -c " + Quote(script)
}

// script joins statements into a one-line sh script.
func script(statements ...string) string {
	return strings.Join(statements, "; ")
}

// word returns a shell expression that expands to s as one word. Plain
// values are single-quoted; anything else — quotes, backslashes, !, bytes
// beyond ASCII — is spelled as printf octal escapes, which every shell passes
// through untouched. Newlines are not supported (command substitution would
// eat a trailing one); callers refuse them.
func word(s string) string {
	if s != "" && strings.Trim(s, safeChars) == "" {
		return Quote(s)
	}
	var b strings.Builder
	b.WriteString(`"$(printf '`)
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, `\%03o`, s[i])
	}
	b.WriteString(`')"`)
	return b.String()
}

// safeChars need no encoding inside single quotes in any shell.
const safeChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,/:@%+=~^"

// homeWord turns a path into a shell word, expanding a leading "~/" on the
// remote side (the laptop's shell would have expanded an unquoted ~ to the
// laptop's home, which is never what a remote path wants).
func homeWord(path string) string {
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		return `"$HOME"/` + word(rest)
	}
	if path == "~" {
		return `"$HOME"`
	}
	return word(path)
}
