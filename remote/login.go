package remote

import (
	"context"
	"fmt"
	"io"
	"log"
)

// NotFoundError reports that the remote host has no codex the script could
// find, neither on the login shell's PATH nor in the usual install places.
type NotFoundError struct{ Command string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("remote: %s not found on the remote host", e.Command)
}

// TooOldError reports a codex older than [MinVersion].
type TooOldError struct{ Version Version }

func (e *TooOldError) Error() string {
	return fmt.Sprintf("remote: codex %s is too old: logging in with a ChatGPT plan needs %s or newer", e.Version, MinVersion)
}

// CodexError relays the line codex printed when it failed, and how it exited.
type CodexError struct {
	Line   string // codex's own error line, sanitized; may be empty
	Status int    // exit status, -1 when none was reported
}

func (e *CodexError) Error() string {
	switch {
	case e.Line != "" && e.Status >= 0:
		return fmt.Sprintf("remote: codex failed (exit status %d): %s", e.Status, e.Line)
	case e.Line != "":
		return fmt.Sprintf("remote: codex failed: %s", e.Line)
	case e.Status >= 0:
		return fmt.Sprintf("remote: codex exited with status %d", e.Status)
	}
	return "remote: codex ended without an exit status"
}

// Login is `codex login` running on the remote host, read in three steps:
// [Login.Version], [Login.URL], [Login.Wait].
type Login struct {
	proc    *Process
	codex   Codex
	log     *log.Logger
	failure string   // the last error line codex printed
	tail    []string // the last lines, for a failure that printed no error line
}

// StartLogin starts `codex login` through the user's login shell, under a
// pseudo-terminal, with BROWSER set to a no-op.
func StartLogin(ctx context.Context, s Sessioner, c Codex, logger *log.Logger) (*Login, error) {
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	p, err := Start(ctx, s, Command(c.Script("login")), true, logger)
	if err != nil {
		return nil, err
	}
	return &Login{proc: p, codex: c, log: logger}, nil
}

// Process returns the remote process.
func (l *Login) Process() *Process { return l.proc }

// next returns the next event, or ok false once the output has ended.
func (l *Login) next(ctx context.Context) (ev Event, ok bool, err error) {
	select {
	case <-ctx.Done():
		return Event{}, false, ctx.Err()
	case line, ok := <-l.proc.Lines():
		if !ok {
			return Event{}, false, nil
		}
		ev := ParseLine(line)
		switch ev.Kind {
		case Failure:
			l.failure = ev.Text
		case Text:
			if ev.Text != "" {
				l.tail = append(l.tail, ev.Text)
				if len(l.tail) > 5 {
					l.tail = l.tail[1:]
				}
			}
		}
		return ev, true, nil
	}
}

// ended turns the end of the output before the step was reached into the
// error that explains it.
func (l *Login) ended(ctx context.Context) error {
	select {
	case <-l.proc.Exited():
	case <-ctx.Done():
		return ctx.Err()
	}
	status := l.proc.ExitStatus()
	line := l.failure
	if line == "" && len(l.tail) > 0 {
		line = l.tail[len(l.tail)-1]
	}
	return &CodexError{Line: line, Status: status}
}

// Version waits for the script's report of `codex --version` and checks it.
// A codex that cannot be found or is older than [MinVersion] is an error
// ([*NotFoundError], [*TooOldError]). ok is false when the version could not
// be read (a development build, say): the login goes on.
func (l *Login) Version(ctx context.Context) (v Version, raw string, ok bool, err error) {
	for {
		ev, more, err := l.next(ctx)
		if err != nil {
			return Version{}, "", false, err
		}
		if !more {
			return Version{}, "", false, l.ended(ctx)
		}
		switch ev.Kind {
		case NotFound:
			cmd := l.codex.Command
			if cmd == "" {
				cmd = "codex"
			}
			return Version{}, "", false, &NotFoundError{Command: cmd}
		case VersionReport:
			if ev.Status != 0 {
				return Version{}, "", false, &CodexError{Line: ev.Text, Status: ev.Status}
			}
			v, ok := ParseVersion(ev.Text)
			if ok && v == (Version{}) {
				// Builds from source call themselves 0.0.0.
				ok = false
			}
			if ok && v.Less(MinVersion) {
				return v, ev.Text, true, &TooOldError{Version: v}
			}
			return v, ev.Text, ok, nil
		}
	}
}

// URL waits for the authorization URL codex prints. It is returned as
// printed, unvalidated.
func (l *Login) URL(ctx context.Context) (string, error) {
	for {
		ev, more, err := l.next(ctx)
		if err != nil {
			return "", err
		}
		if !more {
			return "", l.ended(ctx)
		}
		switch ev.Kind {
		case AuthURL:
			return ev.Text, nil
		case Failure:
			// Codex may print more before it exits; the exit decides.
		}
	}
}

// Wait waits for codex to exit. It returns nil when codex exited 0, which
// it does only after the browser has loaded its /success page.
func (l *Login) Wait(ctx context.Context) error {
	for {
		_, more, err := l.next(ctx)
		if err != nil {
			return err
		}
		if more {
			continue
		}
		select {
		case <-l.proc.Exited():
		case <-ctx.Done():
			return ctx.Err()
		}
		if l.proc.ExitStatus() == 0 {
			return nil
		}
		return l.ended(ctx)
	}
}

// Close ends the remote codex if it still runs (by hanging up its terminal)
// and waits for the reading goroutines; see [Process.Close].
func (l *Login) Close() { l.proc.Close() }
