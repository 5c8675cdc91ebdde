package remote

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeCodexScript stands in for codex in the script tests: it reports its
// version, then what it was run with.
const fakeCodexScript = `#!/bin/sh
if [ "$1" = --version ]; then echo "codex-cli 0.169.0"; exit 0; fi
printf 'args:%s\n' "$*"
printf 'arg1:%s\n' "$1"
printf 'BROWSER=%s\n' "$BROWSER"
printf 'CODEX_HOME=%s\n' "$CODEX_HOME"
`

func writeExecutable(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

// runAs runs an exec-request command line the way sshd does: through the
// user's login shell as `shell -c line`, with a bare environment.
func runAs(t *testing.T, shell, line, home string, extraEnv ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(shell, "-c", line)
	cmd.Env = append([]string{"HOME=" + home, "SHELL=" + shell, "PATH=/usr/bin:/bin", "USER=tester"}, extraEnv...)
	cmd.Dir = home
	out, err := cmd.CombinedOutput()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", shell, err)
	}
	return string(out), code
}

// shells are the login shells users have; each must run our command line
// the same way. Missing ones are reported, not silently passed.
func shells(t *testing.T) []string {
	var found []string
	for _, name := range []string{"sh", "bash", "dash", "zsh", "fish", "tcsh", "csh"} {
		if p, err := exec.LookPath(name); err == nil {
			found = append(found, p)
		} else if os.Getenv("CI") == "true" {
			// CI installs every shell (.ci/run): a missing one there is a
			// broken setup, not a pass.
			t.Errorf("shell %s not installed on CI", name)
		} else {
			t.Logf("shell %s not installed here: not tested", name)
		}
	}
	return found
}

func TestCommandLineSameInEveryShell(t *testing.T) {
	tricky := []string{
		"plain",
		"it's",
		`double"quote`,
		"$HOME and $(id) and `id`",
		`back\slash`,
		"semi;colon & amp | pipe",
		"glob * ? [a]",
		"bang!history",
		"space  twice",
		"~/not-expanded",
		"café ünïcode",
		"tab\there",
		`ends with backslash\`,
		`back\'quote`,
		`two\\backslashes`,
		"",
	}
	for _, shell := range shells(t) {
		home := t.TempDir()
		writeExecutable(t, filepath.Join(home, "bin", "codex"), fakeCodexScript)
		for _, arg := range tricky {
			c := Codex{Command: filepath.Join(home, "bin", "codex")}
			out, code := runAs(t, shell, Command(c.Script(arg)), home)
			if code != 0 {
				t.Errorf("%s, arg %q: exit %d\n%s", shell, arg, code, out)
				continue
			}
			if !strings.Contains(out, "\narg1:"+arg+"\n") {
				t.Errorf("%s: argument %q arrived changed:\n%s", shell, arg, out)
			}
			if !strings.Contains(out, "BROWSER=true\n") {
				t.Errorf("%s: BROWSER not set to a no-op:\n%s", shell, out)
			}
		}
	}
}

func TestScriptFindsCodexThroughLoginShell(t *testing.T) {
	for _, shell := range shells(t) {
		base := filepath.Base(shell)
		if base == "tcsh" || base == "csh" {
			continue // not sh-like: the script does not ask them for PATH
		}
		t.Run(base, func(t *testing.T) {
			home := t.TempDir()
			writeExecutable(t, filepath.Join(home, "npm-global", "bin", "codex"), fakeCodexScript)
			line := "PATH=\"$HOME/npm-global/bin:$PATH\"; export PATH\n"
			// Each shell's login files, as npm's or nvm's instructions
			// would have the user write them.
			os.WriteFile(filepath.Join(home, ".profile"), []byte("echo welcome from profile\n"+line), 0o644)
			os.WriteFile(filepath.Join(home, ".zprofile"), []byte(line), 0o644)
			os.MkdirAll(filepath.Join(home, ".config", "fish"), 0o755)
			os.WriteFile(filepath.Join(home, ".config", "fish", "config.fish"), []byte("set -gx PATH $HOME/npm-global/bin $PATH\n"), 0o644)
			out, code := runAs(t, shell, Command(Codex{}.Script("login")), home)
			if code != 0 || !strings.Contains(out, marker+"version:0:codex-cli 0.169.0\n") || !strings.Contains(out, "\nargs:login\n") {
				t.Fatalf("exit %d, codex not found through the login shell:\n%s", code, out)
			}
			if strings.Contains(out, "welcome from profile") {
				t.Errorf("login shell chatter leaked into the output:\n%s", out)
			}
		})
	}
}

func TestScriptFindsCodexInNvmDir(t *testing.T) {
	home := t.TempDir()
	// nvm sets PATH in ~/.bashrc, which non-interactive shells skip.
	writeExecutable(t, filepath.Join(home, ".nvm", "versions", "node", "v20.11.0", "bin", "codex"), fakeCodexScript)
	out, code := runAs(t, "/bin/sh", Command(Codex{}.Script("login")), home)
	if code != 0 || !strings.Contains(out, "\nargs:login\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestScriptReportsMissingCodex(t *testing.T) {
	home := t.TempDir()
	for _, c := range []Codex{{}, {Command: "/nowhere/codex"}, {Command: "codex-nightly"}} {
		out, code := runAs(t, "/bin/sh", Command(c.Script("login")), home)
		if code != 127 || strings.TrimSpace(out) != marker+"not-found" {
			t.Errorf("%+v: exit %d, output %q; want 127 and the not-found marker", c, code, out)
		}
	}
}

func TestScriptCodexHome(t *testing.T) {
	home := t.TempDir()
	writeExecutable(t, filepath.Join(home, "bin", "codex"), fakeCodexScript)
	c := Codex{Command: "~/bin/codex", Home: "~/work codex"}
	out, code := runAs(t, "/bin/sh", Command(c.Script("login")), home)
	want := filepath.Join(home, "work codex")
	if code != 0 || !strings.Contains(out, "CODEX_HOME="+want+"\n") {
		t.Fatalf("exit %d, CODEX_HOME not %s:\n%s", code, want, out)
	}
	st, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("created CODEX_HOME has mode %v, want 0700", st.Mode().Perm())
	}
}

func TestScriptIsOneLine(t *testing.T) {
	s := Codex{Command: "codex", Home: "/x"}.Script("login", "status")
	if strings.ContainsAny(s, "\n\r") {
		t.Fatalf("script has a line break, which csh refuses inside quotes:\n%s", s)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":      "''",
		"a b":   "'a b'",
		"it's":  `'it'\''s'`,
		"$HOME": "'$HOME'",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzScript checks that whatever the user gives as --codex, --codex-home or
// an argument, the command line keeps to what every login shell reads alike.
func FuzzScript(f *testing.F) {
	f.Add("codex", "~/.codex", "login")
	f.Add(`it's \\ \' ! $(x)`, "a\tb", "é")
	f.Fuzz(func(t *testing.T, command, home, arg string) {
		if strings.ContainsAny(command+home+arg, "\x00\n\r") {
			t.Skip("line breaks and NUL are refused before a script is built")
		}
		s := Codex{Command: command, Home: home}.Script(arg)
		for _, bad := range []string{"!", "\n", "\r", `\\`, `\'`} {
			if strings.Contains(s, bad) {
				t.Fatalf("script holds %q:\n%s", bad, s)
			}
		}
	})
}
