//go:build unix

package oauth

import (
	"os/exec"
	"syscall"
)

// detach puts the browser in a process group of its own: the terminal's
// SIGINT goes to the foreground group only.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
