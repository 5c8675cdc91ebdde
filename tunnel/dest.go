package tunnel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// UsageError reports a command-line value the tool cannot use: the
// destination, a -J hop, a -o option, or the -p, -l or -i values. The CLI
// exits with status 2 for it.
type UsageError struct {
	What  string // what was given, e.g. "destination", "option (-o)"
	Value string // the value as given
	Err   error  // why it cannot be used
}

func (e *UsageError) Error() string {
	return fmt.Sprintf("tunnel: bad %s %q: %v", e.What, e.Value, e.Err)
}

func (e *UsageError) Unwrap() error { return e.Err }

// ParseDest splits DEST: [user@]host[:port], ssh://[user@]host[:port],
// [v6addr]:port, bare IPv6, or a config alias. port is 0 when DEST names
// none. Errors are *[UsageError].
//
// The user part ends at the last '@', as in ssh(1), so "me@corp@host" is the
// user "me@corp". A host with more than one ':' is taken whole as an IPv6
// address (it must parse as one); give a port with it as [addr]:port. In
// ssh:// URIs the user may be %-encoded, a bare IPv6 address is refused (it
// must be bracketed, as in OpenSSH) and ";" connection parameters such as a
// host key fingerprint are refused rather than silently ignored as OpenSSH
// does: dropping a fingerprint the user asked to check would be worse than
// failing.
func ParseDest(s string) (user, host string, port int, err error) {
	user, host, port, err = cfgParseTarget(s)
	if err != nil {
		return "", "", 0, &UsageError{What: "destination", Value: s, Err: err}
	}
	return user, host, port, nil
}

// cfgParseTarget is [ParseDest] without the error type; -J and ProxyJump
// hops use it too, and their callers choose the error type.
func cfgParseTarget(s string) (user, host string, port int, err error) {
	if s == "" {
		return "", "", 0, errors.New("empty")
	}
	// A destination that starts with '-' would be an option to any ssh
	// that saw it (CVE-2017-1000117 and friends); refuse it outright.
	if s[0] == '-' {
		return "", "", 0, errors.New("must not start with '-'")
	}
	if cfgHasSpaceOrControl(s) {
		return "", "", 0, errors.New("contains whitespace or control characters")
	}
	if rest, ok := strings.CutPrefix(s, "ssh://"); ok {
		return cfgParseURI(rest)
	}
	hostport := s
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		user, hostport = s[:i], s[i+1:]
		if err := cfgCheckUser(user); err != nil {
			return "", "", 0, err
		}
	}
	host, port, err = cfgSplitHostPort(hostport, true)
	if err != nil {
		return "", "", 0, err
	}
	return user, host, port, nil
}

// cfgParseURI parses what follows "ssh://" (draft-ietf-secsh-scp-sftp-ssh-uri,
// as OpenSSH's parse_ssh_uri reads it).
func cfgParseURI(rest string) (user, host string, port int, err error) {
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		info := rest[:i]
		rest = rest[i+1:]
		if strings.Contains(info, ";") {
			return "", "", 0, errors.New("ssh:// connection parameters (\";...\") are not supported")
		}
		if user, err = url.QueryUnescape(info); err != nil {
			return "", "", 0, fmt.Errorf("bad %%-encoding in user name: %w", err)
		}
		if err := cfgCheckUser(user); err != nil {
			return "", "", 0, err
		}
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		if rest[i:] != "/" {
			return "", "", 0, errors.New("ssh:// URIs must not have a path")
		}
		rest = rest[:i]
	}
	host, port, err = cfgSplitHostPort(rest, false)
	if err != nil {
		return "", "", 0, err
	}
	return user, host, port, nil
}

// cfgSplitHostPort splits host[:port] or [host]:port. With bareV6, a host
// holding several colons is accepted whole if it is an IP address.
func cfgSplitHostPort(s string, bareV6 bool) (host string, port int, err error) {
	var portText string
	hasPort := false
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, errors.New("missing ']'")
		}
		host = s[1:end]
		switch after := s[end+1:]; {
		case after == "":
		case after[0] == ':':
			portText, hasPort = after[1:], true
		default:
			return "", 0, fmt.Errorf("unexpected %q after ']'", after)
		}
	case strings.Count(s, ":") > 1:
		if !bareV6 || !cfgIsIP(s) {
			return "", 0, errors.New("too many ':' (write an IPv6 address with a port as [address]:port)")
		}
		host = s
	default:
		host, portText, hasPort = strings.Cut(s, ":")
	}
	if err := cfgCheckHost(host); err != nil {
		return "", 0, err
	}
	if hasPort {
		if port, err = cfgParsePort(portText); err != nil {
			return "", 0, err
		}
	}
	return host, port, nil
}

// cfgParsePort reads a TCP port: decimal digits only (no sign, no spaces),
// 1 to 65535.
func cfgParsePort(s string) (int, error) {
	if s == "" {
		return 0, errors.New("empty port")
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
	}
	return n, nil
}

// Characters OpenSSH 9.6 refuses in host and user names taken from the
// command line (ssh.c valid_hostname, valid_ruser): they only ever come from
// injected input, and ProxyCommand-style tools would hand them to a shell.
const (
	cfgBadHostChars = "'`\"$\\;&<>|(){},@[]"
	cfgBadUserChars = "'`\";&<>|(){}"
)

func cfgCheckHost(h string) error {
	switch {
	case h == "":
		return errors.New("empty host name")
	case h[0] == '-':
		return errors.New("host name must not start with '-'")
	case cfgHasSpaceOrControl(h):
		return errors.New("host name contains whitespace or control characters")
	case strings.ContainsAny(h, cfgBadHostChars):
		return fmt.Errorf("host name contains one of %s", cfgBadHostChars)
	}
	return nil
}

func cfgCheckUser(u string) error {
	switch {
	case u == "":
		return errors.New("empty user name")
	case u[0] == '-':
		return errors.New("user name must not start with '-'")
	case cfgHasSpaceOrControl(u):
		return errors.New("user name contains whitespace or control characters")
	case strings.ContainsAny(u, cfgBadUserChars):
		return fmt.Errorf("user name contains one of %s", cfgBadUserChars)
	}
	return nil
}

func cfgHasSpaceOrControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
	}) >= 0
}

// cfgIsIP reports whether s is an IP address, IPv6 zones included.
func cfgIsIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// Addr is the address to dial: Host and Port joined, IPv6 safe.
func (e Endpoint) Addr() string {
	return net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
}

// String names the endpoint in messages: "user@host", with ":port" when the
// port is not 22 ("user@[v6]:port" for IPv6).
func (e Endpoint) String() string {
	hostPort := e.Host
	if e.Port != 22 && e.Port != 0 {
		hostPort = e.Addr()
	}
	if e.User == "" {
		return hostPort
	}
	return e.User + "@" + hostPort
}
