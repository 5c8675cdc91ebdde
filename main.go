// Command codex-remote-login signs the Codex CLI on a remote host in with a
// ChatGPT plan, from the laptop's browser, over one SSH connection.
//
// The work happens in the packages: tunnel (SSH connections, jump hosts,
// forwards), remote (what runs on the far side and how its output is read)
// and oauth (the authorization URL, the browser, the callback). This package
// turns flags into options and errors into messages and exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/codex-remote-login/codex-remote-login/oauth"
	"github.com/codex-remote-login/codex-remote-login/tunnel"
)

// Exit codes, as documented in the README.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise
// the module version `go install` recorded is used.
var version = ""

func main() {
	ctx, stop := interruptible()
	code := run(ctx, os.Args, processEnv())
	stop()
	os.Exit(code)
}

// errInterrupted is the cause of a context ended by SIGINT or SIGTERM.
var errInterrupted = errors.New("interrupted")

// interruptible returns a context that the first SIGINT or SIGTERM cancels,
// so that everything unwinds — the remote codex is ended, the local port
// freed. A second signal exits at once.
func interruptible() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-signals:
			cancel(errInterrupted)
		case <-done:
			return
		}
		select {
		case <-signals:
			fmt.Fprintln(os.Stderr, "codex-remote-login: interrupted again, exiting at once")
			os.Exit(exitInterrupted)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(signals)
		close(done)
	}
}

// env is what the app takes from its process. Tests build their own to run
// the CLI in-process.
type env struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// terminal opens the controlling terminal for prompts (host keys,
	// passphrases, passwords). An error means there is none.
	terminal func() (tunnel.Prompter, func(), error)
	// browser opens the authorization URL; nil means the user's browser
	// ($BROWSER, else the desktop's default).
	browser oauth.Opener
	// sshSystemConfig replaces /etc/ssh/ssh_config when set.
	sshSystemConfig string
}

func processEnv() *env {
	return &env{
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
		terminal: func() (tunnel.Prompter, func(), error) {
			t, err := tunnel.OpenTerminal()
			if err != nil {
				return nil, nil, err
			}
			return t, func() { t.Close() }, nil
		},
	}
}

// localUser returns the local user's name and home directory, which ssh_config
// tokens and defaults need.
func (e *env) localUser() (name, home string, err error) {
	home = e.getenv("HOME")
	name = e.getenv("USER")
	if home == "" || name == "" {
		u, err := user.Current()
		if err != nil {
			return "", "", fmt.Errorf("cannot tell the local user: %w", err)
		}
		if home == "" {
			home = u.HomeDir
		}
		if name == "" {
			name = u.Username
		}
	}
	return name, home, nil
}

// run runs the app with args and returns the exit code, having printed any
// error with its hints.
func run(ctx context.Context, args []string, e *env) int {
	app := newApp(e)
	err := app.RunContext(ctx, permute(app, args))
	if err == nil {
		return exitOK
	}
	if errors.Is(context.Cause(ctx), errInterrupted) {
		fmt.Fprintln(e.stderr, "codex-remote-login: interrupted")
		return exitInterrupted
	}
	printError(e.stderr, err)
	var usage *usageError
	var tunnelUsage *tunnel.UsageError
	if errors.As(err, &usage) || errors.As(err, &tunnelUsage) {
		return exitUsage
	}
	return exitFailed
}

// usageError is a command line that cannot be run as written.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "devel"
}

func newApp(e *env) *cli.App {
	login := loginCommand(e)
	return &cli.App{
		Name:      "codex-remote-login",
		Usage:     "sign the Codex CLI on a remote host in with ChatGPT, from this machine's browser",
		UsageText: "codex-remote-login [options] DEST\ncodex-remote-login login [options] DEST",
		Description: `DEST is [user@]host[:port], ssh://[user@]host[:port], or a ~/.ssh/config alias.
Options may come before or after DEST. Connection options follow OpenSSH's.

Examples:
   codex-remote-login user@vps
   codex-remote-login myvps                       # a Host alias from ~/.ssh/config
   codex-remote-login -J jump1,jump2 user@10.0.0.5
   codex-remote-login --no-browser -p 2222 user@vps
   codex-remote-login --codex '~/.local/bin/codex' --codex-home '~/.codex-work' vps

Exit status: 0 logged in, 1 failed, 2 usage error, 130 interrupted.`,
		Flags:                     append(login.Flags, &cli.BoolFlag{Name: "version", Usage: "print the version and exit", DisableDefaultText: true}),
		Action:                    rootAction(e, login),
		Commands:                  []*cli.Command{login},
		HideHelpCommand:           true,
		HideVersion:               true,
		DisableSliceFlagSeparator: true,
		Writer:                    e.stdout,
		ErrWriter:                 e.stderr,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &usageError{msg: strings.TrimPrefix(err.Error(), "flag provided but not defined: ")}
		},
		// Only main exits: errors come back from Run.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

// rootAction runs `login` when no command is named: the app's own
// invocation is the login.
func rootAction(e *env, login *cli.Command) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.Bool("version") {
			fmt.Fprintf(e.stdout, "codex-remote-login %s\n", buildVersion())
			return nil
		}
		return login.Action(c)
	}
}

// permute moves options that follow positional arguments in front of them,
// since urfave/cli stops reading flags at the first positional and users
// write `codex-remote-login vps -J jump` as readily as the other order. It
// knows which flags take a value, and splits -p2222 into -p 2222 as getopt
// does. A command name, when it is the first positional, stays first and
// its flags apply. Everything after "--" stays positional.
func permute(app *cli.App, args []string) []string {
	if len(args) == 0 {
		return args
	}
	rest := args[1:]
	opts, positional, first := splitArgs(app.Flags, rest)
	out := []string{args[0]}
	if first >= 0 {
		if cmd := app.Command(rest[first]); cmd != nil {
			// Read again with the command's flags, without its name.
			out = append(out, rest[first])
			opts, positional, _ = splitArgs(cmd.Flags, append(slices.Clip(rest[:first]), rest[first+1:]...))
		}
	}
	out = append(out, opts...)
	if slices.Contains(opts, "--help") || slices.Contains(opts, "-h") {
		// urfave/cli would take DEST for a help topic.
		return out
	}
	if len(positional) > 0 {
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out
}

// splitArgs separates options (with their values) from positional
// arguments; first is the index in args of the first positional before any
// "--", -1 if none.
func splitArgs(flags []cli.Flag, args []string) (opts, positional []string, first int) {
	first = -1
	valued := map[string]bool{}
	for _, f := range flags {
		tv, ok := f.(interface{ TakesValue() bool })
		for _, n := range f.Names() {
			valued[n] = ok && tv.TakesValue()
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			// What follows is positional, never a command name.
			return opts, append(positional, args[i+1:]...), first
		case len(a) > 1 && a[0] == '-':
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if _, known := valued[name]; !known && a[1] != '-' && len(name) > 1 && valued[name[:1]] {
				// -p2222, -oKey=value, -Jjump: a short option glued to its value.
				opts = append(opts, "-"+name[:1], a[2:])
				continue
			}
			opts = append(opts, a)
			if valued[name] && !hasValue && i+1 < len(args) {
				i++
				opts = append(opts, args[i])
			}
		default:
			if first < 0 {
				first = i
			}
			positional = append(positional, a)
		}
	}
	return opts, positional, first
}
