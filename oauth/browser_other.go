//go:build !unix

package oauth

import "os/exec"

// detach does nothing here: a console's Ctrl-C is not sent by process
// group the way a Unix terminal's SIGINT is.
func detach(*exec.Cmd) {}
