//go:build linux

package tunnel

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ptyTerminal gives the test both ends of a pseudo-terminal: the Terminal
// on the slave, what a person types and sees on the master.
func ptyTerminal(t *testing.T) (*Terminal, *os.File) {
	t.Helper()
	ptm, pts, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptm.Close(); pts.Close() })
	term, err := newTerminal(pts, pts)
	if err != nil {
		t.Fatal(err)
	}
	return term, ptm
}

func echoOn(t *testing.T, f *os.File) bool {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&unix.ECHO != 0
}

// screen collects what the terminal shows.
func screen(ptm *os.File) <-chan string {
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		r := bufio.NewReader(ptm)
		var b strings.Builder
		for {
			c, err := r.ReadByte()
			if err != nil {
				lines <- b.String()
				return
			}
			b.WriteByte(c)
			if c == ' ' || c == '\n' {
				lines <- b.String()
				b.Reset()
			}
		}
	}()
	return lines
}

func waitShown(t *testing.T, shown <-chan string, want string) string {
	t.Helper()
	var all strings.Builder
	deadline := time.After(5 * time.Second)
	for !strings.Contains(all.String(), want) {
		select {
		case s := <-shown:
			all.WriteString(s)
		case <-deadline:
			t.Fatalf("%q never shown; screen: %q", want, all.String())
		}
	}
	return all.String()
}

func TestTerminalPrompt(t *testing.T) {
	term, ptm := ptyTerminal(t)
	shown := screen(ptm)

	got := make(chan string, 1)
	go func() {
		s, err := term.Prompt(context.Background(), "Are you sure (yes/no)? ", true)
		if err != nil {
			t.Error(err)
		}
		got <- s
	}()
	waitShown(t, shown, "Are you sure (yes/no)? ")
	ptm.WriteString("yes\n")
	if s := <-got; s != "yes" {
		t.Errorf("answer %q, want yes", s)
	}

	go func() {
		s, err := term.Prompt(context.Background(), "Enter passphrase: ", false)
		if err != nil {
			t.Error(err)
		}
		got <- s
	}()
	waitShown(t, shown, "Enter passphrase: ")
	ptm.WriteString("s3cret\n")
	if s := <-got; s != "s3cret" {
		t.Errorf("passphrase %q", s)
	}
	if !echoOn(t, term.in) {
		t.Error("echo left off after the passphrase")
	}
	ptm.WriteString("visible\n")
	if screenText := waitShown(t, shown, "visible"); strings.Contains(screenText, "s3cret") {
		t.Errorf("the passphrase was echoed: %q", screenText)
	}
}

func TestTerminalPromptCancelRestoresEcho(t *testing.T) {
	term, ptm := ptyTerminal(t)
	shown := screen(ptm)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := term.Prompt(ctx, "Password: ", false)
		errc <- err
	}()
	waitShown(t, shown, "Password: ")
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if !echoOn(t, term.in) {
		t.Error("a cancelled passphrase prompt left echo off")
	}
}
