//go:build unix && !darwin

package oauth

import (
	"os"
	"strings"
)

// defaultCommands are the helpers github.com/pkg/browser tries on Linux and
// the BSDs, in its order. Running them ourselves matters: in xdg-open's
// generic mode (no desktop environment) the helper only returns when the
// browser it started exits, so pkg/browser's blocking call would hold the
// login until then.
func defaultCommands() [][]string {
	cmds := [][]string{{"xdg-open"}, {"x-www-browser"}, {"www-browser"}}
	if b, err := os.ReadFile("/proc/version"); err == nil && strings.Contains(strings.ToLower(string(b)), "microsoft") {
		cmds = append([][]string{{"wslview"}}, cmds...)
	}
	return cmds
}
