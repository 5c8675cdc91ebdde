// Package sshtest runs an SSH server in-process on loopback for tests, built on the server side
// of golang.org/x/crypto/ssh and github.com/creack/pty.
//
// The server behaves like OpenSSH's sshd wherever a client could notice, because the tests that
// use it (tunnel/, remote/, the main package) run the real login flow end to end against it and
// must not pass here yet fail against a real VPS.
//
// # Starting a server
//
//	srv := sshtest.Start(t, sshtest.Config{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
//	client, err := ssh.Dial("tcp", srv.Addr(), &ssh.ClientConfig{…, HostKeyCallback: ssh.FixedHostKey(srv.PublicKey())})
//
// [Start] listens on 127.0.0.1:0. The test's Cleanup closes the server, waits for every goroutine
// it started, and kills (SIGKILL to the process group and to every process left in the session)
// and reaps every command it ran: nothing outlives the test.
//
// # Authentication
//
// "publickey" is always offered and accepts [Config.AuthorizedKeys]; "password" and
// "keyboard-interactive" are offered only when [Config.Password] or [Config.KeyboardInteractive]
// is set, as sshd offers only the methods its configuration enables. Keyboard-interactive asks
// one question, "Verification code: ", with echo off. [Server.AuthAttempts] counts the
// credential-carrying attempts (one per password, per answered challenge, per distinct public
// key offered); the "none" probe every client sends first is not counted, so a client that
// refuses the host key leaves it at zero.
//
// # Sessions
//
// Session channels accept "pty-req", "env", "exec", "signal" and "window-change" and refuse
// "shell", "subsystem" and anything else. An exec request runs Shell -c command, as sshd runs the
// user's shell, in a new session (setsid), in [Config.Dir], with [Config.Env] plus what sshd adds
// itself: SSH_CLIENT, SSH_CONNECTION and, with a pty, SSH_TTY and TERM.
//
//   - With a pty the command's stdin, stdout and stderr are the pty (its controlling terminal),
//     so stdout and stderr arrive merged, and the terminal modes sent in "pty-req" are applied.
//   - Without a pty stdout and stderr arrive separately (stderr as extended data).
//   - "env" follows sshd_config's AcceptEnv: names matching [Config.AcceptEnv] (default LANG and
//     LC_*, Debian's sshd_config) are accepted and set; others are refused, as sshd refuses them.
//   - "signal" delivers the signal to the command's process group, as sshd's killpg does.
//   - When the command ends and all its output has been sent, the server sends "exit-status"
//     (or "exit-signal" when a signal killed it), then EOF, then closes the channel.
//
// When the client closes the session channel or the connection drops while the command runs:
// with a pty the server closes the pty master, and the kernel hangs the terminal up (SIGHUP to the
// session leader, then to the foreground process group), which is what ends a remote
// `codex login` run under a pty. Without a pty the server only closes its ends of the pipes,
// exactly as sshd does: the command keeps running (until it writes and gets SIGPIPE, or Cleanup).
//
// Requests on a channel are handled in order, but its data is copied apart from them, as
// x/crypto/ssh delivers them apart: a client that needs, say, a "window-change" applied before
// the input that follows sends a request that wants a reply in between.
//
// [ProcessAlive] tells whether a pid (printed by a command, or written to a pid file) is still
// running, counting zombies as gone.
//
// # Forwarding and global requests
//
// "direct-tcpip" channels dial [Config.Dial] and copy both ways with half-close; a failed dial
// rejects the channel with [ssh.ConnectionFailed] and sshd's message ("Connection refused").
// Global requests are all answered with a failure reply, as OpenSSH answers
// "keepalive@openssh.com": a reply is what the client's keepalive waits for.
//
// # A dead link
//
// [Server.Blackhole] turns every connection, current and future, into a dead link: the server
// stops reading and writing, so keepalives go unanswered and nothing arrives, until Close.
//
// # Telling "remote" loopback from local loopback
//
// Tests that need the remote 127.0.0.1 to differ from the laptop's run the remote services on
// another loopback address (127.0.0.2 binds on Linux without configuration) and give the server
// a [Config.Dial] that maps 127.0.0.1:P to 127.0.0.2:P, e.g. [MapLoopback].
package sshtest
