// Package e2e is the end-to-end suite of codex-remote-login: the real
// command against real OpenSSH servers in network namespaces, the real Codex
// CLI and a real headless Chromium. Everything lives in files built with the
// e2e tag, so a plain `go test ./...` does not run (or need root for) it.
//
// # Running
//
// As root, after e2e/install-deps:
//
//	go test -tags e2e -count=1 -timeout 20m -v ./e2e/
//
// README.md beside this file describes the world it builds and how to add a
// scenario.
package e2e
