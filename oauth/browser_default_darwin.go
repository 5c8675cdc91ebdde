//go:build darwin

package oauth

// defaultCommands is what github.com/pkg/browser runs on macOS.
func defaultCommands() [][]string { return [][]string{{"open"}} }
