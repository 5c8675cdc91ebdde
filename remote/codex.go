package remote

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Marker starts the lines the remote script prints about itself, so that
// they can be told from codex's own output.
const marker = "codex-remote-login:"

// Codex says how to run the codex CLI on the remote host.
type Codex struct {
	// Command is the remote codex program: a name looked up on the PATH of
	// the user's login shell (default "codex"), or a path; "~/" means the
	// remote home.
	Command string
	// Home becomes CODEX_HOME when set, and is created (mode 0700) if
	// missing, since codex refuses a CODEX_HOME that does not exist.
	Home string
}

// loginShellPath asks the user's login shell for its PATH, so that what
// ~/.profile, ~/.zprofile or ~/.config/fish adds — npm's global prefix, nvm,
// Homebrew — applies; `ssh host codex` alone runs a non-login shell and often
// finds no codex. Shells that are not sh-like (csh, tcsh, nu…) are skipped.
// The startup files may print anything: only the marker line counts.
const loginShellPath = `p=$(case "${SHELL##*/}" in (bash|zsh|ksh|ksh93|mksh|dash|sh|ash|yash|fish) "$SHELL" -l -c 'echo "` + marker + `path:$PATH"' </dev/null 2>/dev/null;; esac | sed -n 's/^` + marker + `path://p' | tail -n 1); [ -n "$p" ] && PATH=$p; export PATH`

// knownDirs are where npm, nvm, volta, bun and Homebrew put codex when the
// login shell does not say: nvm in particular is set up in ~/.bashrc, which
// non-interactive shells leave early on Debian and Ubuntu. The last match
// wins, which for nvm is the highest version in glob order.
const knownDirs = `"$HOME/.local/bin" "$HOME/.npm-global/bin" "$HOME/.npm/bin" "$HOME/.volta/bin" "$HOME/.bun/bin" "$HOME/bin" /usr/local/bin /opt/homebrew/bin "$HOME"/.nvm/versions/node/*/bin`

// Script returns the sh script that finds codex, reports its version on a
// marker line and then replaces itself with `codex args…`, with BROWSER set
// to a no-op so that codex opens nothing on the server. All of it runs in one
// exec request: learning the version costs no extra round trip.
//
// It exits 127 after a "not-found" marker line when there is no codex.
func (c Codex) Script(args ...string) string {
	cmd := c.Command
	if cmd == "" {
		cmd = "codex"
	}
	s := []string{
		"c=" + homeWord(cmd),
		loginShellPath,
		`case $c in (*/*) ;; (*) command -v "$c" >/dev/null 2>&1 || { f=; for d in ` + knownDirs + `; do [ -x "$d/$c" ] && f=$d; done; [ -n "$f" ] && PATH=$f:$PATH; };; esac`,
		`command -v "$c" >/dev/null 2>&1 || { echo "` + marker + `not-found"; exit 127; }`,
		`v=$("$c" --version 2>&1 </dev/null); s=$?; v=$(printf '%s' "$v" | paste -s -d ' ' -)`,
		`printf '%s\n' "` + marker + `version:$s:$v"`,
		`BROWSER=true; export BROWSER`,
	}
	if c.Home != "" {
		s = append(s, "h="+homeWord(c.Home), `[ -d "$h" ] || mkdir -p -m 700 "$h" || exit 1`, `CODEX_HOME=$h; export CODEX_HOME`)
	}
	words := []string{`exec "$c"`}
	for _, a := range args {
		words = append(words, word(a))
	}
	s = append(s, strings.Join(words, " "))
	return script(s...)
}

// MinVersion is the oldest codex that can log in with a ChatGPT plan, as
// OpenAI's documentation says.
var MinVersion = Version{0, 20, 0}

// Version is a codex release number.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

var (
	cliVersion = regexp.MustCompile(`codex-cli\s+v?(\d+)\.(\d+)(?:\.(\d+))?`)
	anyVersion = regexp.MustCompile(`\bv?(\d+)\.(\d+)\.(\d+)\b`)
)

// ParseVersion reads the version out of `codex --version` output, which may
// carry warnings around "codex-cli 0.169.0".
func ParseVersion(out string) (Version, bool) {
	m := cliVersion.FindStringSubmatch(out)
	if m == nil {
		m = anyVersion.FindStringSubmatch(out)
	}
	if m == nil {
		return Version{}, false
	}
	var v Version
	var err error
	if v.Major, err = strconv.Atoi(m[1]); err != nil {
		return Version{}, false
	}
	if v.Minor, err = strconv.Atoi(m[2]); err != nil {
		return Version{}, false
	}
	if m[3] != "" {
		if v.Patch, err = strconv.Atoi(m[3]); err != nil {
			return Version{}, false
		}
	}
	return v, true
}

// versionLine splits a marker version line's payload "STATUS:OUTPUT".
func versionLine(payload string) (status int, out string) {
	st, out, _ := strings.Cut(payload, ":")
	status, err := strconv.Atoi(st)
	if err != nil {
		status = -1
	}
	return status, strings.TrimSpace(out)
}
