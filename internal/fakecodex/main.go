package fakecodex

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// EnvVar, set to "1" in the environment of a test binary, makes its TestMain run [Main].
const EnvVar = "CODEX_REMOTE_LOGIN_FAKE_CODEX"

// Main runs the fake codex with args (os.Args[1:]) and returns its exit code. It is the whole
// program: see the package documentation.
func Main(args []string) int {
	if raceEnabled {
		skipRaceExitSleep(args)
	}
	p := &program{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	return p.main(args)
}

// skipRaceExitSleep re-executes the binary in place (same pid) with GORACE=atexit_sleep_ms=0
// unless GORACE sets it already: a test binary built with -race otherwise sleeps a second
// before every exit with status 0, and every successful fake codex would take a second longer.
func skipRaceExitSleep(args []string) {
	gorace := os.Getenv("GORACE")
	if strings.Contains(gorace, "atexit_sleep_ms") {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	env := []string{strings.TrimSpace(gorace + " atexit_sleep_ms=0")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	env[0] = "GORACE=" + env[0]
	syscall.Exec(exe, append([]string{os.Args[0]}, args...), env)
	// Exec failed: carry on, a second slower.
}

// Install makes dir/codex a symbolic link to the running test binary and returns the
// environment entry, EnvVar+"=1", that makes the binary run as the fake codex.
func Install(t testing.TB, dir string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("fakecodex: %v", err)
	}
	if err := os.Symlink(exe, filepath.Join(dir, "codex")); err != nil {
		t.Fatalf("fakecodex: %v", err)
	}
	return EnvVar + "=1"
}

type program struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func (p *program) errorf(format string, args ...any) {
	fmt.Fprintf(p.stderr, format+"\n", args...)
}

const (
	usageTop    = "Usage: codex [OPTIONS] [PROMPT]\n       codex [OPTIONS] <COMMAND> [ARGS]"
	usageLogin  = "Usage: codex login [OPTIONS] [COMMAND]"
	usageStatus = "Usage: codex login status [OPTIONS]"
	usageLogout = "Usage: codex logout [OPTIONS]"
)

// clapError prints an argument error the way clap, codex's parser, does, and returns its exit
// code.
func (p *program) clapError(usage, msg string) int {
	p.errorf("error: %s\n\n%s\n\nFor more information, try '--help'.", msg, usage)
	return 2
}

func (p *program) unexpected(usage, arg string, top bool) int {
	msg := fmt.Sprintf("unexpected argument '%s' found", arg)
	if top {
		msg += fmt.Sprintf("\n\n  tip: to pass '%s' as a value, use '-- %s'", arg, arg)
	}
	return p.clapError(usage, msg)
}

// option reports whether args[0] is one of the options every codex command accepts and
// ignores here (-c/--config, --enable, --disable), and how many arguments it takes.
func option(args []string) (n int, ok bool, missing string) {
	a := args[0]
	for _, name := range []string{"--config", "--enable", "--disable"} {
		if strings.HasPrefix(a, name+"=") {
			return 1, true, ""
		}
		if a == name || (name == "--config" && a == "-c") {
			if len(args) < 2 {
				return 1, true, name
			}
			return 2, true, ""
		}
	}
	if strings.HasPrefix(a, "-c") && len(a) > 2 {
		return 1, true, ""
	}
	return 0, false, ""
}

func (p *program) main(args []string) int {
	if f := p.getenv("FAKE_CODEX_PIDFILE"); f != "" {
		if err := os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			p.errorf("fakecodex: pidfile: %v", err)
			return 2
		}
	}
	for len(args) > 0 {
		a := args[0]
		if n, ok, missing := option(args); ok {
			if missing != "" {
				return p.clapError(usageTop, fmt.Sprintf("a value is required for '%s' but none was supplied", missing))
			}
			args = args[n:]
			continue
		}
		switch {
		case a == "--version" || a == "-V":
			fmt.Fprintf(p.stdout, "codex-cli %s\n", p.env("FAKE_CODEX_VERSION", "0.169.0"))
			return 0
		case a == "-h" || a == "--help":
			fmt.Fprintf(p.stdout, "Codex CLI (fake)\n\n%s\n", usageTop)
			return 0
		case strings.HasPrefix(a, "-"):
			return p.unexpected(usageTop, a, true)
		case a == "login":
			p.prelude()
			return p.loginCommand(args[1:])
		case a == "logout":
			p.prelude()
			return p.logoutCommand(args[1:])
		default:
			p.errorf("fakecodex: %q: only login, logout and --version are faked", a)
			return 2
		}
	}
	p.errorf("fakecodex: the interactive mode is not faked")
	return 2
}

func (p *program) env(name, def string) string {
	if v := p.getenv(name); v != "" {
		return v
	}
	return def
}

// prelude prints the lines codex prints before anything else, such as its warning about
// PATH aliases.
func (p *program) prelude() {
	if v := p.getenv("FAKE_CODEX_PRELUDE"); v != "" {
		fmt.Fprintln(p.stderr, strings.TrimRight(v, "\n"))
	}
}

func (p *program) loginCommand(args []string) int {
	var withAPIKey, apiKey, deviceAuth bool
	for len(args) > 0 {
		a := args[0]
		if n, ok, missing := option(args); ok {
			if missing != "" {
				return p.clapError(usageLogin, fmt.Sprintf("a value is required for '%s' but none was supplied", missing))
			}
			args = args[n:]
			continue
		}
		switch {
		case a == "--with-api-key":
			withAPIKey = true
		case a == "--api-key" || strings.HasPrefix(a, "--api-key="):
			apiKey = true
			if a == "--api-key" && len(args) > 1 {
				args = args[1:]
			}
		case a == "--device-auth":
			deviceAuth = true
		case a == "-h" || a == "--help":
			fmt.Fprintf(p.stdout, "Manage login\n\n%s\n", usageLogin)
			return 0
		case strings.HasPrefix(a, "-"):
			return p.unexpected(usageLogin, a, false)
		case a == "status":
			rest := args[1:]
			for len(rest) > 0 {
				n, ok, _ := option(rest)
				if !ok {
					return p.unexpected(usageStatus, rest[0], false)
				}
				rest = rest[n:]
			}
			return p.withHome(p.status)
		default:
			return p.clapError(usageLogin, fmt.Sprintf("unrecognized subcommand '%s'", a))
		}
		args = args[1:]
	}
	switch {
	case apiKey:
		p.errorf("The --api-key flag is no longer supported. Pipe the key instead, e.g. `printenv OPENAI_API_KEY | codex login --with-api-key`.")
		return 1
	case deviceAuth:
		p.errorf("fakecodex: login --device-auth is not faked")
		return 2
	case withAPIKey:
		return p.withHome(p.loginWithAPIKey)
	}
	if msg := p.getenv("FAKE_CODEX_FAIL"); msg != "" {
		p.errorf("Error logging in: %s", msg)
		return 1
	}
	return p.withHome(p.login)
}

func (p *program) logoutCommand(args []string) int {
	for len(args) > 0 {
		n, ok, _ := option(args)
		if !ok {
			return p.unexpected(usageLogout, args[0], false)
		}
		args = args[n:]
	}
	return p.withHome(func(home string) int {
		err := os.Remove(filepath.Join(home, "auth.json"))
		switch {
		case err == nil:
			p.errorf("Successfully logged out")
		case errors.Is(err, os.ErrNotExist):
			p.errorf("Not logged in")
		default:
			p.errorf("Error logging out: %v", err)
			return 1
		}
		return 0
	})
}

// withHome runs f with CODEX_HOME, which, when set, must exist, as codex requires.
func (p *program) withHome(f func(home string) int) int {
	home := p.getenv("CODEX_HOME")
	if home != "" {
		if _, err := os.Stat(home); err != nil {
			p.errorf("Error loading configuration: CODEX_HOME points to %q, but that path does not exist", home)
			return 1
		}
	} else {
		h := p.getenv("HOME")
		if h == "" {
			p.errorf("Error loading configuration: could not determine the home directory")
			return 1
		}
		home = filepath.Join(h, ".codex")
	}
	return f(home)
}
