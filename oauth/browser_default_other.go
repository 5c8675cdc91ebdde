//go:build !unix

package oauth

// defaultCommands is empty: github.com/pkg/browser opens the URL.
func defaultCommands() [][]string { return nil }
