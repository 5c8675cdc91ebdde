package tunnel

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// cfgFirst is the first entry for key: ssh's "first obtained value wins".
func cfgFirst(entries []cfgEntry, key string) (cfgEntry, bool) {
	for _, e := range entries {
		if e.key == key {
			return e, true
		}
	}
	return cfgEntry{}, false
}

// cfgPick finds a user or port, where the host's own text ranks between
// the command line and the files: strong (-l, -p) first, then -o entries,
// then fromTarget (DEST or the hop text), then files. ssh reads user@ and
// ssh:// ports from DEST after all its options, and jump hosts get theirs
// as -l and -p. e is the entry the value came from, zero if none did.
func cfgPick(entries []cfgEntry, key, strong, fromTarget string) (v string, e cfgEntry, ok bool) {
	if strong != "" {
		return strong, cfgEntry{}, true
	}
	e, found := cfgFirst(entries, key)
	switch {
	case found && e.file == "":
	case fromTarget != "":
		return fromTarget, cfgEntry{}, true
	case !found:
		return "", cfgEntry{}, false
	}
	v, err := e.single()
	if err != nil {
		return "", e, false // checked when the entry was read; cannot happen
	}
	return v, e, true
}

func (t cfgTarget) strongPort(o Options) string {
	if t.dest && o.Port != 0 {
		return strconv.Itoa(o.Port)
	}
	return ""
}

func (t cfgTarget) strongUser(o Options) string {
	if t.dest {
		return o.User
	}
	return ""
}

func (t cfgTarget) portText() string {
	if t.port == 0 {
		return ""
	}
	return strconv.Itoa(t.port)
}

// cfgSettings turns the entries that apply to one endpoint into it.
type cfgSettings struct {
	r       *cfgResolver
	t       cfgTarget
	entries []cfgEntry
}

func (s *cfgSettings) first(key string) (cfgEntry, bool) { return cfgFirst(s.entries, key) }

func (s *cfgSettings) fail(e cfgEntry, err error) error {
	if e.file != "" {
		err = fmt.Errorf("%s: %w", e.key, err)
	}
	return s.r.entryErr(e, s.t.alias, err)
}

func (s *cfgSettings) resolve() (Endpoint, cfgProxy, error) {
	o := s.r.opts
	t := s.t
	ep := Endpoint{Alias: t.alias, Host: t.alias}

	if e, ok := s.first("HostName"); ok {
		v, _ := e.single()
		h, err := cfgExpand(v, cfgTokens{host: t.alias}, cfgTokensHostName, false)
		if err != nil {
			return Endpoint{}, cfgProxy{}, s.fail(e, err)
		}
		if len(h) > 2 && h[0] == '[' && h[len(h)-1] == ']' {
			h = h[1 : len(h)-1]
		}
		if err := cfgCheckHost(h); err != nil {
			return Endpoint{}, cfgProxy{}, s.fail(e, err)
		}
		ep.Host = h
	}
	if !cfgIsIP(ep.Host) {
		ep.Host = strings.ToLower(ep.Host) // as ssh does before using it
	}

	ep.Port = 22
	if v, e, ok := cfgPick(s.entries, "Port", t.strongPort(o), t.portText()); ok {
		p, err := cfgParsePort(v)
		if err != nil {
			return Endpoint{}, cfgProxy{}, s.fail(e, err)
		}
		ep.Port = p
	}
	ep.User = o.LocalUser
	if v, _, ok := cfgPick(s.entries, "User", t.strongUser(o), t.user); ok {
		ep.User = v
	}
	if e, ok := s.first("HostKeyAlias"); ok {
		v, _ := e.single()
		ep.HostKeyAlias = strings.ToLower(v) // ssh lower-cases it
	}

	// The first of ProxyJump and ProxyCommand decides; ssh ignores the
	// other once one is set, "none" included.
	var px cfgProxy
	for _, e := range s.entries {
		if e.key != "ProxyJump" && e.key != "ProxyCommand" {
			continue
		}
		v := strings.TrimSpace(e.value)
		if strings.EqualFold(v, "none") {
			break
		}
		px.entry = e
		if e.key == "ProxyJump" {
			spec, err := cfgExpand(v, cfgTokens{host: ep.Host, alias: t.alias, port: strconv.Itoa(ep.Port), user: ep.User}, cfgTokensJump, false)
			if err != nil {
				return Endpoint{}, cfgProxy{}, s.fail(e, err)
			}
			px.spec = spec
		}
		break
	}

	tok := cfgTokens{
		home: o.Home, localUser: o.LocalUser, localHost: o.LocalHost, uid: strconv.Itoa(o.UID),
		host: ep.Host, alias: t.alias, port: strconv.Itoa(ep.Port), user: ep.User,
		keyAlias: t.alias, jump: px.spec, agent: o.AgentSocket,
	}
	if ep.HostKeyAlias != "" {
		tok.keyAlias = ep.HostKeyAlias
	}
	if t.jump != nil {
		tok.jump = *t.jump
	}

	if err := s.identities(&ep, tok); err != nil {
		return Endpoint{}, cfgProxy{}, err
	}
	if err := s.agent(&ep, tok); err != nil {
		return Endpoint{}, cfgProxy{}, err
	}
	if err := s.knownHosts(&ep, tok); err != nil {
		return Endpoint{}, cfgProxy{}, err
	}

	var err error
	ep.StrictHostKeyChecking = "ask"
	if e, ok := s.first("StrictHostKeyChecking"); ok {
		v, _ := e.single()
		if ep.StrictHostKeyChecking, err = cfgStrictHostKey(v); err != nil {
			return Endpoint{}, cfgProxy{}, s.fail(e, err)
		}
	}
	ep.ServerAliveInterval = cfgDefaultAliveInterval
	if e, ok := s.first("ServerAliveInterval"); ok {
		v, _ := e.single()
		if ep.ServerAliveInterval, err = cfgParseDuration(v); err != nil {
			return Endpoint{}, cfgProxy{}, s.fail(e, err)
		}
	}
	if e, ok := s.first("ConnectTimeout"); ok {
		v, _ := e.single()
		if ep.ConnectTimeout, err = cfgParseDuration(v); err != nil {
			return Endpoint{}, cfgProxy{}, s.fail(e, err)
		}
	}
	ep.ServerAliveCountMax = cfgDefaultAliveCountMax
	if e, ok := s.first("ServerAliveCountMax"); ok {
		v, _ := e.single()
		if ep.ServerAliveCountMax, err = cfgParseCount(v); err != nil {
			return Endpoint{}, cfgProxy{}, s.fail(e, err)
		}
	}
	flags := []struct {
		key   string
		dst   *bool
		def   bool
		parse func(string) (bool, error)
	}{
		{"IdentitiesOnly", &ep.IdentitiesOnly, false, cfgParseBool},
		{"HashKnownHosts", &ep.HashKnownHosts, false, cfgParseBool},
		{"BatchMode", &ep.BatchMode, false, cfgParseBool},
		{"PubkeyAuthentication", &ep.PubkeyAuthentication, true, cfgParsePubkey},
		{"PasswordAuthentication", &ep.PasswordAuthentication, true, cfgParseBool},
		{"KbdInteractiveAuthentication", &ep.KbdInteractiveAuthentication, true, cfgParseBool},
	}
	for _, f := range flags {
		*f.dst = f.def
		if e, ok := s.first(f.key); ok {
			v, _ := e.single()
			if *f.dst, err = f.parse(v); err != nil {
				return Endpoint{}, cfgProxy{}, s.fail(e, err)
			}
		}
	}
	return ep, px, nil
}

// cfgDefaultIdentities are ssh's default identity files under ~/.ssh.
var cfgDefaultIdentities = []string{"id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk"}

func (s *cfgSettings) identities(ep *Endpoint, tok cfgTokens) error {
	configured := false
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] { // ssh drops duplicates too
			seen[p] = true
			ep.IdentityFiles = append(ep.IdentityFiles, p)
		}
	}
	if s.t.dest {
		for _, id := range s.r.opts.Identities {
			configured = true
			// ssh expands ~ and tokens in -i names as in IdentityFile.
			p, err := cfgPath(id, tok, cfgTokensFile, true)
			if err != nil {
				return &UsageError{What: "identity file (-i)", Value: id, Err: err}
			}
			add(p)
		}
	}
	for _, e := range s.entries {
		if e.key != "IdentityFile" {
			continue
		}
		configured = true
		v, _ := e.single()
		if strings.EqualFold(v, "none") {
			continue // no identity files, and no defaults either
		}
		p, err := cfgPath(v, tok, cfgTokensFile, true)
		if err != nil {
			return s.fail(e, err)
		}
		add(p)
	}
	if !configured {
		ep.IdentityFilesDefault = true
		for _, name := range cfgDefaultIdentities {
			ep.IdentityFiles = append(ep.IdentityFiles, filepath.Join(s.r.opts.Home, ".ssh", name))
		}
	}
	return nil
}

func (s *cfgSettings) agent(ep *Endpoint, tok cfgTokens) error {
	ep.IdentityAgent = s.r.opts.AgentSocket
	e, ok := s.first("IdentityAgent")
	if !ok {
		return nil
	}
	v, _ := e.single()
	switch {
	case v == "none":
		ep.IdentityAgent = ""
	case v == "SSH_AUTH_SOCK" || v == "$SSH_AUTH_SOCK":
		ep.IdentityAgent = s.r.opts.AgentSocket
	case strings.HasPrefix(v, "$") && !strings.HasPrefix(v, "${"):
		return s.fail(e, fmt.Errorf("environment variable %s is not supported (only $SSH_AUTH_SOCK)", v))
	default:
		p, err := cfgPath(v, tok, cfgTokensFile, true)
		if err != nil {
			return s.fail(e, err)
		}
		ep.IdentityAgent = p
	}
	return nil
}

func (s *cfgSettings) knownHosts(ep *Endpoint, tok cfgTokens) error {
	home := s.r.opts.Home
	ep.UserKnownHostsFiles = []string{filepath.Join(home, ".ssh", "known_hosts"), filepath.Join(home, ".ssh", "known_hosts2")}
	ep.GlobalKnownHostsFiles = []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}
	for _, kh := range []struct {
		key    string
		dst    *[]string
		tokens string
	}{
		{"UserKnownHostsFile", &ep.UserKnownHostsFiles, cfgTokensFile},
		// ssh expands only ~ in GlobalKnownHostsFile (tilde_expand_paths).
		{"GlobalKnownHostsFile", &ep.GlobalKnownHostsFiles, ""},
	} {
		e, ok := s.first(kh.key)
		if !ok {
			continue
		}
		args, err := e.args()
		if err != nil {
			return s.fail(e, err)
		}
		files := []string{}
		if !strings.EqualFold(args[0], "none") {
			for _, a := range args {
				p, err := cfgPath(a, tok, kh.tokens, true)
				if err != nil {
					return s.fail(e, err)
				}
				files = append(files, p)
			}
		}
		*kh.dst = files
	}
	return nil
}
