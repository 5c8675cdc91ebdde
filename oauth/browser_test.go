package oauth

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const sep = string(os.PathListSeparator)

// fakeBrowser writes a shell script named name in dir that runs prelude and
// then records its arguments, one per line, to the returned file.
func fakeBrowser(t *testing.T, dir, name, prelude string) (path, argvFile string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("fake browsers are shell scripts")
	}
	path = filepath.Join(dir, name)
	argvFile = path + ".argv"
	script := "#!/bin/sh\n" + prelude + "\n" +
		`for a in "$@"; do printf '%s\n' "$a"; done > '` + argvFile + ".tmp' && mv '" + argvFile + ".tmp' '" + argvFile + "'\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, argvFile
}

// recordedArgs returns the arguments a fake browser recorded.
func recordedArgs(t *testing.T, argvFile string) []string {
	t.Helper()
	data, err := os.ReadFile(argvFile)
	if err != nil {
		t.Fatalf("the browser did not record its arguments: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func TestBrowserArgs(t *testing.T) {
	const u = "https://auth.openai.com/oauth/authorize?state=a%25s%25%25"
	tests := []struct {
		words []string
		want  []string
	}{
		{nil, []string{u}},
		{[]string{"--new-window"}, []string{"--new-window", u}},
		{[]string{"%s"}, []string{u}},
		{[]string{"--app=%s", "--x"}, []string{"--app=" + u, "--x"}},
		{[]string{"100%%"}, []string{"100%", u}},
		{[]string{"%%s"}, []string{"%s", u}},                        // an escaped %, then s: no substitution
		{[]string{"%%%s"}, []string{"%" + u}},                       // an escaped %, then %s
		{[]string{"50%", "%d", "%"}, []string{"50%", "%d", "%", u}}, // lone % signs stay
		{[]string{"%s", "%s"}, []string{u, u}},
	}
	for _, tt := range tests {
		if got := browserArgs(tt.words, u); !slices.Equal(got, tt.want) {
			t.Errorf("browserArgs(%q) = %q, want %q", tt.words, got, tt.want)
		}
	}
}

func TestBrowserOpen(t *testing.T) {
	const u = "https://auth.openai.com/oauth/authorize?response_type=code&state=abc"
	tests := []struct {
		name    string
		command func(good string) string
		want    []string
	}{
		{"percent-s substituted", func(g string) string { return g + " --new-window %s" }, []string{"--new-window", u}},
		{"url appended", func(g string) string { return g + " --flag" }, []string{"--flag", u}},
		{"bare command", func(g string) string { return g }, []string{u}},
		{"percent-percent", func(g string) string { return g + " 100%% --open=%s" }, []string{"100%", "--open=" + u}},
		{"extra spaces", func(g string) string { return "  " + g + "   -a\t%s  " }, []string{"-a", u}},
		{"list: false first", func(g string) string { return "false" + sep + g }, []string{u}},
		{"list: missing command first", func(g string) string { return "/nonexistent/browser %s" + sep + sep + g }, []string{u}},
		{"list: first that works wins", func(g string) string { return g + " first" + sep + "false" }, []string{"first", u}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good, argv := fakeBrowser(t, t.TempDir(), "good", "")
			b := &Browser{Command: tt.command(good)}
			if err := b.Open(t.Context(), u); err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got := recordedArgs(t, argv); !slices.Equal(got, tt.want) {
				t.Errorf("browser got arguments %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBrowserRelativeFallback(t *testing.T) {
	dir := t.TempDir()
	_, argv := fakeBrowser(t, dir, "good", "")
	t.Chdir(dir)
	const u = "https://auth.openai.com/oauth/authorize?state=x"
	if err := (&Browser{Command: "false" + sep + "./good"}).Open(t.Context(), u); err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got := recordedArgs(t, argv); !slices.Equal(got, []string{u}) {
		t.Errorf("./good got %q, want [%q]", got, u)
	}
}

func TestBrowserShellMetacharacters(t *testing.T) {
	dir := t.TempDir()
	good, argv := fakeBrowser(t, dir, "good", "")
	t.Chdir(dir)
	// Not a URL ParseAuthURL would pass, but Open must not depend on that.
	u := "https://auth.openai.com/oauth/authorize?state=a;touch pwned1;$(touch pwned2)&x=`touch pwned3`|touch pwned4&y='\"q\" \\ *?~ >pwned5 %s %% <end"
	for _, tt := range []struct{ command, want string }{
		{good, u},
		{good + " %s", u},
		{good + " --app=%s", "--app=" + u},
	} {
		if err := (&Browser{Command: tt.command}).Open(t.Context(), u); err != nil {
			t.Fatalf("Open with %q: %v", tt.command, err)
		}
		if got := recordedArgs(t, argv); !slices.Equal(got, []string{tt.want}) {
			t.Errorf("Command %q: browser got %d arguments %q, want exactly [%q]", tt.command, len(got), got, tt.want)
		}
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "pwned*"))
	if len(matches) > 0 {
		t.Errorf("shell metacharacters in the URL were run: %v", matches)
	}
}

func TestBrowserAllFail(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("fake browsers are shell scripts")
	}
	dir := t.TempDir()
	failing := filepath.Join(dir, "failing")
	if err := os.WriteFile(failing, []byte("#!/bin/sh\necho cannot open display >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	b := &Browser{Command: "false --x %s" + sep + "/nonexistent/browser" + sep + failing, Stderr: &stderr}
	const u = "https://auth.openai.com/oauth/authorize?state=secret-state"
	err := b.Open(t.Context(), u)
	if err == nil {
		t.Fatal("Open succeeded with only failing browsers")
	}
	msg := err.Error()
	for _, want := range []string{"oauth: open browser", `"false --x %s": exit status 1`, `"/nonexistent/browser": `, "no such file", strconv.Quote(failing) + ": exit status 3"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "secret-state") {
		t.Errorf("error %q contains the URL", msg)
	}
	if !strings.Contains(stderr.String(), "cannot open display") {
		t.Errorf("Stderr = %q, want the failing browser's message", stderr.String())
	}
}

func TestBrowserLongRunningCountsAsOpened(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	slow, argv := fakeBrowser(t, dir, "slow", "echo $$ > '"+pidFile+"'; sleep 5")
	t.Cleanup(func() {
		// The test started this process; stop it so that it does not
		// write into the removed temporary directory.
		if data, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				if p, err := os.FindProcess(pid); err == nil {
					p.Kill()
				}
			}
		}
	})
	b := &Browser{Command: slow + sep + "false", Grace: 200 * time.Millisecond}
	start := time.Now()
	if err := b.Open(t.Context(), "https://auth.openai.com/oauth/authorize"); err != nil {
		t.Fatalf("Open: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open took %v with a browser that keeps running, want about the grace period", d)
	}
	if _, err := os.Stat(argv); err == nil {
		t.Errorf("the browser already finished: the test did not exercise a long-running one")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(pidFile); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the browser was not started: %v", err)
		}
	}
}

func TestBrowserFailsOnlyWithinGrace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Fails, but only after the grace period: by then it counts as opened,
	// and the next command is not tried.
	late, _ := fakeBrowser(t, dir, "late", "sleep 1; exit 1")
	next, argv := fakeBrowser(t, dir, "next", "")
	b := &Browser{Command: late + sep + next, Grace: 100 * time.Millisecond}
	if err := b.Open(t.Context(), "https://auth.openai.com/oauth/authorize"); err != nil {
		t.Fatalf("Open: %v", err)
	}
	time.Sleep(1500 * time.Millisecond)
	if _, err := os.Stat(argv); err == nil {
		t.Errorf("the next command ran although the first one outlived the grace period")
	}
}

func TestBrowserStderrOnlyWhileOpening(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	chatty, _ := fakeBrowser(t, dir, "chatty", "echo early; echo early-err >&2; sleep 1; echo late >&2")
	var stderr bytes.Buffer
	b := &Browser{Command: chatty, Stderr: &stderr, Grace: 500 * time.Millisecond}
	if err := b.Open(t.Context(), "https://auth.openai.com/oauth/authorize"); err != nil {
		t.Fatalf("Open: %v", err)
	}
	got := stderr.String() // the race detector flags any later write
	time.Sleep(1500 * time.Millisecond)
	if !strings.Contains(got, "early\n") || !strings.Contains(got, "early-err\n") {
		t.Errorf("Stderr = %q, want the browser's stdout and stderr from before Open returned", got)
	}
	if after := stderr.String(); after != got || strings.Contains(after, "late") {
		t.Errorf("Stderr was written after Open returned: %q", after)
	}
}

func TestBrowserContext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	slow, _ := fakeBrowser(t, dir, "slow", "sleep 2")
	never, argv := fakeBrowser(t, dir, "never", "")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := (&Browser{Command: never}).Open(ctx, "https://x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(argv); err == nil {
		t.Errorf("a browser ran although the context was already cancelled")
	}

	ctx, cancel = context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := (&Browser{Command: slow + sep + never, Grace: time.Minute}).Open(ctx, "https://x")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Open = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Open returned %v after the context ended", d)
	}
	if _, err := os.Stat(argv); err == nil {
		t.Errorf("the next browser ran after the context ended")
	}
}
