package tunnel

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// cfgEnv is a home directory and a system config location for one test.
type cfgEnv struct {
	t    *testing.T
	home string
	sys  string // the system config path (not created unless written)
}

func newCfgEnv(t *testing.T) *cfgEnv {
	t.Helper()
	home := t.TempDir()
	if err := os.Mkdir(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	return &cfgEnv{t: t, home: home, sys: filepath.Join(t.TempDir(), "etc-ssh", "ssh_config")}
}

// write writes a file; a relative name is under ~/.ssh.
func (e *cfgEnv) write(name, text string) string {
	e.t.Helper()
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(e.home, ".ssh", name)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// expand replaces $HOME and $SYSDIR (the system config's directory) in
// test texts.
func (e *cfgEnv) expand(s string) string {
	return strings.NewReplacer("$HOME", e.home, "$SYSDIR", filepath.Dir(e.sys)).Replace(s)
}

func (e *cfgEnv) ssh(name string) string { return filepath.Join(e.home, ".ssh", name) }

func (e *cfgEnv) opts() Options {
	return Options{
		Home:         e.home,
		SystemConfig: e.sys,
		LocalUser:    "me",
		LocalHost:    "laptop.example.org",
		UID:          1000,
		AgentSocket:  "/run/agent.sock",
	}
}

func (e *cfgEnv) resolve(dest string, opts Options) Route {
	e.t.Helper()
	r, err := Resolve(dest, opts)
	if err != nil {
		e.t.Fatalf("Resolve(%q): %v", dest, err)
	}
	return r
}

// hops describes a route as a user would read it.
func hops(r Route) string {
	var parts []string
	for _, ep := range r.Jumps {
		parts = append(parts, ep.String())
	}
	return strings.Join(append(parts, r.Dest.String()), " > ")
}

func TestResolveDefaults(t *testing.T) {
	e := newCfgEnv(t)
	r := e.resolve("vps", e.opts())
	want := Endpoint{
		Alias: "vps", Host: "vps", Port: 22, User: "me",
		IdentityFiles: []string{
			e.ssh("id_rsa"), e.ssh("id_ecdsa"), e.ssh("id_ecdsa_sk"), e.ssh("id_ed25519"), e.ssh("id_ed25519_sk"),
		},
		IdentityFilesDefault:  true,
		IdentityAgent:         "/run/agent.sock",
		UserKnownHostsFiles:   []string{e.ssh("known_hosts"), e.ssh("known_hosts2")},
		GlobalKnownHostsFiles: []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"},
		StrictHostKeyChecking: "ask",
		ServerAliveInterval:   15 * time.Second,
		ServerAliveCountMax:   3,
		PubkeyAuthentication:  true, PasswordAuthentication: true, KbdInteractiveAuthentication: true,
	}
	if len(r.Jumps) != 0 || !reflect.DeepEqual(r.Dest, want) {
		t.Errorf("Resolve(vps) =\n%+v\nwant\n%+v", r, want)
	}
}

func TestResolveConfig(t *testing.T) {
	tests := []struct {
		name   string
		user   string            // ~/.ssh/config
		system string            // the system file
		files  map[string]string // more files; relative names are under ~/.ssh
		dest   string
		opts   func(e *cfgEnv, o *Options)
		route  string // hops(route)
		check  func(t *testing.T, e *cfgEnv, r Route)
	}{
		{
			name:  "first value wins",
			user:  "Host vps\n  HostName 203.0.113.5\n  User alice\n  Port 2222\nHost *\n  User bob\n  Port 22\n",
			dest:  "vps",
			route: "alice@203.0.113.5:2222",
			check: func(t *testing.T, e *cfgEnv, r Route) {
				if r.Dest.Alias != "vps" {
					t.Errorf("Alias = %q", r.Dest.Alias)
				}
			},
		},
		{
			name:  "Host * gives defaults",
			user:  "Host vps\n  User alice\nHost *\n  User bob\n  Port 2200\n",
			dest:  "other",
			route: "bob@other:2200",
		},
		{
			name:  "negated pattern rules a block out",
			user:  "Host *.example.com !bad.example.com\n  User ex\n",
			dest:  "bad.example.com",
			route: "me@bad.example.com",
		},
		{
			name:  "negated pattern leaves others in",
			user:  "Host *.example.com !bad.example.com\n  User ex\n",
			dest:  "good.example.com",
			route: "ex@good.example.com",
		},
		{
			name:  "? matches exactly one character",
			user:  "Host web?\n  User w\n",
			dest:  "web",
			route: "me@web",
		},
		{
			name:  "? matches one character",
			user:  "Host web?\n  User w\n",
			dest:  "web1",
			route: "w@web1",
		},
		{
			name:  "patterns separated by tabs",
			user:  "Host\talpha\tbeta\n  User ab\n",
			dest:  "beta",
			route: "ab@beta",
		},
		{
			name:  "Host patterns are case-sensitive, as in ssh",
			user:  "Host VPS\n  User upper\n",
			dest:  "vps",
			route: "me@vps",
		},
		{
			name:  "HostName %h and %%",
			user:  "Host *.internal\n  HostName %h.corp.example.com\nHost odd\n  HostName x%%y\n",
			dest:  "db.internal",
			route: "me@db.internal.corp.example.com",
		},
		{
			name:  "HostName is lower-cased, IPv6 kept",
			user:  "Host a\n  HostName Big.Example.COM\nHost b\n  HostName [2001:DB8::1]\n",
			dest:  "a",
			route: "me@big.example.com",
		},
		{
			name:  "HostName in brackets",
			user:  "Host b\n  HostName [2001:DB8::1]\n  Port 2200\n",
			dest:  "b",
			route: "me@[2001:DB8::1]:2200",
		},
		{
			name:   "user config before system config",
			user:   "Host vps\n  User fromuser\n",
			system: "Host *\n  User fromsystem\n  Port 2022\n",
			dest:   "vps",
			route:  "fromuser@vps:2022",
		},
		{
			name:  "Match host compares HostName",
			user:  "Host vps\n  HostName real.example.com\nMatch host vps\n  User byalias\nMatch host REAL.example.com,other\n  User byname\n",
			dest:  "vps",
			route: "byname@real.example.com",
		},
		{
			name:  "Match host without HostName compares the alias",
			user:  "Match host vps\n  User byalias\n",
			dest:  "vps",
			route: "byalias@vps",
		},
		{
			name:  "Match host negated",
			user:  "Match host *,!vps\n  User notvps\n",
			dest:  "vps",
			route: "me@vps",
		},
		{
			name:  "Match all",
			user:  "Host nothing\n  User no\nMatch all\n  User all\n",
			dest:  "vps",
			route: "all@vps",
		},
		{
			name:  "Include relative to ~/.ssh, globs in lexical order",
			user:  "Include conf.d/*.conf\nHost *\n  User last\n",
			files: map[string]string{"conf.d/b.conf": "Host vps\n  User fromb\n  Port 2002\n", "conf.d/a.conf": "Host vps\n  User froma\n"},
			dest:  "vps",
			route: "froma@vps:2002",
		},
		{
			name:  "Include absolute, ~ and with a trailing comment",
			user:  "Include ~/more/tilde.conf # mine\nInclude $SYSDIR/abs.conf\n",
			files: map[string]string{"$HOME/more/tilde.conf": "Host vps\n  User tilde\n", "$SYSDIR/abs.conf": "Host *\n  Port 2201\n"},
			dest:  "vps",
			route: "tilde@vps:2201",
		},
		{
			name:  "Include inside a Host block applies only there",
			user:  "Host vps\n  Include vps.conf\nHost *\n  User default\n",
			files: map[string]string{"vps.conf": "User included\n"},
			dest:  "other",
			route: "default@other",
		},
		{
			name:  "Include inside a matching Host block",
			user:  "Host vps\n  Include vps.conf\nHost *\n  User default\n",
			files: map[string]string{"vps.conf": "User included\nHost *\n  Port 2223\n"},
			dest:  "vps",
			route: "included@vps:2223",
		},
		{
			name:   "Include in the system file is relative to its directory",
			system: "Include ssh_config.d/*.conf\n",
			files:  map[string]string{"$SYSDIR/ssh_config.d/x.conf": "Host vps\n  User sysinc\n"},
			dest:   "vps",
			route:  "sysinc@vps",
		},
		{
			name:  "Include matching nothing is fine",
			user:  "Include nothing/*.conf\n",
			dest:  "vps",
			route: "me@vps",
		},
		{
			name:  "keywords for ssh only are ignored",
			user:  "Host vps\n  ForwardAgent yes\n  LocalForward 8080 localhost:80\n  Compression yes\n  User u\n",
			dest:  "vps",
			route: "u@vps",
		},
		{
			name:  "CRLF line ends",
			user:  "Host vps\r\n  User crlf\r\n  Port 2022\r\n",
			dest:  "vps",
			route: "crlf@vps:2022",
		},
		{
			name:  "key=value and quotes",
			user:  "Host=vps\n  User = \"quoted\"\n  Port=2024\n",
			dest:  "vps",
			route: "quoted@vps:2024",
		},
		{
			name:  "DEST user and port beat config",
			user:  "Host vps\n  User cfg\n  Port 2000\n",
			dest:  "alice@vps:2001",
			route: "alice@vps:2001",
		},
		{
			name: "-l and -p beat DEST and config",
			user: "Host vps\n  User cfg\n  Port 2000\n",
			dest: "alice@vps:2001",
			opts: func(e *cfgEnv, o *Options) {
				o.User = "lflag"
				o.Port = 2002
				o.Options = []string{"User=o", "Port=2003"}
			},
			route: "lflag@vps:2002",
		},
		{
			name:  "-o beats DEST user and port, as in ssh",
			user:  "Host vps\n  User cfg\n",
			dest:  "alice@vps:2001",
			opts:  func(e *cfgEnv, o *Options) { o.Options = []string{"User=ouser", "Port 2003", "User=second"} },
			route: "ouser@vps:2003",
		},
		{
			name:  "-o HostName beats config",
			user:  "Host vps\n  HostName cfg.example.com\n",
			dest:  "vps",
			opts:  func(e *cfgEnv, o *Options) { o.Options = []string{"hostname=%h.cli.example.com"} },
			route: "me@vps.cli.example.com",
		},
		{
			name:  "ssh:// destination",
			dest:  "ssh://alice@vps:2222",
			route: "alice@vps:2222",
		},
		{
			name:  "IPv6 destination",
			user:  "Host 2001:db8::1\n  User six\n",
			dest:  "[2001:db8::1]:2200",
			route: "six@[2001:db8::1]:2200",
			check: func(t *testing.T, e *cfgEnv, r Route) {
				if r.Dest.Addr() != "[2001:db8::1]:2200" {
					t.Errorf("Addr = %q", r.Dest.Addr())
				}
			},
		},
		{
			name:  "bare IPv6 destination",
			dest:  "fe80::1",
			route: "me@fe80::1",
			check: func(t *testing.T, e *cfgEnv, r Route) {
				if r.Dest.Addr() != "[fe80::1]:22" {
					t.Errorf("Addr = %q", r.Dest.Addr())
				}
			},
		},
		{
			name:   "-F reads only that file, Include works inside it",
			user:   "Host *\n  User fromuserconfig\n",
			system: "Host *\n  Port 2999\n",
			files:  map[string]string{"$SYSDIR/alt.conf": "Include alt.d/*\nHost *\n  User alt\n", "alt.d/1": "Host vps\n  Port 2020\n"},
			dest:   "vps",
			opts:   func(e *cfgEnv, o *Options) { o.ConfigFile = filepath.Join(filepath.Dir(e.sys), "alt.conf") },
			route:  "alt@vps:2020",
		},
		{
			name:   "-F none reads no file at all",
			user:   "Host *\n  User fromuserconfig\n",
			system: "Host *\n  Port 2999\n",
			dest:   "vps",
			opts:   func(e *cfgEnv, o *Options) { o.ConfigFile = "none" },
			route:  "me@vps",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCfgEnv(t)
			if tt.user != "" {
				e.write("config", e.expand(tt.user))
			}
			if tt.system != "" {
				e.write(e.sys, e.expand(tt.system))
			}
			for name, text := range tt.files {
				e.write(e.expand(name), e.expand(text))
			}
			o := e.opts()
			if tt.opts != nil {
				tt.opts(e, &o)
			}
			r := e.resolve(tt.dest, o)
			if got := hops(r); got != tt.route {
				t.Errorf("route = %q, want %q", got, tt.route)
			}
			if tt.check != nil {
				tt.check(t, e, r)
			}
		})
	}
}

func TestResolveJumps(t *testing.T) {
	config := `
Host dest
  ProxyJump j1,j2
Host j1
  HostName 10.0.0.1
  User ju
Host j2
  Port 2200
Host rec
  ProxyJump a,b
Host a
  ProxyJump x
Host b
  ProxyJump y
  ProxyCommand nc %h %p
Host x
  ProxyJump alice@w:2022
Host viaip
  ProxyJump [2001:db8::9]:2222,ssh://bob@k:2000
Host nojump
  ProxyJump none
  ProxyJump j1
Host cmdnone
  ProxyCommand none
  ProxyJump j1
Host jumpfirst
  ProxyJump j1
  ProxyCommand nc %h %p
Host tok
  User tu
  ProxyJump %r@gw-%h:%p
  Port 2300
`
	tests := []struct {
		name  string
		dest  string
		opts  func(o *Options)
		route string
	}{
		{"config chain, each hop through its own config", "dest", nil, "ju@10.0.0.1 > me@j2:2200 > me@dest"},
		{"first hop's ProxyJump recursively, later hops' ignored", "rec", nil, "alice@w:2022 > me@x > me@a > me@b > me@rec"},
		{"IPv6 and ssh:// hops", "viaip", nil, "me@[2001:db8::9]:2222 > bob@k:2000 > me@viaip"},
		{"ProxyJump none, first value wins", "nojump", nil, "me@nojump"},
		{"ProxyCommand none blocks a later ProxyJump", "cmdnone", nil, "me@cmdnone"},
		{"ProxyJump before ProxyCommand wins", "jumpfirst", nil, "ju@10.0.0.1 > me@jumpfirst"},
		{"ProxyJump tokens", "tok", nil, "tu@gw-tok:2300 > tu@tok:2300"},
		{"-J beats config", "dest", func(o *Options) { o.Jump = "j2" }, "me@j2:2200 > me@dest"},
		{"-J none disables ProxyJump", "dest", func(o *Options) { o.Jump = "none" }, "me@dest"},
		{"-J hop user and port beat hop config", "plain", func(o *Options) { o.Jump = "root@j1:2" }, "root@10.0.0.1:2 > me@plain"},
		{"-J first hop's ProxyJump is followed", "plain", func(o *Options) { o.Jump = "a,j2" }, "alice@w:2022 > me@x > me@a > me@j2:2200 > me@plain"},
		{"-o ProxyJump", "plain", func(o *Options) { o.Options = []string{"ProxyJump=j2"} }, "me@j2:2200 > me@plain"},
		{"-o ProxyCommand=none disables config ProxyJump", "dest", func(o *Options) { o.Options = []string{"ProxyCommand none"} }, "me@dest"},
		{"-J beats -o ProxyJump", "plain", func(o *Options) { o.Jump = "j1"; o.Options = []string{"ProxyJump=j2"} }, "ju@10.0.0.1 > me@plain"},
		{"a host may be its own jump host under another user", "plain", func(o *Options) { o.Jump = "admin@plain" }, "admin@plain > me@plain"},
		{"-o User is for the destination only", "dest", func(o *Options) { o.Options = []string{"User=cli"} }, "ju@10.0.0.1 > me@j2:2200 > cli@dest"},
		{"-l and -p are for the destination only", "dest", func(o *Options) { o.User = "l"; o.Port = 9 }, "ju@10.0.0.1 > me@j2:2200 > l@dest:9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCfgEnv(t)
			e.write("config", config)
			o := e.opts()
			if tt.opts != nil {
				tt.opts(&o)
			}
			if got := hops(e.resolve(tt.dest, o)); got != tt.route {
				t.Errorf("route = %q, want %q", got, tt.route)
			}
		})
	}
}

func TestResolveSettings(t *testing.T) {
	e := newCfgEnv(t)
	e.write("config", `
Host keys
  IdentityFile ~/.ssh/%r@%h-%p
  IdentityFile %d/k/%u-%l-%L-%i-%n-%k-%%
  IdentityFile "~/My Keys/id"
  IdentityFile ~/.ssh/%r@%h-%p
  IdentityFile ${HOME}/env-key
  IdentitiesOnly yes
  User ku
  Port 2022
  HostName Keys.Example.com
  HostKeyAlias KeyAlias
Host nokeys
  IdentityFile none
Host agentnone
  IdentityAgent none
Host agentpath
  IdentityAgent ~/agent-%u.sock
Host agentenv
  IdentityAgent $SSH_AUTH_SOCK
Host kh
  UserKnownHostsFile ~/.ssh/kh1 "%d/kh 2" /abs/kh3
  GlobalKnownHostsFile ~/global %h-literal
Host khnone
  UserKnownHostsFile none
  GlobalKnownHostsFile none
Host times
  ServerAliveInterval 1m30s
  ServerAliveCountMax 5
  ConnectTimeout 10
Host alive0
  ServerAliveInterval 0
  ConnectTimeout none
Host flags
  BatchMode TRUE
  HashKnownHosts yes
  PubkeyAuthentication host-bound
  PasswordAuthentication false
  ChallengeResponseAuthentication no
  StrictHostKeyChecking off
Host strict
  StrictHostKeyChecking accept-new
Host pubno
  PubkeyAuthentication no
  KbdInteractiveAuthentication no
  StrictHostKeyChecking true
`)
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	o := e.opts()

	t.Run("identity files", func(t *testing.T) {
		o := o
		o.Identities = []string{"rel/key", "~/cli-key"}
		d := e.resolve("keys", o).Dest
		want := []string{
			filepath.Join(cwd, "rel/key"), // relative -i: current directory, as in ssh
			filepath.Join(e.home, "cli-key"),
			e.ssh("ku@keys.example.com-2022"),
			filepath.Join(e.home, "k", "me-laptop.example.org-laptop-1000-keys-keyalias-%"),
			filepath.Join(e.home, "My Keys", "id"),
			filepath.Join(e.home, "env-key"),
		}
		if !reflect.DeepEqual(d.IdentityFiles, want) || d.IdentityFilesDefault || !d.IdentitiesOnly {
			t.Errorf("IdentityFiles = %q (default %v, only %v), want %q", d.IdentityFiles, d.IdentityFilesDefault, d.IdentitiesOnly, want)
		}
		if d.HostKeyAlias != "keyalias" || d.Host != "keys.example.com" {
			t.Errorf("HostKeyAlias %q Host %q", d.HostKeyAlias, d.Host)
		}
	})
	t.Run("IdentityFile none", func(t *testing.T) {
		d := e.resolve("nokeys", o).Dest
		if len(d.IdentityFiles) != 0 || d.IdentityFilesDefault {
			t.Errorf("IdentityFiles = %q, default %v", d.IdentityFiles, d.IdentityFilesDefault)
		}
		o := o
		o.Identities = []string{"/k"}
		if d := e.resolve("nokeys", o).Dest; !reflect.DeepEqual(d.IdentityFiles, []string{"/k"}) {
			t.Errorf("with -i: IdentityFiles = %q", d.IdentityFiles)
		}
	})
	t.Run("agent", func(t *testing.T) {
		for dest, want := range map[string]string{
			"agentnone": "", "agentpath": filepath.Join(e.home, "agent-me.sock"), "agentenv": "/run/agent.sock", "vps": "/run/agent.sock",
		} {
			if got := e.resolve(dest, o).Dest.IdentityAgent; got != want {
				t.Errorf("%s: IdentityAgent = %q, want %q", dest, got, want)
			}
		}
		o := o
		o.AgentSocket = ""
		if got := e.resolve("vps", o).Dest.IdentityAgent; got != "" {
			t.Errorf("without SSH_AUTH_SOCK: IdentityAgent = %q", got)
		}
	})
	t.Run("known hosts", func(t *testing.T) {
		d := e.resolve("kh", o).Dest
		wantUser := []string{e.ssh("kh1"), filepath.Join(e.home, "kh 2"), "/abs/kh3"}
		wantGlobal := []string{filepath.Join(e.home, "global"), filepath.Join(cwd, "%h-literal")} // ssh expands only ~ there
		if !reflect.DeepEqual(d.UserKnownHostsFiles, wantUser) || !reflect.DeepEqual(d.GlobalKnownHostsFiles, wantGlobal) {
			t.Errorf("known hosts %q %q, want %q %q", d.UserKnownHostsFiles, d.GlobalKnownHostsFiles, wantUser, wantGlobal)
		}
		d = e.resolve("khnone", o).Dest
		if len(d.UserKnownHostsFiles) != 0 || len(d.GlobalKnownHostsFiles) != 0 {
			t.Errorf("none: %q %q", d.UserKnownHostsFiles, d.GlobalKnownHostsFiles)
		}
	})
	t.Run("times", func(t *testing.T) {
		d := e.resolve("times", o).Dest
		if d.ServerAliveInterval != 90*time.Second || d.ServerAliveCountMax != 5 || d.ConnectTimeout != 10*time.Second {
			t.Errorf("times: %v %d %v", d.ServerAliveInterval, d.ServerAliveCountMax, d.ConnectTimeout)
		}
		d = e.resolve("alive0", o).Dest
		if d.ServerAliveInterval != 0 || d.ConnectTimeout != 0 {
			t.Errorf("alive0: %v %v", d.ServerAliveInterval, d.ConnectTimeout)
		}
	})
	t.Run("flags", func(t *testing.T) {
		d := e.resolve("flags", o).Dest
		if !d.BatchMode || !d.HashKnownHosts || !d.PubkeyAuthentication || d.PasswordAuthentication || d.KbdInteractiveAuthentication || d.StrictHostKeyChecking != "no" {
			t.Errorf("flags: %+v", d)
		}
		if got := e.resolve("strict", o).Dest.StrictHostKeyChecking; got != "accept-new" {
			t.Errorf("strict: %q", got)
		}
		d = e.resolve("pubno", o).Dest
		if d.PubkeyAuthentication || !d.PasswordAuthentication || d.KbdInteractiveAuthentication || d.StrictHostKeyChecking != "yes" {
			t.Errorf("pubno: %+v", d)
		}
	})
}

func TestResolveOptionScope(t *testing.T) {
	e := newCfgEnv(t)
	e.write("config", "Host dest\n  ProxyJump jump\n  StrictHostKeyChecking yes\nHost jump\n  IdentityFile ~/.ssh/jumpkey\n")
	o := e.opts()
	o.Identities = []string{"/cli/key"}
	o.Options = []string{
		"StrictHostKeyChecking=accept-new", "UserKnownHostsFile /tmp/kh", "BatchMode yes", "ConnectTimeout=5",
		"HostKeyAlias=destalias", "IdentityFile=/cli/other", "Port=2222", "User=u", "HostName=real",
	}
	r := e.resolve("dest", o)
	if len(r.Jumps) != 1 {
		t.Fatalf("route %s", hops(r))
	}
	j, d := r.Jumps[0], r.Dest
	for _, ep := range []Endpoint{j, d} {
		if ep.StrictHostKeyChecking != "accept-new" || !reflect.DeepEqual(ep.UserKnownHostsFiles, []string{"/tmp/kh"}) || !ep.BatchMode || ep.ConnectTimeout != 5*time.Second {
			t.Errorf("-o for every hop not applied to %s: %+v", ep, ep)
		}
	}
	if hops(r) != "me@jump > u@real:2222" {
		t.Errorf("route %s", hops(r))
	}
	if j.HostKeyAlias != "" || d.HostKeyAlias != "destalias" {
		t.Errorf("HostKeyAlias jump %q dest %q", j.HostKeyAlias, d.HostKeyAlias)
	}
	if !reflect.DeepEqual(j.IdentityFiles, []string{e.ssh("jumpkey")}) {
		t.Errorf("jump IdentityFiles %q", j.IdentityFiles)
	}
	if !reflect.DeepEqual(d.IdentityFiles, []string{"/cli/key", "/cli/other"}) {
		t.Errorf("dest IdentityFiles %q", d.IdentityFiles)
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name   string
		user   string
		system string
		files  map[string]string
		dest   string
		opts   func(e *cfgEnv, o *Options)
		// want is a *ConfigError (file, line, key) or *UsageError (what).
		file string // "user", "system", or a name under ~/.ssh
		line int
		key  string
		what string
		say  string // in the message
	}{
		{name: "bad DEST", dest: "-oProxyCommand=x", what: "destination", say: "start with '-'"},
		{name: "unknown -o", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.Options = []string{"Compression=yes"} }, what: "option (-o)", say: "supported: HostName, User, Port, IdentityFile"},
		{name: "-o Host", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.Options = []string{"Host=x"} }, what: "option (-o)", say: "not allowed on the command line"},
		{name: "bad -o value", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.Options = []string{"Port=abc"} }, what: "option (-o)", say: "1 to 65535"},
		{name: "bad -o bool", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.Options = []string{"BatchMode=maybe"} }, what: "option (-o)", say: "not yes or no"},
		{name: "bad -o time", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.Options = []string{"ConnectTimeout=5x"} }, what: "option (-o)", say: "not a time"},
		{name: "-o ProxyCommand", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.Options = []string{"ProxyCommand=nc %h %p"} }, what: "option (-o)", say: "only ProxyCommand=none"},
		{name: "-o missing value", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.Options = []string{"User="} }, what: "option (-o)", say: "missing value"},
		{name: "bad -J", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.Jump = "a,,b" }, what: "jump host list (-J)", say: "empty"},
		{name: "bad -J hop", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.Jump = "-oProxyCommand=x" }, what: "jump host list (-J)", say: "start with '-'"},
		{name: "bad -p", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.Port = 70000 }, what: "port (-p)", say: "1 to 65535"},
		{name: "bad -l", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.User = "-x" }, what: "user (-l)", say: "start with '-'"},
		{name: "-i unknown token", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.Identities = []string{"~/%z"} }, what: "identity file (-i)", say: "unknown token %z"},
		{
			name: "ProxyCommand for the destination", user: "Host vps\n  User u\n  ProxyCommand nc %h %p\n", dest: "vps",
			file: "user", line: 3, key: "ProxyCommand", say: `ProxyCommand for host "vps" is not supported yet`,
		},
		{
			name: "ProxyCommand for the first hop", user: "Host vps\n  ProxyJump gw\nHost gw\n  ProxyCommand nc %h %p\n", dest: "vps",
			file: "user", line: 4, key: "ProxyCommand", say: `host "gw"`,
		},
		{
			name: "ProxyCommand in the system file", system: "Host *\n  ProxyCommand nc %h %p\n", dest: "vps",
			file: "system", line: 2, key: "ProxyCommand", say: "not supported yet",
		},
		{
			name: "ProxyJump loop", user: "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n", dest: "a",
			file: "user", line: 2, key: "ProxyJump", say: "jump host loop: a -> b -> a",
		},
		{
			name: "ProxyJump to itself", user: "Host a\n  ProxyJump a\n", dest: "a",
			file: "user", line: 2, key: "ProxyJump", say: "jump host loop: a -> a",
		},
		{
			name: "ProxyJump to itself under another user", user: "Host a\n  ProxyJump admin@a\n", dest: "a",
			file: "user", line: 2, key: "ProxyJump", say: "jump host loop: a -> a",
		},
		{
			name: "-J to the destination itself", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.Jump = "vps" },
			what: "jump host list (-J)", say: "jump host loop via me@vps",
		},
		{
			name: "endless ProxyJump through tokens", user: "Host *\n  ProxyJump x%h\n", dest: "a",
			file: "user", line: 2, key: "ProxyJump", say: "more than 16 jump hosts",
		},
		{
			name: "too many hops", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.Jump = strings.Repeat("h,", 16) + "h" },
			what: "jump host list (-J)", say: "more than 16",
		},
		{
			name: "bad ProxyJump in config", user: "Host vps\n  ProxyJump a,b:0\n", dest: "vps",
			file: "user", line: 2, key: "ProxyJump", say: "1 to 65535",
		},
		{name: "bad Port", user: "Host *\n  Port abc\n", dest: "vps", file: "user", line: 2, key: "Port", say: "1 to 65535"},
		{name: "bad value in a block that does not match", user: "Host other\n\n  ServerAliveInterval 1x\n", dest: "vps", file: "user", line: 3, key: "ServerAliveInterval", say: "not a time"},
		{name: "bad bool", user: "BatchMode maybe\n", dest: "vps", file: "user", line: 1, key: "BatchMode", say: "not yes or no"},
		{name: "bad StrictHostKeyChecking", user: "StrictHostKeyChecking sometimes\n", dest: "vps", file: "user", line: 1, key: "StrictHostKeyChecking", say: "accept-new"},
		{name: "two values", user: "Host vps\n  User a b\n", dest: "vps", file: "user", line: 2, key: "User", say: "garbage"},
		{name: "unknown token", user: "Host vps\n  IdentityFile ~/.ssh/%Q\n", dest: "vps", file: "user", line: 2, key: "IdentityFile", say: "unknown token %Q"},
		{name: "HostName token", user: "Host vps\n  HostName %n.example.com\n", dest: "vps", file: "user", line: 2, key: "HostName", say: "unknown token %n"},
		{name: "bad HostName", user: "Host vps\n  HostName -oProxyCommand=x\n", dest: "vps", file: "user", line: 2, key: "HostName", say: "start with '-'"},
		{name: "unterminated quote", user: "Host vps\n  IdentityFile \"~/x\n", dest: "vps", file: "user", line: 2, key: "IdentityFile", say: "unterminated quote"},
		{name: "known hosts none with others", user: "UserKnownHostsFile none ~/x\n", dest: "vps", file: "user", line: 1, key: "UserKnownHostsFile", say: "alone"},
		{name: "env var not supported", user: "IdentityFile ${FOO}/key\n", dest: "vps", file: "user", line: 1, key: "IdentityFile", say: "${FOO}"},
		{name: "~user not supported", user: "IdentityFile ~bob/key\n", dest: "vps", file: "user", line: 1, key: "IdentityFile", say: "~user"},
		{name: "IdentityAgent env var", user: "IdentityAgent $MY_AGENT\n", dest: "vps", file: "user", line: 1, key: "IdentityAgent", say: "$MY_AGENT"},
		{name: "unparsable user config", user: "Host vps\n  User u\nMatch exec \"true\"\n", dest: "vps", file: "user", line: 3, say: "Match Exec is not supported"},
		{name: "unsupported Match criterion", user: "Match user bob\n  Port 2\n", dest: "vps", file: "user", line: 1, say: "unsupported Match criterion"},
		{name: "Match with two criteria", user: "Host x\nMatch host a user bob\n  Port 2\n", dest: "vps", file: "user", line: 2, key: "Match", say: "more than one Match criterion"},
		{name: "unparsable system config", system: "Match originalhost x\n", dest: "vps", file: "system", line: 1, say: "unsupported Match criterion"},
		{name: "unparsable included file", user: "Include inc.conf\n", files: map[string]string{"inc.conf": "\n\nMatch final\n"}, dest: "vps", file: "inc.conf", line: 3, say: "unsupported Match criterion"},
		{name: "bad value in an included file", user: "Include inc.conf\n", files: map[string]string{"inc.conf": "Port 0\n"}, dest: "vps", file: "inc.conf", line: 1, key: "Port", say: "1 to 65535"},
		{
			name: "broken file included from a block that does not match", user: "Host other\n  Include inc.conf\n", files: map[string]string{"inc.conf": "Match exec x\n"},
			dest: "vps", file: "inc.conf", line: 1, say: "Match Exec",
		},
		{name: "Include loop", user: "Include config\n", dest: "vps", file: "user", line: 1, key: "Include", say: "too many nested Include"},
		{name: "~ in a system Include", system: "Include ~/x\n", dest: "vps", file: "system", line: 1, key: "Include", say: "not allowed"},
		{name: "unreadable user config", files: map[string]string{"config/x": ""}, dest: "vps", file: "user", say: "is a directory"},
		{name: "missing -F file", dest: "vps", opts: func(e *cfgEnv, o *Options) { o.ConfigFile = e.ssh("nope") }, file: "nope", say: "no such file"},
		{name: "unparsable -F file", files: map[string]string{"alt": "Match canonical\n"}, dest: "vps", opts: func(e *cfgEnv, o *Options) { o.ConfigFile = e.ssh("alt") }, file: "alt", line: 1, say: "unsupported Match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCfgEnv(t)
			if tt.user != "" {
				e.write("config", tt.user)
			}
			if tt.system != "" {
				e.write(e.sys, tt.system)
			}
			for name, text := range tt.files {
				e.write(name, text)
			}
			o := e.opts()
			if tt.opts != nil {
				tt.opts(e, &o)
			}
			_, err := Resolve(tt.dest, o)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.say) {
				t.Errorf("error %q does not say %q", err, tt.say)
			}
			if tt.what != "" {
				var ue *UsageError
				if !errors.As(err, &ue) || ue.What != tt.what {
					t.Fatalf("error %T %v, want a *UsageError about %s", err, err, tt.what)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v, want a *ConfigError", err, err)
			}
			file := e.ssh(tt.file)
			switch tt.file {
			case "user":
				file = e.ssh("config")
			case "system":
				file = e.sys
			}
			if ce.File != file || ce.Line != tt.line || ce.Key != tt.key {
				t.Errorf("ConfigError{File: %q, Line: %d, Key: %q}, want %q, %d, %q", ce.File, ce.Line, ce.Key, file, tt.line, tt.key)
			}
			if !strings.Contains(err.Error(), file) {
				t.Errorf("error %q does not name %s", err, file)
			}
		})
	}
}

func TestResolveNeedsHomeAndUser(t *testing.T) {
	if _, err := Resolve("vps", Options{LocalUser: "me"}); err == nil {
		t.Error("Resolve without Home: no error")
	}
	if _, err := Resolve("vps", Options{Home: t.TempDir()}); err == nil {
		t.Error("Resolve without LocalUser: no error")
	}
}

// FuzzResolveConfig feeds arbitrary ~/.ssh/config text through Resolve:
// it must never panic, and every error must be one the CLI can explain.
func FuzzResolveConfig(f *testing.F) {
	for _, s := range []string{
		"Host vps\n  HostName %h.example.com\n  User u\n  Port 2222\n",
		"Host *\n  ProxyJump a,b\nHost a\n  ProxyJump c\n",
		"Include inc/*\nMatch host vps,!x\n  IdentityFile ~/.ssh/%r@%h\n",
		"Host vps\n  ProxyCommand nc %h %p\n",
		"Match exec true\n",
		"Host = \"a b\"\n  UserKnownHostsFile \"x y\" z\n  ServerAliveInterval 1m30s\r\n",
		"include config\n",
		"\rInclude x\n",
		"Host vps\n  IdentityAgent ${SSH_AUTH_SOCK}\n  GlobalKnownHostsFile none\n",
	} {
		f.Add(s, "vps")
	}
	// One home per fuzzing process, which runs its inputs one at a time;
	// a fresh directory per input would make the fuzzer ten times slower.
	home := f.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh", "inc"), 0o700); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "inc", "x.conf"), []byte("Host *\n  Port 2022\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, config, dest string) {
		if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Resolve(dest, Options{Home: home, SystemConfig: filepath.Join(home, "none"), LocalUser: "me", AgentSocket: "/a"})
		if err != nil {
			var ce *ConfigError
			var ue *UsageError
			if !errors.As(err, &ce) && !errors.As(err, &ue) {
				t.Fatalf("error %T: %v", err, err)
			}
			return
		}
		for _, ep := range append(r.Jumps, r.Dest) {
			if ep.Host == "" || ep.Port < 1 || ep.Port > 65535 || ep.User == "" || strings.HasPrefix(ep.Host, "-") {
				t.Fatalf("bad endpoint %+v", ep)
			}
		}
		if len(r.Jumps) > 16 {
			t.Fatalf("%d jump hosts", len(r.Jumps))
		}
	})
}
