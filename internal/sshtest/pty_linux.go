package sshtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// openPTY opens a pty pair. creack/pty leaves the master in blocking mode (its ioctls go through
// File.Fd), and a blocking read would hold the descriptor open past Close: the terminal would
// never hang up. The master is therefore reopened non-blocking, so that Close interrupts a
// pending read and really closes it.
func openPTY() (ptm, pts *os.File, err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	fd, err := unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	m.Close()
	if err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("dup pty master: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		s.Close()
		return nil, nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), s, nil
}

// setWinsize sets the terminal size through the master without File.Fd, which would put it
// back into blocking mode. The kernel sends SIGWINCH to the foreground process group.
func setWinsize(ptm *os.File, cols, rows, width, height uint32) error {
	rc, err := ptm.SyscallConn()
	if err != nil {
		return err
	}
	ws := &unix.Winsize{Row: uint16(rows), Col: uint16(cols), Xpixel: uint16(width), Ypixel: uint16(height)}
	var ioctlErr error
	if err := rc.Control(func(fd uintptr) {
		ioctlErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws)
	}); err != nil {
		return err
	}
	return ioctlErr
}

// Terminal mode opcodes of RFC 4254 section 8 (and RFC 8160 for IUTF8) that Linux has, as
// OpenSSH's ttymodes.c applies them.
var (
	ccModes = map[byte]int{
		1: unix.VINTR, 2: unix.VQUIT, 3: unix.VERASE, 4: unix.VKILL, 5: unix.VEOF, 6: unix.VEOL,
		7: unix.VEOL2, 8: unix.VSTART, 9: unix.VSTOP, 10: unix.VSUSP, 12: unix.VREPRINT,
		13: unix.VWERASE, 14: unix.VLNEXT, 18: unix.VDISCARD,
	}
	iflagModes = map[byte]uint32{
		30: unix.IGNPAR, 31: unix.PARMRK, 32: unix.INPCK, 33: unix.ISTRIP, 34: unix.INLCR,
		35: unix.IGNCR, 36: unix.ICRNL, 37: unix.IUCLC, 38: unix.IXON, 39: unix.IXANY,
		40: unix.IXOFF, 41: unix.IMAXBEL, 42: unix.IUTF8,
	}
	lflagModes = map[byte]uint32{
		50: unix.ISIG, 51: unix.ICANON, 52: unix.XCASE, 53: unix.ECHO, 54: unix.ECHOE,
		55: unix.ECHOK, 56: unix.ECHONL, 57: unix.NOFLSH, 58: unix.TOSTOP, 59: unix.IEXTEN,
		60: unix.ECHOCTL, 61: unix.ECHOKE, 62: unix.PENDIN,
	}
	oflagModes = map[byte]uint32{
		70: unix.OPOST, 71: unix.OLCUC, 72: unix.ONLCR, 73: unix.OCRNL, 74: unix.ONOCR, 75: unix.ONLRET,
	}
	cflagModes = map[byte]uint32{
		90: unix.CS7, 91: unix.CS8, 92: unix.PARENB, 93: unix.PARODD,
	}
)

// applyModes applies the encoded terminal modes of a "pty-req" to the slave, as sshd does
// before starting the command (so that, e.g., a client asking for ECHO 0 gets no echo).
func applyModes(pts *os.File, modes []byte) error {
	if len(modes) == 0 {
		return nil
	}
	t, err := unix.IoctlGetTermios(int(pts.Fd()), unix.TCGETS)
	if err != nil {
		return err
	}
	set := func(flags *uint32, bit uint32, on bool) {
		if on {
			*flags |= bit
		} else {
			*flags &^= bit
		}
	}
	for len(modes) > 0 {
		op := modes[0]
		// TTY_OP_END, and opcodes 160 and up, which are undefined and stop parsing (RFC 4254).
		if op == 0 || op >= 160 || len(modes) < 5 {
			break
		}
		v := binary.BigEndian.Uint32(modes[1:5])
		modes = modes[5:]
		if i, ok := ccModes[op]; ok {
			t.Cc[i] = uint8(v)
		} else if bit, ok := iflagModes[op]; ok {
			set(&t.Iflag, bit, v != 0)
		} else if bit, ok := lflagModes[op]; ok {
			set(&t.Lflag, bit, v != 0)
		} else if bit, ok := oflagModes[op]; ok {
			set(&t.Oflag, bit, v != 0)
		} else if bit, ok := cflagModes[op]; ok {
			set(&t.Cflag, bit, v != 0)
		}
		// Speeds (128, 129) and modes Linux lacks are ignored, as sshd ignores them.
	}
	return unix.IoctlSetTermios(int(pts.Fd()), unix.TCSETS, t)
}

// waitExited blocks until the process has exited, without reaping it: while it is a zombie its
// pid, process group and session ids cannot be reused.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// sessionMembers returns the pids of the processes whose session id is sid, zombies included.
func sessionMembers(sid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := procStat(pid); ok && st.session == sid {
			pids = append(pids, pid)
		}
	}
	return pids
}

type procStatus struct {
	state   byte
	pgrp    int
	session int
}

// procStat reads the state, process group and session of pid from /proc/<pid>/stat.
func procStat(pid int) (procStatus, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStatus{}, false
	}
	// The command name, field 2, is in parentheses and may contain anything: fields start
	// after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStatus{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 4 || len(f[0]) != 1 {
		return procStatus{}, false
	}
	pgrp, err1 := strconv.Atoi(f[2])
	session, err2 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil {
		return procStatus{}, false
	}
	return procStatus{state: f[0][0], pgrp: pgrp, session: session}, true
}

// ProcessAlive reports whether pid is a running process. A zombie (exited, not yet reaped by its
// parent, which may be an init that never reaps) counts as gone. Tests use it to check that a
// command, or a fake codex whose pid it wrote, is gone.
func ProcessAlive(pid int) bool {
	st, ok := procStat(pid)
	return ok && st.state != 'Z' && st.state != 'X'
}
