package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/codex-remote-login/codex-remote-login/oauth"
	"github.com/codex-remote-login/codex-remote-login/remote"
	"github.com/codex-remote-login/codex-remote-login/tunnel"
)

// printError prints err the way age does: one error line, then hint lines
// that say what to do next. The packages report facts; advice is added here.
func printError(w io.Writer, err error) {
	msg := err.Error()
	for _, prefix := range []string{"tunnel: ", "remote: ", "oauth: "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	fmt.Fprintf(w, "codex-remote-login: error: %s\n", msg)
	for _, h := range hints(err) {
		fmt.Fprintf(w, "hint: %s\n", h)
	}
}

func hints(err error) []string {
	var (
		usage    *usageError
		tusage   *tunnel.UsageError
		config   *tunnel.ConfigError
		unknown  *tunnel.UnknownHostKeyError
		changed  *tunnel.ChangedHostKeyError
		revoked  *tunnel.RevokedHostKeyError
		auth     *tunnel.AuthError
		dial     *tunnel.DialError
		lost     *tunnel.ConnectionLostError
		portUsed *tunnel.PortInUseError
		notFound *remote.NotFoundError
		tooOld   *remote.TooOldError
		codexErr *remote.CodexError
		badURL   *oauth.URLError
		timeout  *timeoutError
	)
	switch {
	case errors.As(err, &usage), errors.As(err, &tusage):
		return []string{"see codex-remote-login --help"}
	case errors.As(err, &config):
		if config.Key == "ProxyCommand" {
			return []string{"use ProxyJump in ssh_config, or -J on the command line, instead of ProxyCommand",
				"or pass -o ProxyCommand=none if the host is reachable directly"}
		}
		if strings.Contains(config.Error(), "Match") {
			return []string{"this tool reads Match host and Match all only: put the host's settings in a Host block, or pick another file with -F FILE (-F none reads no file)"}
		}
		return []string{"fix the file, or pick another with -F FILE (-F none reads no file)"}
	case errors.As(err, &unknown):
		switch {
		case unknown.Strict:
			return []string{"StrictHostKeyChecking is yes for this host: record its key first, e.g. by connecting once with ssh"}
		case unknown.Declined:
			return nil
		}
		return []string{
			"there is no terminal to ask on: check the fingerprint, then run again with --accept-new to record it",
			"or connect once with ssh, check the fingerprint it shows, and answer yes",
		}
	case errors.As(err, &changed):
		var h []string
		for _, k := range changed.Known {
			h = append(h, fmt.Sprintf("if you know the host was reinstalled, remove the old key: ssh-keygen -R %s -f %s", remote.Quote(changed.Host), remote.Quote(k.File)))
		}
		return append(h, "otherwise do not connect: ask the host's administrator for its key fingerprint")
	case errors.As(err, &revoked):
		return []string{"a revoked key is never accepted; ask the host's administrator"}
	case errors.As(err, &auth):
		return []string{
			fmt.Sprintf("check the user name (-l, or User in ssh_config): tried %s", auth.Endpoint.User),
			"check the key (-i, or IdentityFile) and that your agent holds it: ssh-add -l",
			"-v shows which keys were offered",
		}
	case errors.As(err, &dial):
		if strings.Contains(dial.Err.Error(), "during the SSH handshake") {
			return []string{"something accepted the connection but no SSH server answered in time: check the port (-p, or Port in ssh_config)",
				"-o ConnectTimeout=SECONDS allows longer"}
		}
		if dial.Via != nil {
			return []string{fmt.Sprintf("%s could not reach %s: check the name and port as seen from there", dial.Via.Alias, dial.Endpoint.Addr())}
		}
		return []string{"check the host name and port (-p, or Port in ssh_config), and your network", "-v shows each step"}
	case errors.As(err, &lost):
		if errors.Is(err, tunnel.ErrKeepaliveTimeout) {
			return []string{"the network path to the host stopped answering; the remote codex ends when its SSH server notices",
				"ServerAliveInterval and ServerAliveCountMax (-o) set how long to wait"}
		}
		return []string{"the host closed the connection; the remote codex ended with it"}
	case errors.As(err, &portUsed):
		return []string{
			"another program on this machine listens on that port — often a codex login still waiting here",
			"end it (or let it time out) and run again",
		}
	case errors.As(err, &notFound):
		return []string{
			"install it on the remote host: npm install -g @openai/codex",
			"or say where it is: --codex /path/to/codex",
		}
	case errors.As(err, &tooOld):
		return []string{"upgrade it on the remote host: npm install -g @openai/codex@latest"}
	case errors.As(err, &codexErr):
		switch line := codexErr.Line; {
		case strings.Contains(line, "already in use"):
			return []string{"another codex login is waiting on the remote host: end it, or wait for it to time out"}
		case strings.Contains(line, "CODEX_HOME"):
			return []string{"check --codex-home: it must be a directory the remote user can write"}
		case codexErr.Status == 127:
			return []string{"the remote shell could not run codex: check --codex"}
		}
		return []string{"-v shows everything the remote codex printed"}
	case errors.As(err, &badURL):
		return []string{"nothing was opened: the remote printed an authorization URL this tool does not trust",
			"check what runs as codex on the remote host (which codex; codex --version)"}
	case errors.As(err, &timeout):
		return []string{"the sign-in did not finish in time: run again, or allow longer with --timeout"}
	}
	return nil
}
