package tunnel

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestParseDest(t *testing.T) {
	tests := []struct {
		in   string
		user string
		host string
		port int
	}{
		{"vps", "", "vps", 0},
		{"alice@vps", "alice", "vps", 0},
		{"alice@vps.example.com:2222", "alice", "vps.example.com", 2222},
		{"vps:22", "", "vps", 22},
		{"me@corp@vps", "me@corp", "vps", 0}, // user ends at the last '@', as in ssh
		{"203.0.113.7:65535", "", "203.0.113.7", 65535},
		{"[2001:db8::1]:2200", "", "2001:db8::1", 2200},
		{"bob@[2001:db8::1]", "bob", "2001:db8::1", 0},
		{"fe80::1", "", "fe80::1", 0},
		{"root@fe80::1%eth0", "root", "fe80::1%eth0", 0},
		{"::1", "", "::1", 0},
		{"ssh://vps", "", "vps", 0},
		{"ssh://alice@vps:2222", "alice", "vps", 2222},
		{"ssh://alice@vps/", "alice", "vps", 0},
		{"ssh://a%40b@[::1]:22", "a@b", "::1", 22},
		{"ssh://bob@[2001:db8::2]", "bob", "2001:db8::2", 0},
		{"my-alias_1", "", "my-alias_1", 0},
		{"web*", "", "web*", 0}, // odd, but a valid ssh_config alias
	}
	for _, tt := range tests {
		user, host, port, err := ParseDest(tt.in)
		if err != nil {
			t.Errorf("ParseDest(%q): %v", tt.in, err)
			continue
		}
		if user != tt.user || host != tt.host || port != tt.port {
			t.Errorf("ParseDest(%q) = %q, %q, %d; want %q, %q, %d", tt.in, user, host, port, tt.user, tt.host, tt.port)
		}
	}
}

func TestParseDestRejects(t *testing.T) {
	tests := []struct {
		in, why string
	}{
		{"", "empty"},
		{"-oProxyCommand=x", "start with '-'"},
		{"-v", "start with '-'"},
		{"alice@-host", "start with '-'"},
		{"-alice@host", "start with '-'"},
		{"a b", "whitespace"},
		{"vps\n", "whitespace"},
		{"vps\x00", "control"},
		{"v\tps", "whitespace"},
		{"@vps", "empty user"},
		{"alice@", "empty host"},
		{":22", "empty host"},
		{"vps:", "empty port"},
		{"vps:0", "1 to 65535"},
		{"vps:65536", "1 to 65535"},
		{"vps:-1", "1 to 65535"},
		{"vps:+22", "1 to 65535"},
		{"vps:ssh", "1 to 65535"},
		{"vps:99999999999999999999", "1 to 65535"},
		{"[::1", "missing ']'"},
		{"[::1]x", "after ']'"},
		{"[]:22", "empty host"},
		{"a:b:c", "too many ':'"},
		{"fe80::1:22x", "too many ':'"},
		{"ssh://::1", "too many ':'"},
		{"ssh://alice;fingerprint=SHA256:abc@vps", "connection parameters"},
		{"ssh://vps/home", "path"},
		{"ssh://@vps", "empty user"},
		{"ssh://a%zz@vps", "%-encoding"},
		{"ssh://", "empty host"},
		{"vps;reboot", "host name contains"},
		{"$(id)@vps", "user name contains"},
		{"a`b`", "host name contains"},
		{"a,b", "host name contains"},
	}
	for _, tt := range tests {
		_, _, _, err := ParseDest(tt.in)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("ParseDest(%q) error = %v, want a *UsageError", tt.in, err)
			continue
		}
		if ue.What != "destination" || ue.Value != tt.in {
			t.Errorf("ParseDest(%q): UsageError{What: %q, Value: %q}", tt.in, ue.What, ue.Value)
		}
		if !strings.Contains(err.Error(), tt.why) {
			t.Errorf("ParseDest(%q) error %q does not say %q", tt.in, err, tt.why)
		}
		if !strings.HasPrefix(err.Error(), "tunnel: bad destination ") {
			t.Errorf("ParseDest(%q) error %q lacks the prefix", tt.in, err)
		}
	}
}

func TestEndpointAddrString(t *testing.T) {
	tests := []struct {
		ep         Endpoint
		addr, text string
	}{
		{Endpoint{Host: "vps", Port: 22, User: "me"}, "vps:22", "me@vps"},
		{Endpoint{Host: "vps", Port: 2222, User: "me"}, "vps:2222", "me@vps:2222"},
		{Endpoint{Host: "2001:db8::1", Port: 22, User: "me"}, "[2001:db8::1]:22", "me@2001:db8::1"},
		{Endpoint{Host: "2001:db8::1", Port: 2200, User: "me"}, "[2001:db8::1]:2200", "me@[2001:db8::1]:2200"},
		{Endpoint{Host: "vps", Port: 22}, "vps:22", "vps"},
	}
	for _, tt := range tests {
		if got := tt.ep.Addr(); got != tt.addr {
			t.Errorf("%+v.Addr() = %q, want %q", tt.ep, got, tt.addr)
		}
		if got := tt.ep.String(); got != tt.text {
			t.Errorf("%+v.String() = %q, want %q", tt.ep, got, tt.text)
		}
	}
}

// FuzzParseDest checks that ParseDest never panics, that what it accepts is
// safe to hand on (no option-like or blank host or user, a valid port), and
// that writing the parts back as DEST parses to the same parts.
func FuzzParseDest(f *testing.F) {
	for _, s := range []string{
		"vps", "alice@vps:2222", "[2001:db8::1]:22", "fe80::1%eth0", "ssh://a%40b@[::1]:22/",
		"-oProxyCommand=x", "a@b@c", "ssh://a;x=y@h", "[a:b]", "h:0", "\u00e9t\u00e9@h\u00f4te",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		user, host, port, err := ParseDest(s)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseDest(%q) error %T, want *UsageError", s, err)
			}
			return
		}
		if host == "" || strings.HasPrefix(host, "-") || strings.HasPrefix(user, "-") {
			t.Fatalf("ParseDest(%q) accepted user %q host %q", s, user, host)
		}
		if strings.ContainsAny(host+user, " \t\r\n\x00") {
			t.Fatalf("ParseDest(%q) accepted blanks: user %q host %q", s, user, host)
		}
		if port < 0 || port > 65535 {
			t.Fatalf("ParseDest(%q) port %d", s, port)
		}
		again := host
		if strings.Contains(host, ":") {
			again = "[" + host + "]"
		}
		if port != 0 {
			again = net.JoinHostPort(host, strconv.Itoa(port))
		}
		if user != "" {
			again = user + "@" + again
		}
		u2, h2, p2, err := ParseDest(again)
		if err != nil || u2 != user || h2 != host || p2 != port {
			t.Fatalf("ParseDest(%q) = %q %q %d, but ParseDest(%q) = %q %q %d, %v", s, user, host, port, again, u2, h2, p2, err)
		}
	})
}
