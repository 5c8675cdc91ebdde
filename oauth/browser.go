package oauth

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/pkg/browser"
)

// Opener opens a URL in the local browser. The login command takes one as a
// field so tests replace it.
type Opener interface {
	Open(ctx context.Context, url string) error
}

// DefaultBrowserGrace is how long [Browser.Open] waits for a browser command
// to fail before counting it as opened, when [Browser.Grace] is zero.
const DefaultBrowserGrace = time.Second

// outputDrainWait bounds how long Open waits, after a browser command has
// exited, for the rest of its output to reach Stderr: a child it left
// running in the background may keep the pipe open indefinitely.
const outputDrainWait = 250 * time.Millisecond

// Browser opens URLs as the user's desktop would: Command (the value of
// $BROWSER, passed in by main — the package never reads the environment
// itself) when non-empty, else the desktop's helper: on Linux and the BSDs
// the commands github.com/pkg/browser would run (wslview under WSL, then
// xdg-open, x-www-browser, www-browser), on macOS open(1) — run like $BROWSER
// commands, so they get the grace period, their own process group and
// captured output — and elsewhere (Windows) github.com/pkg/browser itself.
type Browser struct {
	// Command is the value of $BROWSER: a command, or a list of commands
	// separated by os.PathListSeparator, tried in order. Each is split into
	// words with strings.Fields and run directly, never through a shell. In
	// its arguments "%s" is replaced by the URL and "%%" by "%"; when no
	// argument contains "%s" the URL is appended as the last argument. The
	// URL is always exactly one argument, whatever characters it holds.
	Command string
	// Stderr receives what a launched browser command prints (its stdout
	// and stderr) while Open waits for it; output after Open has returned
	// is discarded, so Stderr is never written once Open is done. nil
	// discards everything. Not used for github.com/pkg/browser (Windows),
	// which writes to the process's own stdout and stderr.
	Stderr io.Writer
	// Grace is how long a browser command has to fail (fail to start, or
	// exit non-zero) before it counts as opened; zero means
	// DefaultBrowserGrace.
	Grace time.Duration
}

var _ Opener = (*Browser)(nil)

// Open opens url in the browser.
//
// A browser command may return at once (it handed the URL to a running
// browser) or run for a long time (it is the browser, or a headless one that
// loads the page and exits later). So a command that exits 0, or is still
// running after the grace period, counts as opened; one that cannot be
// started or exits non-zero within the grace period has failed and the next
// one is tried. A command still running is left running — it may be the
// user's browser — and a goroutine waits for it so that it does not stay a
// zombie; that goroutine outlives Open, ending when the command exits.
//
// When every command fails, the error names each one (as written in
// Command, without the URL) and how it failed.
func (b *Browser) Open(ctx context.Context, url string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("oauth: open browser: %w", err)
	}
	grace := b.Grace
	if grace <= 0 {
		grace = DefaultBrowserGrace
	}
	entries := splitBrowserCommand(b.Command)
	if len(entries) == 0 {
		entries = defaultCommands()
	}
	if len(entries) == 0 {
		return openDefault(ctx, url, grace)
	}
	var failures []string
	for _, words := range entries {
		err := b.run(ctx, words, url, grace)
		if err == nil {
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("oauth: open browser: %w", ctxErr)
		}
		failures = append(failures, fmt.Sprintf("%q: %v", strings.Join(words, " "), err))
	}
	return fmt.Errorf("oauth: open browser: every browser command failed: %s", strings.Join(failures, "; "))
}

// openDefault runs github.com/pkg/browser where no desktop helper is known
// (Windows). It knows no context and waits for its helper, so it runs in a
// goroutine: a helper still running after the grace period counts as opened,
// as with $BROWSER, and the goroutine ends by itself when the helper exits.
func openDefault(ctx context.Context, url string, grace time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- browser.OpenURL(url) }()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("oauth: open browser: %w", err)
		}
		return nil
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("oauth: open browser: %w", ctx.Err())
	}
}

// splitBrowserCommand splits a $BROWSER value into commands and their words,
// skipping empty entries.
func splitBrowserCommand(command string) [][]string {
	var entries [][]string
	for _, entry := range strings.Split(command, string(os.PathListSeparator)) {
		if words := strings.Fields(entry); len(words) > 0 {
			entries = append(entries, words)
		}
	}
	return entries
}

// browserArgs returns the arguments for a browser command: words (the
// command's own arguments) with "%s" replaced by url and "%%" by "%", and url
// appended when no word contains "%s". The URL is inserted as it is, never
// scanned for "%" itself.
func browserArgs(words []string, url string) []string {
	args := make([]string, 0, len(words)+1)
	substituted := false
	for _, w := range words {
		if !strings.Contains(w, "%") {
			args = append(args, w)
			continue
		}
		var sb strings.Builder
		for i := 0; i < len(w); i++ {
			if w[i] == '%' && i+1 < len(w) {
				switch w[i+1] {
				case 's':
					sb.WriteString(url)
					substituted = true
					i++
					continue
				case '%':
					sb.WriteByte('%')
					i++
					continue
				}
			}
			sb.WriteByte(w[i])
		}
		args = append(args, sb.String())
	}
	if !substituted {
		args = append(args, url)
	}
	return args
}

// run starts one browser command and waits up to grace for it to fail.
func (b *Browser) run(ctx context.Context, words []string, url string, grace time.Duration) error {
	// Not exec.CommandContext: when ctx ends we stop waiting, but the
	// browser we started is the user's and stays.
	cmd := exec.Command(words[0], browserArgs(words[1:], url)...)
	// Stdin stays nil (/dev/null): the terminal belongs to the login.
	// Its own process group, so that the Ctrl-C that cancels the login
	// does not also close a browser this command happened to start.
	detach(cmd)

	// The command's output goes through our own pipe, not exec's copying
	// goroutines: cmd.Wait would wait for those until every process
	// holding the pipe (a browser forked into the background) closed it,
	// and we need to see the command itself exit.
	var out *handoffWriter
	var drained chan struct{}
	if b.Stderr != nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			return err
		}
		cmd.Stdout, cmd.Stderr = pw, pw
		if err := cmd.Start(); err != nil {
			pr.Close()
			pw.Close()
			return err
		}
		pw.Close()
		out = &handoffWriter{w: b.Stderr}
		drained = make(chan struct{})
		// Drains the pipe until every holder of its write end has exited,
		// which can be long after Open returns: closing it earlier could
		// kill a browser with SIGPIPE. After Open it writes nowhere.
		go func() {
			defer close(drained)
			io.Copy(out, pr) //nolint:errcheck // handoffWriter never fails; a read error just ends the drain.
			pr.Close()
		}()
		defer out.detach()
	} else if err := cmd.Start(); err != nil {
		return err
	}

	exited := make(chan error, 1)
	// Reaps the browser command whenever it exits, possibly long after
	// Open has returned; it is never killed.
	go func() { exited <- cmd.Wait() }()

	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case err := <-exited:
		if drained != nil {
			// Let what it printed before exiting (often the reason it
			// failed) reach Stderr.
			select {
			case <-drained:
			case <-time.After(outputDrainWait):
			}
		}
		return err // nil for exit 0; "exit status 1" or "signal: killed" otherwise
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handoffWriter passes writes to w until detach, then discards them. Writes
// never fail, so the drain never stops and the writer never sees a write
// after detach has returned.
type handoffWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (h *handoffWriter) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.w != nil {
		h.w.Write(p) //nolint:errcheck // the browser's chatter is best effort.
	}
	return len(p), nil
}

func (h *handoffWriter) detach() {
	h.mu.Lock()
	h.w = nil
	h.mu.Unlock()
}
