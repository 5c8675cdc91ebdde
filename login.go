package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/codex-remote-login/codex-remote-login/oauth"
	"github.com/codex-remote-login/codex-remote-login/remote"
	"github.com/codex-remote-login/codex-remote-login/tunnel"
)

// loginOptions is what `codex-remote-login [login] DEST` was asked to do.
type loginOptions struct {
	dest      string
	ssh       tunnel.Options
	noBrowser bool
	timeout   time.Duration
	codex     remote.Codex
	verbose   bool
}

func loginCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "login",
		Usage:     "log codex on DEST in with ChatGPT, through this machine's browser (the default command)",
		ArgsUsage: "DEST",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "port", Aliases: []string{"p"}, Usage: "SSH `PORT` of DEST", DefaultText: "22, or Port from ssh_config"},
			&cli.StringFlag{Name: "login-name", Aliases: []string{"l"}, Usage: "remote `USER`", DefaultText: "User from ssh_config, or your local user name"},
			&cli.StringSliceFlag{Name: "identity", Aliases: []string{"i"}, Usage: "identity (private key) `FILE`, repeatable"},
			&cli.StringFlag{Name: "jump", Aliases: []string{"J"}, Usage: "connect through jump hosts `HOP[,HOP…]`, each [user@]host[:port]; none ignores ProxyJump"},
			&cli.StringFlag{Name: "config", Aliases: []string{"F"}, Usage: "ssh config `FILE` instead of ~/.ssh/config (none: no file)"},
			&cli.StringSliceFlag{Name: "option", Aliases: []string{"o"}, Usage: "ssh_config `Key=Value`, repeatable (see README for the keys supported)"},
			&cli.BoolFlag{Name: "accept-new", Usage: "record unknown host keys without asking (StrictHostKeyChecking=accept-new); changed keys are still refused", DisableDefaultText: true},
			&cli.BoolFlag{Name: "no-browser", Usage: "print the URL, open nothing", DisableDefaultText: true},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "give up after `DURATION`"},
			&cli.StringFlag{Name: "codex", Value: "codex", Usage: "the remote codex `CMD`: a name on the login shell's PATH or a path"},
			&cli.StringFlag{Name: "codex-home", Usage: "remote CODEX_HOME `DIR` (created if missing; quote ~ to mean the remote home)"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "explain each step", DisableDefaultText: true},
		},
		Action: func(c *cli.Context) error {
			opts, err := e.loginOptionsFrom(c)
			if err != nil {
				return err
			}
			return e.runLogin(c.Context, opts)
		},
	}
}

func (e *env) loginOptionsFrom(c *cli.Context) (loginOptions, error) {
	switch c.NArg() {
	case 0:
		return loginOptions{}, usagef("missing DEST: say which host to log codex in on, e.g. codex-remote-login user@vps")
	case 1:
	default:
		return loginOptions{}, usagef("one DEST expected, got %d: %s", c.NArg(), strings.Join(c.Args().Slice(), " "))
	}
	if c.Duration("timeout") <= 0 {
		return loginOptions{}, usagef("--timeout must be positive, got %s", c.Duration("timeout"))
	}
	if c.String("codex") == "" {
		return loginOptions{}, usagef("--codex must name a program")
	}
	for _, v := range []string{c.String("codex"), c.String("codex-home")} {
		if strings.ContainsAny(v, "\x00\n\r") {
			return loginOptions{}, usagef("--codex and --codex-home must not contain line breaks")
		}
	}
	name, home, err := e.localUser()
	if err != nil {
		return loginOptions{}, err
	}
	host, _ := os.Hostname()
	sshOpts := tunnel.Options{
		ConfigFile:   c.String("config"),
		SystemConfig: e.sshSystemConfig,
		Port:         c.Int("port"),
		User:         c.String("login-name"),
		Identities:   c.StringSlice("identity"),
		Jump:         c.String("jump"),
		Options:      c.StringSlice("option"),
		Home:         home,
		LocalUser:    name,
		LocalHost:    host,
		UID:          os.Getuid(),
		AgentSocket:  e.getenv("SSH_AUTH_SOCK"),
	}
	if c.Bool("accept-new") {
		// First value wins, so this goes before any -o.
		sshOpts.Options = append([]string{"StrictHostKeyChecking=accept-new"}, sshOpts.Options...)
	}
	return loginOptions{
		dest:      c.Args().First(),
		ssh:       sshOpts,
		noBrowser: c.Bool("no-browser"),
		timeout:   c.Duration("timeout"),
		codex:     remote.Codex{Command: c.String("codex"), Home: c.String("codex-home")},
		verbose:   c.Bool("verbose"),
	}, nil
}

// timeoutError is the end of a run that took longer than --timeout.
type timeoutError struct{ after time.Duration }

func (e *timeoutError) Error() string {
	return fmt.Sprintf("timed out after %s", e.after)
}

// progress prints the steps of the flow. Forwarded connections report from
// their own goroutines, hence the lock.
type progress struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *progress) say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.w.Write(b)
}

// runLogin is the login flow: connect, start codex login, check its URL,
// forward its callback port, open the browser, wait for codex to finish.
// Whatever happens, the deferred cleanup leaves nothing running on either
// side.
func (e *env) runLogin(ctx context.Context, opts loginOptions) (err error) {
	ctx, cancel := context.WithTimeoutCause(ctx, opts.timeout, &timeoutError{after: opts.timeout})
	defer cancel()
	// A step that ended because of the timeout reports the timeout.
	defer func() {
		if err != nil && errors.Is(err, context.DeadlineExceeded) {
			err = context.Cause(ctx)
		}
	}()

	out := &progress{w: e.stderr}
	logger := log.New(io.Discard, "", 0)
	if opts.verbose {
		logger = log.New(out, "debug: ", 0)
	}

	route, err := tunnel.Resolve(opts.dest, opts.ssh)
	if err != nil {
		return err
	}
	dest := displayName(route.Dest)
	via := ""
	if len(route.Jumps) > 0 {
		names := make([]string, len(route.Jumps))
		for i, j := range route.Jumps {
			names[i] = j.Alias
		}
		via = " (via " + strings.Join(names, ", ") + ")"
	}
	out.say("connecting to %s%s …", dest, via)

	dialer := &tunnel.Dialer{Notice: out, Log: logger}
	if e.terminal != nil {
		if prompt, closeTerminal, err := e.terminal(); err == nil {
			dialer.Prompt = prompt
			defer closeTerminal()
		} else {
			logger.Printf("no terminal for prompts: %v", err)
		}
	}
	conn, err := dialer.Connect(ctx, route)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Whatever step failed, a lost connection is the reason to report.
	defer func() {
		if lost := conn.Err(); err != nil && lost != nil {
			err = lost
		}
	}()

	lg, err := remote.StartLogin(ctx, conn, opts.codex, logger)
	if err != nil {
		return err
	}
	var fwd *tunnel.Forward
	port := 0
	succeeded := false
	defer func() {
		cleanUp(ctx, lg, conn, fwd, port, succeeded, logger)
	}()

	v, raw, ok, err := lg.Version(ctx)
	if err != nil {
		return err
	}
	if ok {
		out.say("codex-cli %s found on %s", v, route.Dest.Alias)
	} else {
		out.say("codex found on %s (version unknown: %q)", route.Dest.Alias, raw)
	}

	rawURL, err := lg.URL(ctx)
	if err != nil {
		return err
	}
	req, err := oauth.ParseAuthURL(rawURL)
	if err != nil {
		return err
	}
	port = req.Port
	// A browser may resolve "localhost" to ::1; "[::1]" means only that.
	listeners, err := tunnel.ListenLoopback(ctx, req.Port, req.RedirectHost != "127.0.0.1")
	if err != nil {
		return err
	}
	remoteAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(req.Port))
	var callbackSeen sync.Once
	fwd = &tunnel.Forward{
		Dial: func(ctx context.Context) (net.Conn, error) {
			return conn.DialContext(ctx, "tcp", remoteAddr)
		},
		Tap: func() io.Writer {
			return oauth.WatchRequests(func(method, path string) {
				logger.Printf("browser: %s %s", method, path)
				if path == "/auth/callback" {
					callbackSeen.Do(func() { out.say("callback received, codex is finishing the sign-in …") })
				}
			})
		},
		Log: logger,
	}
	fwd.Start(ctx, listeners)
	out.say("tunnel 127.0.0.1:%d → %s:%s", req.Port, route.Dest.Alias, remoteAddr)

	if opts.noBrowser {
		out.say("open this URL in your browser:\n  %s", req.URL)
	} else {
		out.say("opening your browser — if it does not open, visit:\n  %s", req.URL)
	}
	// Said before the browser starts: a quick browser's callback would
	// otherwise be reported first.
	out.say("waiting for you to sign in … (Ctrl-C to cancel)")
	if !opts.noBrowser {
		browser := e.browser
		if browser == nil {
			browser = &oauth.Browser{Command: e.getenv("BROWSER")}
		}
		if err := browser.Open(ctx, req.URL); err != nil {
			out.say("could not open a browser (%v); open the URL above yourself", err)
		}
	}

	if err := lg.Wait(ctx); err != nil {
		return err
	}
	succeeded = true
	fmt.Fprintf(e.stdout, "signed in: codex on %s is logged in with ChatGPT\n", dest)
	return nil
}

// cleanUp ends what the run started, in an order that works even when the
// connection is dead: if codex still waits, ask it to cancel through the
// tunnel (its own /cancel endpoint) and give it a moment to exit; hang its
// terminal up (SIGHUP on the remote side); let connections still carrying
// codex's last page finish; close the SSH connection; wait for the readers.
// It takes at most about two seconds.
func cleanUp(ctx context.Context, lg *remote.Login, conn *tunnel.Conn, fwd *tunnel.Forward, port int, succeeded bool, logger *log.Logger) {
	base := context.WithoutCancel(ctx)
	proc := lg.Process()
	running := func() bool {
		select {
		case <-proc.Exited():
			return false
		default:
			return true
		}
	}
	if running() && port != 0 && conn.Err() == nil {
		cctx, cancel := context.WithTimeout(base, 800*time.Millisecond)
		err := oauth.Cancel(cctx, port, func(ctx context.Context) (net.Conn, error) {
			return conn.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		})
		cancel()
		if err != nil {
			logger.Printf("cancel the remote codex login: %v", err)
		}
		select {
		case <-proc.Exited():
		case <-time.After(500 * time.Millisecond):
		}
	}
	if running() {
		logger.Printf("hanging up the remote codex")
	}
	proc.Hangup()
	if fwd != nil {
		grace := 0 * time.Second
		if succeeded {
			grace = 2 * time.Second
		}
		fctx, cancel := context.WithTimeout(base, grace)
		fwd.Drain(fctx)
		cancel()
	}
	// Closed before waiting for the forward and the readers: on a dead link
	// their channels end only with the connection.
	conn.Close()
	if fwd != nil {
		fwd.Wait()
	}
	lg.Close()
}

// displayName is how the user named the host: user@alias, with the port
// when it is not 22 and came from neither config nor alias.
func displayName(ep tunnel.Endpoint) string {
	name := ep.User + "@" + ep.Alias
	if ep.Port != 22 && ep.Alias == ep.Host {
		name = ep.User + "@" + net.JoinHostPort(ep.Alias, strconv.Itoa(ep.Port))
	}
	return name
}
