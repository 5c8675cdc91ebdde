package tunnel

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options is what the command line said about the connection.
type Options struct {
	ConfigFile   string   // -F FILE; "" → ~/.ssh/config then the system file; "none" → no config files at all
	SystemConfig string   // the system-wide file; "" → /etc/ssh/ssh_config (tests point it elsewhere)
	Port         int      // -p; 0 = not given
	User         string   // -l; "" = not given
	Identities   []string // -i, in order
	Jump         string   // -J HOP[,HOP…]; "" = not given; "none" disables a configured ProxyJump
	Options      []string // -o, each "Key=Value" or "Key Value", in order; first value wins, as in OpenSSH
	Home         string   // the local home directory (for ~ and %d) — required, no env lookups in the package
	LocalUser    string   // the local user name (%u, and the default remote user) — required
	LocalHost    string   // the local host name (%l)
	UID          int      // %i
	AgentSocket  string   // $SSH_AUTH_SOCK as main read it ("" when unset)
}

// Endpoint is one SSH server of a route with every setting resolved.
type Endpoint struct {
	Alias string // the name as given (what ssh_config Host patterns matched)
	Host  string // where to connect: HostName with tokens expanded, else Alias; lower-cased unless an IP address, as ssh does
	Port  int
	User  string

	IdentityFiles         []string // expanded absolute paths, in order: -i first, then IdentityFile values
	IdentityFilesDefault  bool     // true when none was configured and IdentityFiles holds OpenSSH's defaults: missing ones are skipped silently
	IdentitiesOnly        bool
	IdentityAgent         string   // agent socket path; "" = no agent (IdentityAgent none, or no SSH_AUTH_SOCK)
	UserKnownHostsFiles   []string // default ~/.ssh/known_hosts, ~/.ssh/known_hosts2; empty for UserKnownHostsFile none
	GlobalKnownHostsFiles []string // default /etc/ssh/ssh_known_hosts, /etc/ssh/ssh_known_hosts2; empty for GlobalKnownHostsFile none
	HostKeyAlias          string   // lower-cased, as ssh does
	StrictHostKeyChecking string   // one of "ask" (default), "yes", "accept-new", "no"
	HashKnownHosts        bool
	ServerAliveInterval   time.Duration // 15s when not configured; an explicit 0 (or none) disables
	ServerAliveCountMax   int           // default 3
	ConnectTimeout        time.Duration // 0 = none
	BatchMode             bool          // no prompts at all

	PubkeyAuthentication, PasswordAuthentication, KbdInteractiveAuthentication bool // default true
}

// Route is the way to the destination: jump hosts in dialling order, then
// the destination.
type Route struct {
	Jumps []Endpoint
	Dest  Endpoint
}

// ConfigError reports a config file that cannot be read or parsed, or a
// setting in one that cannot be used. Files are never skipped silently: a
// half-read config could send the connection somewhere else.
type ConfigError struct {
	File string // the file at fault
	Line int    // 1-based; 0 when unknown
	Key  string // the keyword at fault ("ProxyCommand", "Port", …); "" when the file as a whole cannot be read or parsed
	Host string // the alias being resolved when the setting was used; "" when not tied to one
	Err  error
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("tunnel: ")
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, " line %d", e.Line)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Defaults the tool applies where OpenSSH's differ or come from the
// environment.
const (
	cfgDefaultAliveInterval = 15 * time.Second // OpenSSH: 0; a login that waits on a browser needs a dead link noticed
	cfgDefaultAliveCountMax = 3
	cfgDefaultSystemConfig  = "/etc/ssh/ssh_config"
	cfgMaxHops              = 16 // jump hosts in one route, recursion included
)

// Resolve turns a destination and command-line options into a [Route],
// reading ssh_config the way ssh(1) does. Errors are *[UsageError] for bad
// command-line values and *[ConfigError] for config files; anything else
// means opts itself is unusable (Home or LocalUser missing).
//
// # Precedence
//
// For each setting the first value obtained wins: -p, -l and -i first, then
// -o options in order, then the user's config file, then the system one
// (only the -F file when given). A user or port in DEST comes after -o and
// before config files, as in ssh. -p, -l, -i and -o HostName, User, Port,
// IdentityFile, HostKeyAlias, ProxyJump and ProxyCommand concern the
// destination only; every other -o option applies to each jump host too,
// so "-o StrictHostKeyChecking=accept-new" covers the whole chain.
// (OpenSSH passes no -o option to its jump hosts; HostKeyAlias stays with
// the destination because one alias for every hop could never match.)
//
// # Jump hosts
//
// -J, else the first of ProxyJump and ProxyCommand found for the destination,
// decides the route ("none" means direct). Each hop is resolved through
// config like a destination, its own user and port from the hop text
// winning. As in OpenSSH, which runs "ssh -J hop1,…,hopN-1 hopN" for the
// last hop and so on down, only the first hop's own ProxyJump is followed
// (recursively); later hops' ProxyJump and ProxyCommand settings are not
// used. A ProxyCommand other than "none" that would decide a route is
// refused: it is not supported yet. Loops, a hop that leads to itself, and
// routes of more than 16 jump hosts are errors.
//
// # Config files
//
// Files are parsed with github.com/kevinburke/ssh_config. Include is
// handled here rather than by the library (which reads $HOME through
// os/user, ignores the system directory and loses file names in its
// errors): paths are relative to ~/.ssh (Options.Home) in user files and to
// the system file's directory in system ones, globs expand in lexical order,
// and included files are checked even inside Host blocks that do not match,
// as ssh checks them. Host and Match host/all blocks follow ssh_config(5)
// (Match host sees HostName as set so far); other Match criteria are
// refused by the library, which makes the file unusable. Keywords the tool
// does not use are ignored (they are for ssh); values of those it uses are
// checked throughout every file, as ssh checks them, so a typo fails early.
// Environment variables in paths are limited to ${HOME}, ${USER} and
// ${SSH_AUTH_SOCK}, taken from Options. File permissions are not checked.
func Resolve(dest string, opts Options) (Route, error) {
	if opts.Home == "" || !filepath.IsAbs(opts.Home) {
		return Route{}, errors.New("tunnel: Options.Home must be an absolute path")
	}
	if opts.LocalUser == "" {
		return Route{}, errors.New("tunnel: Options.LocalUser is required")
	}
	user, host, port, err := ParseDest(dest)
	if err != nil {
		return Route{}, err
	}
	if opts.Port != 0 {
		if opts.Port < 1 || opts.Port > 65535 {
			return Route{}, &UsageError{What: "port (-p)", Value: strconv.Itoa(opts.Port), Err: errors.New("not a number from 1 to 65535")}
		}
	}
	if opts.User != "" {
		if err := cfgCheckUser(opts.User); err != nil {
			return Route{}, &UsageError{What: "user (-l)", Value: opts.User, Err: err}
		}
	}
	for _, id := range opts.Identities {
		if id == "" {
			return Route{}, &UsageError{What: "identity file (-i)", Value: id, Err: errors.New("empty path")}
		}
	}
	r := &cfgResolver{opts: opts, cache: map[string]*cfgFile{}}
	for _, o := range opts.Options {
		e, err := cfgParseOption(o)
		if err != nil {
			return Route{}, &UsageError{What: "option (-o)", Value: o, Err: err}
		}
		r.cli = append(r.cli, e)
	}
	if opts.Jump != "" && !strings.EqualFold(opts.Jump, "none") {
		if _, err := cfgSplitJump(opts.Jump); err != nil {
			return Route{}, &UsageError{What: "jump host list (-J)", Value: opts.Jump, Err: err}
		}
	}
	if err := r.loadTop(); err != nil {
		return Route{}, err
	}
	return r.route(cfgTarget{alias: host, user: user, port: port, dest: true})
}

// cfgResolver holds what one [Resolve] call shares between the endpoints
// it resolves.
type cfgResolver struct {
	opts  Options
	cli   []cfgEntry          // -o options, in order
	top   []*cfgFile          // the config files read in order, missing ones left out
	cache map[string]*cfgFile // parsed files by path, so every hop sees the same parse
}

// cfgTarget is an endpoint to resolve: the destination or one hop.
type cfgTarget struct {
	alias string
	user  string // from DEST or the hop text; "" if none
	port  int    // likewise; 0 if none
	dest  bool   // the destination: -p, -l, -i and destination-only -o options apply
	// jump, when not nil, is the %j value forced by the caller: the hops
	// before this one for later hops of a list (ssh runs them with -J), or
	// -J for the destination.
	jump *string
}

// cfgProxy is what an endpoint's own settings say about reaching it.
type cfgProxy struct {
	entry cfgEntry // the ProxyJump or ProxyCommand entry that decided; zero if none did
	spec  string   // ProxyJump hops with tokens expanded; "" for direct
}

func (p cfgProxy) command() bool { return p.entry.key == "ProxyCommand" }

func (r *cfgResolver) route(dest cfgTarget) (Route, error) {
	if j := r.opts.Jump; j != "" {
		if strings.EqualFold(j, "none") {
			j = ""
		}
		dest.jump = &j
	}
	ep, px, err := r.endpoint(dest)
	if err != nil {
		return Route{}, err
	}
	var jumps []Endpoint
	switch {
	case r.opts.Jump != "":
		if *dest.jump != "" {
			src := cfgEntry{key: "ProxyJump", raw: r.opts.Jump, value: r.opts.Jump, flag: "-J"}
			jumps, err = r.chain(src, r.opts.Jump, ep, nil)
		}
	case px.command():
		return Route{}, r.proxyCommandErr(px.entry, dest.alias)
	case px.spec != "":
		jumps, err = r.chain(px.entry, px.spec, ep, []string{dest.alias})
	}
	if err != nil {
		return Route{}, err
	}
	return Route{Jumps: jumps, Dest: ep}, nil
}

// chain resolves the hops of a ProxyJump value (or -J) leading to next,
// with the first hop's own ProxyJump prepended recursively. src is where
// spec came from, for errors; followed lists the aliases whose ProxyJump
// was followed on the way here, so that following one again is a loop.
func (r *cfgResolver) chain(src cfgEntry, spec string, next Endpoint, followed []string) ([]Endpoint, error) {
	if len(followed) > cfgMaxHops {
		return nil, r.entryErr(src, next.Alias, fmt.Errorf("more than %d jump hosts", cfgMaxHops))
	}
	hops, err := cfgSplitJump(spec)
	if err != nil {
		return nil, r.entryErr(src, next.Alias, err)
	}
	var prefix []Endpoint
	eps := make([]Endpoint, len(hops))
	for i, h := range hops {
		t := cfgTarget{alias: h.host, user: h.user, port: h.port}
		if i > 0 {
			before := strings.Join(cfgHopTexts(hops[:i]), ",")
			t.jump = &before
		}
		ep, px, err := r.endpoint(t)
		if err != nil {
			return nil, err
		}
		eps[i] = ep
		if i > 0 {
			continue // ssh reaches later hops with -J, which overrides their ProxyJump and ProxyCommand
		}
		switch {
		case px.command():
			return nil, r.proxyCommandErr(px.entry, h.host)
		case px.spec != "":
			if i := slices.Index(followed, h.host); i >= 0 {
				loop := append(slices.Clone(followed[i:]), h.host)
				return nil, r.entryErr(px.entry, h.host, fmt.Errorf("jump host loop: %s", strings.Join(loop, " -> ")))
			}
			if prefix, err = r.chain(px.entry, px.spec, ep, append(slices.Clone(followed), h.host)); err != nil {
				return nil, err
			}
		}
	}
	// Like ssh's "jumphost loop via" check: a hop that leads to the very
	// same server and user is a mistake, never a route.
	for i, ep := range eps {
		to := next
		if i+1 < len(eps) {
			to = eps[i+1]
		}
		if ep.Host == to.Host && ep.Port == to.Port && ep.User == to.User {
			return nil, r.entryErr(src, next.Alias, fmt.Errorf("jump host loop via %s", ep))
		}
	}
	all := append(prefix, eps...)
	if len(all) > cfgMaxHops {
		return nil, r.entryErr(src, next.Alias, fmt.Errorf("more than %d jump hosts", cfgMaxHops))
	}
	return all, nil
}

// endpoint resolves every setting of one endpoint.
func (r *cfgResolver) endpoint(t cfgTarget) (Endpoint, cfgProxy, error) {
	entries, err := r.entries(t)
	if err != nil {
		return Endpoint{}, cfgProxy{}, err
	}
	s := cfgSettings{r: r, t: t, entries: entries}
	return s.resolve()
}

// entryErr reports err about entry e: a *UsageError when e came from the
// command line, a *ConfigError naming file and line when from a file.
func (r *cfgResolver) entryErr(e cfgEntry, alias string, err error) error {
	if e.file == "" {
		switch e.flag {
		case "-J":
			return &UsageError{What: "jump host list (-J)", Value: e.raw, Err: err}
		default:
			return &UsageError{What: "option (-o)", Value: e.key + "=" + e.raw, Err: err}
		}
	}
	return &ConfigError{File: e.file, Line: e.line, Key: e.key, Host: alias, Err: err}
}

func (r *cfgResolver) proxyCommandErr(e cfgEntry, alias string) error {
	// -o ProxyCommand accepts none only, so e comes from a file.
	return &ConfigError{File: e.file, Line: e.line, Key: "ProxyCommand", Host: alias,
		Err: fmt.Errorf("ProxyCommand for host %q is not supported yet", alias)}
}
