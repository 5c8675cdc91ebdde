//go:build unix && !darwin

package oauth

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestDefaultBrowserDoesNotBlock: in generic mode xdg-open returns only when
// the browser it started exits; without $BROWSER the login must still go on.
func TestDefaultBrowserDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	argv := filepath.Join(dir, "argv")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argv + "\nexec sleep 5\n"
	if err := os.WriteFile(filepath.Join(dir, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+"/usr/bin:/bin")

	const u = "https://auth.openai.com/oauth/authorize?state=x"
	b := &Browser{Grace: 300 * time.Millisecond}
	start := time.Now()
	if err := b.Open(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Open took %s: a helper still running must count as opened after the grace period", took)
	}
	if got := recordedArgs(t, argv); !slices.Equal(got, []string{u}) {
		t.Errorf("xdg-open got %q, want the URL as its one argument", got)
	}
}
