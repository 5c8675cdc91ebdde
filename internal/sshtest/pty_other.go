//go:build !linux

package sshtest

import (
	"os"
	"syscall"

	"github.com/creack/pty"
)

// Outside Linux the server works with less fidelity: the pty master stays blocking (closing it
// may wait for a read in progress), terminal modes are not applied, and Close kills only the
// process group of each command.

func openPTY() (ptm, pts *os.File, err error) { return pty.Open() }

func setWinsize(ptm *os.File, cols, rows, width, height uint32) error {
	return pty.Setsize(ptm, &pty.Winsize{Rows: uint16(rows), Cols: uint16(cols), X: uint16(width), Y: uint16(height)})
}

func applyModes(pts *os.File, modes []byte) error { return nil }

func waitExited(pid int) {}

func sessionMembers(sid int) []int { return nil }

// ProcessAlive reports whether pid is a process that can still be signalled.
func ProcessAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }
