package tunnel

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"
)

// Terminal is a [Prompter] on the controlling terminal. Like OpenSSH it talks
// to the terminal device itself, not to stdin and stdout, so that prompts work
// while those are redirected and never end up in a pipe.
type Terminal struct {
	in  *os.File
	out *os.File

	mu     sync.Mutex // one prompt at a time
	reader *bufio.Reader
}

var _ Prompter = (*Terminal)(nil)

// OpenTerminal opens the controlling terminal. It fails when the process has
// none (started by cron, by CI, with setsid…); callers then run without a
// Prompter.
func OpenTerminal() (*Terminal, error) {
	in, out, err := openTTY()
	if err != nil {
		return nil, fmt.Errorf("tunnel: no terminal: %w", err)
	}
	t, err := newTerminal(in, out)
	if err != nil {
		in.Close()
		if out != in {
			out.Close()
		}
		return nil, err
	}
	return t, nil
}

func newTerminal(in, out *os.File) (*Terminal, error) {
	if !term.IsTerminal(int(in.Fd())) {
		return nil, fmt.Errorf("tunnel: no terminal: %s is not a terminal", in.Name())
	}
	return &Terminal{in: in, out: out, reader: bufio.NewReader(in)}, nil
}

// Close releases the terminal.
func (t *Terminal) Close() error {
	err := t.in.Close()
	if t.out != t.in {
		t.out.Close()
	}
	return err
}

// Prompt implements [Prompter]. When ctx ends while it waits, the terminal's
// settings are restored and Prompt returns at once; the read itself stays
// blocked until the process exits, which it is about to do.
func (t *Terminal) Prompt(ctx context.Context, prompt string, echo bool) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, err := io.WriteString(t.out, prompt); err != nil {
		return "", fmt.Errorf("tunnel: write to terminal: %w", err)
	}
	fd := int(t.in.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("tunnel: terminal: %w", err)
	}
	type answer struct {
		s   string
		err error
	}
	done := make(chan answer, 1)
	go func() {
		if echo {
			s, err := t.reader.ReadString('\n')
			if err == io.EOF && s == "" {
				err = ErrNoAnswer
			} else if err == io.EOF {
				err = nil
			}
			done <- answer{strings.TrimRight(s, "\r\n"), err}
			return
		}
		b, err := term.ReadPassword(fd)
		io.WriteString(t.out, "\n")
		done <- answer{string(b), err}
	}()
	select {
	case a := <-done:
		return a.s, a.err
	case <-ctx.Done():
		term.Restore(fd, state)
		io.WriteString(t.out, "\n")
		return "", ctx.Err()
	}
}
