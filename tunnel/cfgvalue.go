package tunnel

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cfgEntry is one keyword/value pair that applies to the endpoint being
// resolved, from -o or from a config file.
type cfgEntry struct {
	key   string // canonical keyword, e.g. "HostName"
	raw   string // the value as written, quotes included
	value string // raw without one pair of enclosing double quotes (how the library reports values)
	file  string // the config file; "" for the command line
	line  int
	flag  string // for command-line entries: "-o" or "-J"
}

// cfgKeyNames are the keywords the tool uses, in the order they are listed
// to the user.
var cfgKeyNames = []string{
	"HostName", "User", "Port", "IdentityFile", "IdentitiesOnly", "IdentityAgent",
	"ProxyJump", "ProxyCommand", "UserKnownHostsFile", "GlobalKnownHostsFile",
	"HostKeyAlias", "StrictHostKeyChecking", "HashKnownHosts", "ServerAliveInterval",
	"ServerAliveCountMax", "ConnectTimeout", "BatchMode", "PubkeyAuthentication",
	"PasswordAuthentication", "KbdInteractiveAuthentication",
}

// cfgKeys maps lower-cased keywords to their canonical spelling.
var cfgKeys = func() map[string]string {
	m := map[string]string{
		// OpenSSH's deprecated alias for the same setting.
		"challengeresponseauthentication": "KbdInteractiveAuthentication",
	}
	for _, k := range cfgKeyNames {
		m[strings.ToLower(k)] = k
	}
	return m
}()

// cfgDestOnly are the -o keywords that concern the destination alone.
var cfgDestOnly = map[string]bool{
	"HostName": true, "User": true, "Port": true, "IdentityFile": true,
	"HostKeyAlias": true, "ProxyJump": true, "ProxyCommand": true,
}

// cfgParseOption reads one -o value, "Key=Value" or "Key Value", as
// ssh's process_config_line splits it.
func cfgParseOption(s string) (cfgEntry, error) {
	s = strings.TrimLeft(s, " \t")
	end := strings.IndexAny(s, " \t=")
	if end < 0 {
		end = len(s)
	}
	word, rest := s[:end], strings.TrimLeft(s[end:], " \t")
	if r, ok := strings.CutPrefix(rest, "="); ok {
		rest = strings.TrimLeft(r, " \t")
	}
	rest = strings.TrimRight(rest, " \t")
	if word == "" {
		return cfgEntry{}, errors.New("missing keyword")
	}
	key, ok := cfgKeys[strings.ToLower(word)]
	if !ok {
		switch strings.ToLower(word) {
		case "host", "match", "include":
			return cfgEntry{}, fmt.Errorf("%s is not allowed on the command line", word)
		}
		return cfgEntry{}, fmt.Errorf("unsupported option %q; supported: %s", word, strings.Join(cfgKeyNames, ", "))
	}
	e := cfgEntry{key: key, raw: rest, value: cfgUnquote(rest), flag: "-o"}
	if key == "ProxyCommand" && !strings.EqualFold(e.value, "none") {
		return cfgEntry{}, errors.New("ProxyCommand is not supported yet; only ProxyCommand=none is accepted")
	}
	if err := e.check(); err != nil {
		return cfgEntry{}, err
	}
	return e, nil
}

func cfgUnquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// Token sets (ssh_config(5) TOKENS) by keyword.
const (
	cfgTokensHostName = "%h"
	cfgTokensFile     = "%CdhijkLlnpru" // IdentityFile, IdentityAgent, UserKnownHostsFile
	cfgTokensJump     = "%hnpr"
	cfgTokensInclude  = "%dhikLlnpru"
)

// check validates what can be validated without knowing the host, as ssh
// does for every line it reads, matching or not.
func (e cfgEntry) check() error {
	switch e.key {
	case "ProxyCommand":
		if strings.TrimSpace(e.value) == "" {
			return errors.New("missing value")
		}
		return nil
	case "ProxyJump":
		v := strings.TrimSpace(e.value)
		if v == "" {
			return errors.New("missing value")
		}
		if strings.EqualFold(v, "none") {
			return nil
		}
		// Tokens stand for the host's own name, port and user: check the
		// syntax with stand-ins.
		x, err := cfgExpand(v, cfgTokens{host: "h", alias: "n", port: "22", user: "r"}, cfgTokensJump, false)
		if err != nil {
			return err
		}
		_, err = cfgSplitJump(x)
		return err
	case "UserKnownHostsFile", "GlobalKnownHostsFile":
		args, err := e.args()
		if err != nil {
			return err
		}
		if strings.EqualFold(args[0], "none") {
			if len(args) > 1 {
				return errors.New("\"none\" must stand alone")
			}
			return nil
		}
		if e.key == "UserKnownHostsFile" {
			for _, a := range args {
				if err := cfgCheckTokens(a, cfgTokensFile); err != nil {
					return err
				}
			}
		}
		return nil
	}
	v, err := e.single()
	if err != nil {
		return err
	}
	switch e.key {
	case "HostName":
		return cfgCheckTokens(v, cfgTokensHostName)
	case "User":
		return cfgCheckUser(v)
	case "Port":
		_, err = cfgParsePort(v)
	case "IdentityFile":
		if !strings.EqualFold(v, "none") {
			err = cfgCheckTokens(v, cfgTokensFile)
		}
	case "IdentityAgent":
		if v != "none" && v != "SSH_AUTH_SOCK" && !strings.HasPrefix(v, "$") {
			err = cfgCheckTokens(v, cfgTokensFile)
		}
	case "HostKeyAlias":
		if cfgHasSpaceOrControl(v) {
			err = errors.New("contains whitespace or control characters")
		}
	case "StrictHostKeyChecking":
		_, err = cfgStrictHostKey(v)
	case "ServerAliveInterval", "ConnectTimeout":
		_, err = cfgParseDuration(v)
	case "ServerAliveCountMax":
		_, err = cfgParseCount(v)
	case "PubkeyAuthentication":
		_, err = cfgParsePubkey(v)
	default: // the yes/no keywords
		_, err = cfgParseBool(v)
	}
	return err
}

// args splits the value into arguments as ssh's argv_split does: spaces
// separate, single or double quotes group, and a backslash escapes a
// quote, a backslash or (outside quotes) a space.
func (e cfgEntry) args() ([]string, error) {
	args, err := cfgSplitArgs(e.raw)
	if err != nil {
		return nil, err
	}
	if len(args) == 0 || args[0] == "" {
		return nil, errors.New("missing value")
	}
	return args, nil
}

// single is the value of a keyword that takes exactly one argument.
func (e cfgEntry) single() (string, error) {
	args, err := e.args()
	if err != nil {
		return "", err
	}
	if len(args) > 1 {
		return "", fmt.Errorf("garbage at end of line: %q", args[1])
	}
	return args[0], nil
}

func cfgSplitArgs(s string) ([]string, error) {
	var args []string
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		if s[i] == '#' { // a comment, as with ssh's terminate_on_comment
			break
		}
		var b strings.Builder
		var quote byte
		for ; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				if n := s[i+1]; n == '\'' || n == '"' || n == '\\' || (quote == 0 && n == ' ') {
					i++
					b.WriteByte(n)
					continue
				}
			}
			if quote == 0 && (c == ' ' || c == '\t') {
				break
			}
			switch {
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
			case quote != 0 && c == quote:
				quote = 0
			default:
				b.WriteByte(c)
			}
		}
		if quote != 0 {
			return nil, errors.New("unterminated quote")
		}
		args = append(args, b.String())
	}
	return args, nil
}

// cfgParseBool reads a flag as ssh's multistate_flag does.
func cfgParseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "true":
		return true, nil
	case "no", "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes or no", s)
}

// cfgParsePubkey also accepts PubkeyAuthentication's unbound and host-bound,
// which both enable public key authentication.
func cfgParsePubkey(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "unbound", "host-bound":
		return true, nil
	}
	return cfgParseBool(s)
}

func cfgStrictHostKey(s string) (string, error) {
	switch strings.ToLower(s) {
	case "yes", "true":
		return "yes", nil
	case "no", "false", "off":
		return "no", nil
	case "ask":
		return "ask", nil
	case "accept-new":
		return "accept-new", nil
	}
	return "", fmt.Errorf("%q is not yes, no, ask or accept-new", s)
}

func cfgParseCount(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return n, nil
}

// cfgParseDuration reads OpenSSH's time format (sshd_config(5) TIME
// FORMATS): plain seconds, or numbers each followed by s, m, h, d or w, as
// in "1m30s". "none" is no time at all.
func cfgParseDuration(s string) (time.Duration, error) {
	if s == "none" {
		return 0, nil
	}
	bad := fmt.Errorf("%q is not a time (seconds, or e.g. 1m30s)", s)
	if s == "" {
		return 0, bad
	}
	const maxSeconds = 1<<31 - 1 // ssh keeps times in an int
	var total int64
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i || j-i > 10 {
			return 0, bad
		}
		n, _ := strconv.ParseInt(s[i:j], 10, 64)
		unit := int64(1)
		if j < len(s) {
			switch s[j] {
			case 's', 'S':
			case 'm', 'M':
				unit = 60
			case 'h', 'H':
				unit = 60 * 60
			case 'd', 'D':
				unit = 24 * 60 * 60
			case 'w', 'W':
				unit = 7 * 24 * 60 * 60
			default:
				return 0, bad
			}
			j++
		}
		total += n * unit
		if total > maxSeconds {
			return 0, bad
		}
		i = j
	}
	return time.Duration(total) * time.Second, nil
}

// cfgTokens are the values of ssh_config(5) TOKENS for one endpoint, plus
// the few environment variables the tool knows without reading the
// environment.
type cfgTokens struct {
	home, localUser, localHost, uid string
	host, alias, port, user         string
	keyAlias, jump, agent           string
}

// cfgCheckTokens checks the syntax of %-tokens in s against the allowed
// set (a string such as "%hn").
func cfgCheckTokens(s, allowed string) error {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+1 == len(s) {
			return errors.New("'%' at end of value (write %% for a literal '%')")
		}
		i++
		if !strings.ContainsRune(allowed, rune(s[i])) {
			return fmt.Errorf("unknown token %%%c (allowed here: %s)", s[i], cfgTokenList(allowed))
		}
	}
	return nil
}

func cfgTokenList(allowed string) string {
	var l []string
	for _, c := range allowed {
		l = append(l, "%"+string(c))
	}
	return strings.Join(l, " ")
}

// cfgExpand replaces %-tokens (from the allowed set) and, when env is set,
// ${VAR} references in s, in one pass as ssh's percent_dollar_expand does.
func cfgExpand(s string, t cfgTokens, allowed string, env bool) (string, error) {
	if err := cfgCheckTokens(s, allowed); err != nil {
		return "", err
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			i++
			b.WriteString(t.token(s[i]))
		case c == '$' && env && i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", errors.New("unterminated ${")
			}
			v, err := t.env(s[i+2 : i+end])
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i += end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func (t cfgTokens) token(c byte) string {
	switch c {
	case '%':
		return "%"
	case 'C':
		sum := sha1.Sum([]byte(t.localHost + t.host + t.port + t.user + t.jump))
		return hex.EncodeToString(sum[:])
	case 'd':
		return t.home
	case 'h':
		return t.host
	case 'i':
		return t.uid
	case 'j':
		return t.jump
	case 'k':
		return t.keyAlias
	case 'L':
		short, _, _ := strings.Cut(t.localHost, ".")
		return short
	case 'l':
		return t.localHost
	case 'n':
		return t.alias
	case 'p':
		return t.port
	case 'r':
		return t.user
	case 'u':
		return t.localUser
	}
	return ""
}

// env stands in for the environment, which the package does not read.
func (t cfgTokens) env(name string) (string, error) {
	switch name {
	case "HOME":
		return t.home, nil
	case "USER":
		return t.localUser, nil
	case "SSH_AUTH_SOCK":
		if t.agent == "" {
			return "", errors.New("${SSH_AUTH_SOCK} is not set")
		}
		return t.agent, nil
	}
	return "", fmt.Errorf("environment variable ${%s} is not supported (only HOME, USER and SSH_AUTH_SOCK)", name)
}

// cfgTilde expands a leading "~" or "~/" to home. ~user is refused: the
// package looks up no other user.
func cfgTilde(p, home string) (string, error) {
	switch {
	case p == "~":
		return home, nil
	case strings.HasPrefix(p, "~/"):
		return filepath.Join(home, p[2:]), nil
	case strings.HasPrefix(p, "~"):
		return "", fmt.Errorf("%q: ~user paths are not supported", p)
	}
	return p, nil
}

// cfgPath turns a file name from -i or a config value into an absolute
// path: tilde first, then tokens, as ssh expands them. Relative names stay
// relative to the current directory, as in ssh (which passes them to open
// as they are), both for -i and for IdentityFile.
func cfgPath(p string, t cfgTokens, tokens string, env bool) (string, error) {
	p, err := cfgTilde(p, t.home)
	if err != nil {
		return "", err
	}
	if tokens != "" {
		if p, err = cfgExpand(p, t, tokens, env); err != nil {
			return "", err
		}
	}
	if p == "" {
		return "", errors.New("empty path")
	}
	return filepath.Abs(p)
}

// cfgHop is one hop of a ProxyJump value or -J.
type cfgHop struct {
	text string
	user string
	host string
	port int
}

// cfgSplitJump splits a hop list: comma-separated [user@]host[:port] or
// ssh://[user@]host[:port], empty hops refused.
func cfgSplitJump(s string) ([]cfgHop, error) {
	var hops []cfgHop
	for _, text := range strings.Split(s, ",") {
		user, host, port, err := cfgParseTarget(text)
		if err != nil {
			return nil, fmt.Errorf("jump host %q: %w", text, err)
		}
		hops = append(hops, cfgHop{text: text, user: user, host: host, port: port})
	}
	if len(hops) > cfgMaxHops {
		return nil, fmt.Errorf("more than %d jump hosts", cfgMaxHops)
	}
	return hops, nil
}

func cfgHopTexts(hops []cfgHop) []string {
	texts := make([]string, len(hops))
	for i, h := range hops {
		texts[i] = h.text
	}
	return texts
}
