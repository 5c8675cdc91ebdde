package tunnel

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/kevinburke/ssh_config"
)

// cfgFile is one parsed config file.
type cfgFile struct {
	path string
	// system is set for the system file and what it includes: their
	// relative Include paths are relative to the system file's directory,
	// and ~ is refused in them, as in ssh.
	system bool
	blocks []cfgBlock
}

// cfgBlock is the top of a file (before any Host or Match line), a Host
// block or a Match block.
type cfgBlock struct {
	always   bool // the top of the file, or Match all
	match    bool // Match host: patterns are compared with HostName
	patterns []cfgPattern
	nodes    []ssh_config.Node
}

type cfgPattern struct {
	neg  bool
	glob string
}

// cfgMaxIncludeDepth is ssh's READCONF_MAX_DEPTH.
const cfgMaxIncludeDepth = 16

// cfgIncludeKey replaces the Include keyword before the library parses a
// file, so that it keeps Include lines as plain keyword/value pairs and this
// package resolves them (see [Resolve]). No real keyword holds a NUL.
const cfgIncludeKey = "\x00include"

// loadTop reads the config files named by the options, in order.
func (r *cfgResolver) loadTop() error {
	type name struct {
		path             string
		system, required bool
	}
	var names []name
	switch cf := r.opts.ConfigFile; {
	case strings.EqualFold(cf, "none"):
	case cf != "":
		names = []name{{path: cf, required: true}}
	default:
		sys := r.opts.SystemConfig
		if sys == "" {
			sys = cfgDefaultSystemConfig
		}
		names = []name{
			{path: filepath.Join(r.opts.Home, ".ssh", "config")},
			{path: sys, system: true},
		}
	}
	for _, n := range names {
		f, err := r.load(n.path, n.system, n.required)
		if err != nil {
			return err
		}
		if f != nil {
			r.top = append(r.top, f)
		}
	}
	return nil
}

// systemDir is where relative Include paths of system files point.
func (r *cfgResolver) systemDir() string {
	sys := r.opts.SystemConfig
	if sys == "" {
		sys = cfgDefaultSystemConfig
	}
	return filepath.Dir(sys)
}

// load reads and parses a config file once per Resolve. A file that does
// not exist is nil unless required; any other failure is a *ConfigError.
func (r *cfgResolver) load(path string, system, required bool) (*cfgFile, error) {
	key := strconv.FormatBool(system) + ":" + path
	if f, ok := r.cache[key]; ok {
		return f, nil
	}
	b, err := cfgRead(path, required)
	if err != nil {
		// A missing file is no file; so is one under a ~/.ssh that is not
		// a directory.
		if !required && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
			r.cache[key] = nil
			return nil, nil
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in the ConfigError already
		}
		return nil, &ConfigError{File: path, Err: fmt.Errorf("cannot read config file: %w", err)}
	}
	f, err := cfgParse(path, system, b)
	if err != nil {
		return nil, err
	}
	r.cache[key] = f
	return f, nil
}

// cfgMaxFileSize bounds what is read from one config file.
const cfgMaxFileSize = 4 << 20

// cfgRead reads a config file. Only -F may name something other than a
// regular file (say /dev/stdin): a glob in an Include must not make the
// tool read /dev/zero forever.
func cfgRead(path string, anyKind bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, errors.New("is a directory")
	}
	if !anyKind && !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, cfgMaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > cfgMaxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", cfgMaxFileSize)
	}
	return b, nil
}

// cfgParse parses a file's text and checks every value the tool would use,
// in every block, as ssh does when it reads a file.
func cfgParse(path string, system bool, b []byte) (*cfgFile, error) {
	conf, err := cfgDecode(b)
	if err != nil {
		line, why := cfgErrPos(err)
		return nil, &ConfigError{File: path, Line: line, Err: why}
	}
	f := &cfgFile{path: path, system: system}
	for i, h := range conf.Hosts {
		blk, err := cfgMakeBlock(h, i == 0)
		if err != nil {
			return nil, &ConfigError{File: path, Line: cfgBlockLine(h), Key: "Match", Err: err}
		}
		for _, n := range h.Nodes {
			kv, ok := n.(*ssh_config.KV)
			if !ok {
				continue
			}
			lkey := strings.ToLower(kv.Key)
			if lkey == cfgIncludeKey {
				if err := cfgCheckInclude(kv, system); err != nil {
					return nil, &ConfigError{File: path, Line: kv.Pos().Line, Key: "Include", Err: err}
				}
				continue
			}
			key, ok := cfgKeys[lkey]
			if !ok {
				continue // a keyword for ssh, not for this tool
			}
			if err := cfgEntryFromKV(path, key, kv).check(); err != nil {
				return nil, &ConfigError{File: path, Line: kv.Pos().Line, Key: key, Err: fmt.Errorf("%s: %w", key, err)}
			}
		}
		f.blocks = append(f.blocks, blk)
	}
	return f, nil
}

// cfgDecode runs the library's parser on a file's text.
func cfgDecode(b []byte) (conf *ssh_config.Config, err error) {
	// The library turns its own parse errors into errors but re-raises
	// runtime panics; a crash on a user's config file would be worse than
	// refusing it.
	defer func() {
		if p := recover(); p != nil {
			conf, err = nil, fmt.Errorf("config parser failed: %v", p)
		}
	}()
	return ssh_config.DecodeBytes(cfgHideIncludes(b))
}

// cfgErrPos splits the "(line, col): " prefix off the library's errors.
var cfgErrPosRE = regexp.MustCompile(`^\((\d+), \d+\): `)

func cfgErrPos(err error) (int, error) {
	msg := err.Error()
	m := cfgErrPosRE.FindStringSubmatch(msg)
	if m == nil {
		return 0, err
	}
	line, _ := strconv.Atoi(m[1])
	return line, errors.New(strings.TrimSpace(msg[len(m[0]):]))
}

// cfgHideIncludes renames Include keywords to cfgIncludeKey, line by line,
// finding keywords the way the library's lexer does (after spaces and
// tabs, up to a space, tab or '=').
func cfgHideIncludes(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i+1], b[i+1:]
		} else {
			b = nil
		}
		// A '\r' that does not end a line starts a new one for the
		// library's lexer but is white space to ssh; make it white space
		// for both, so that no keyword hides behind one.
		if n := bytes.Count(line, []byte{'\r'}); n > 1 || n == 1 && !bytes.HasSuffix(line, []byte("\r\n")) {
			line = bytes.Clone(line)
			for j := range line {
				if line[j] == '\r' && (j+1 == len(line) || line[j+1] != '\n') {
					line[j] = ' '
				}
			}
		}
		start := 0
		for start < len(line) && (line[start] == ' ' || line[start] == '\t') {
			start++
		}
		end := start
		for end < len(line) && bytes.IndexByte([]byte(" \t=\r\n"), line[end]) < 0 {
			end++
		}
		if strings.EqualFold(string(line[start:end]), "include") {
			out = append(out, line[:start]...)
			out = append(out, cfgIncludeKey...)
			out = append(out, line[end:]...)
			continue
		}
		out = append(out, line...)
	}
	return out
}

// Match criteria of ssh_config(5). The library reads "Match host a user b"
// as host patterns a, user and b; seeing a criterion among the patterns
// means that happened.
var cfgMatchCriteria = map[string]bool{
	"all": true, "canonical": true, "final": true, "exec": true, "localnetwork": true,
	"host": true, "originalhost": true, "tagged": true, "user": true, "localuser": true,
	"command": true, "version": true, "sessiontype": true,
}

func cfgMakeBlock(h *ssh_config.Host, top bool) (cfgBlock, error) {
	blk := cfgBlock{nodes: h.Nodes}
	if top {
		blk.always = true
		return blk, nil
	}
	// Host keeps whether it is a Match block unexported; its text says.
	header, _, _ := strings.Cut(h.String(), "\n")
	fields := strings.Fields(header)
	if len(fields) > 1 && fields[1] == "=" {
		fields = append(fields[:1], fields[2:]...)
	}
	if len(fields) > 0 && fields[0] == "Match" {
		blk.match = true
		if len(fields) > 1 && strings.EqualFold(fields[1], "all") {
			blk.always = true
			return blk, nil
		}
		for _, p := range h.Patterns {
			// Match takes comma-separated pattern lists.
			for _, part := range strings.Split(p.String(), ",") {
				if part == "" {
					continue
				}
				pat := cfgPattern{neg: part[0] == '!', glob: strings.TrimPrefix(part, "!")}
				if cfgMatchCriteria[strings.ToLower(pat.glob)] {
					return cfgBlock{}, errors.New("more than one Match criterion is not supported (only Match host PATTERNS or Match all)")
				}
				blk.patterns = append(blk.patterns, pat)
			}
		}
		return blk, nil
	}
	for _, p := range h.Patterns {
		// The library splits Host patterns at spaces only; ssh at tabs too.
		for _, f := range strings.Fields(p.String()) {
			blk.patterns = append(blk.patterns, cfgPattern{neg: f[0] == '!', glob: strings.TrimPrefix(f, "!")})
		}
	}
	return blk, nil
}

// cfgBlockLine guesses the line of a Host or Match line: the library keeps
// none, but every line after it, blank or not, is a node of the block.
func cfgBlockLine(h *ssh_config.Host) int {
	if len(h.Nodes) == 0 {
		return 0
	}
	return h.Nodes[0].Pos().Line - 1
}

func cfgCheckInclude(kv *ssh_config.KV, system bool) error {
	args, err := cfgEntryFromKV("", "Include", kv).args()
	if err != nil {
		return err
	}
	for _, a := range args {
		if system && strings.HasPrefix(a, "~") {
			return fmt.Errorf("%q: ~ is not allowed in the system config", a)
		}
		if err := cfgCheckTokens(a, cfgTokensInclude); err != nil {
			return err
		}
	}
	return nil
}

func cfgEntryFromKV(path, key string, kv *ssh_config.KV) cfgEntry {
	return cfgEntry{key: key, raw: cfgRawValue(kv), value: kv.Value, file: path, line: kv.Pos().Line}
}

// cfgRawValue recovers a value as written, quotes included, from the
// line the library prints back: KV.Value has lost the quotes of a wholly
// quoted value, which changes how it splits into arguments.
func cfgRawValue(kv *ssh_config.KV) string {
	s := strings.TrimLeft(kv.String(), " ")
	s = strings.TrimPrefix(s, kv.Key)
	if r, ok := strings.CutPrefix(s, " = "); ok {
		s = r
	} else {
		s = strings.TrimPrefix(s, " ")
	}
	// The lexer ends a value at the first '#', so the first '#' left is
	// the comment's.
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimRight(s, " \t")
}

// cfgWalk collects, in file order, the entries that apply to one endpoint.
type cfgWalk struct {
	r        *cfgResolver
	t        cfgTarget
	hostname string // the first HostName so far, expanded: what Match host compares
	out      []cfgEntry
}

// entries lists what applies to t: -o options first, then the files.
func (r *cfgResolver) entries(t cfgTarget) ([]cfgEntry, error) {
	w := &cfgWalk{r: r, t: t}
	for _, e := range r.cli {
		if t.dest || !cfgDestOnly[e.key] {
			w.add(e)
		}
	}
	for _, f := range r.top {
		if err := w.file(f, true, 0); err != nil {
			return nil, err
		}
	}
	return w.out, nil
}

func (w *cfgWalk) add(e cfgEntry) {
	w.out = append(w.out, e)
	if e.key == "HostName" && w.hostname == "" {
		if v, err := e.single(); err == nil {
			if h, err := cfgExpand(v, cfgTokens{host: w.t.alias}, cfgTokensHostName, false); err == nil {
				w.hostname = h
			}
		}
	}
}

// file walks one file. With active false (an Include inside a block that
// does not apply) it only reads what the file includes, so that errors
// there surface as they do in ssh.
func (w *cfgWalk) file(f *cfgFile, active bool, depth int) error {
	for _, b := range f.blocks {
		on := active && w.applies(b)
		for _, n := range b.nodes {
			kv, ok := n.(*ssh_config.KV)
			if !ok {
				continue
			}
			lkey := strings.ToLower(kv.Key)
			if lkey == cfgIncludeKey {
				if err := w.include(f, kv, on, depth); err != nil {
					return err
				}
				continue
			}
			if !on {
				continue
			}
			if key, ok := cfgKeys[lkey]; ok {
				w.add(cfgEntryFromKV(f.path, key, kv))
			}
		}
	}
	return nil
}

func (w *cfgWalk) applies(b cfgBlock) bool {
	switch {
	case b.always:
		return true
	case b.match:
		// ssh compares Match host with HostName as set so far (tokens
		// expanded), else the alias; its patterns are lower-cased.
		h := w.hostname
		if h == "" {
			h = w.t.alias
		}
		return cfgMatchPatterns(strings.ToLower(h), b.patterns, true)
	default:
		return cfgMatchPatterns(w.t.alias, b.patterns, false)
	}
}

// cfgMatchPatterns applies ssh_config(5) PATTERNS: a matching negated
// pattern rules the block out, else any matching pattern rules it in.
func cfgMatchPatterns(name string, pats []cfgPattern, fold bool) bool {
	found := false
	for _, p := range pats {
		g := p.glob
		if fold {
			g = strings.ToLower(g)
		}
		if cfgGlob(name, g) {
			if p.neg {
				return false
			}
			found = true
		}
	}
	return found
}

// cfgGlob matches s against a pattern where '*' is any run of bytes and
// '?' exactly one, as ssh's match_pattern does.
func cfgGlob(s, p string) bool {
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			si++
			pi++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			mark++
			si, pi = mark, star+1
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func (w *cfgWalk) include(f *cfgFile, kv *ssh_config.KV, active bool, depth int) error {
	fail := func(err error) error {
		return &ConfigError{File: f.path, Line: kv.Pos().Line, Key: "Include", Host: w.t.alias, Err: err}
	}
	if depth+1 >= cfgMaxIncludeDepth {
		return fail(errors.New("too many nested Include directives"))
	}
	args, err := cfgEntryFromKV(f.path, "Include", kv).args()
	if err != nil {
		return fail(err)
	}
	for _, a := range args {
		pattern, err := w.includePath(f, a)
		if err != nil {
			return fail(err)
		}
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return fail(fmt.Errorf("bad pattern %q: %w", a, err))
		}
		sort.Strings(matches) // glob(3) order, which ssh follows
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil && st.IsDir() {
				continue // ssh reads nothing from a directory
			}
			inc, err := w.r.load(m, f.system, false)
			if err != nil {
				return err
			}
			if inc == nil {
				continue // vanished, or a dangling link: ssh ignores those too
			}
			if err := w.file(inc, active, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// includePath turns an Include argument into an absolute glob pattern.
func (w *cfgWalk) includePath(f *cfgFile, a string) (string, error) {
	if f.system && strings.HasPrefix(a, "~") {
		return "", fmt.Errorf("%q: ~ is not allowed in the system config", a)
	}
	p, err := cfgTilde(a, w.r.opts.Home)
	if err != nil {
		return "", err
	}
	if p, err = cfgExpand(p, w.tokens(), cfgTokensInclude, true); err != nil {
		return "", err
	}
	if !filepath.IsAbs(p) {
		base := filepath.Join(w.r.opts.Home, ".ssh")
		if f.system {
			base = w.r.systemDir()
		}
		p = filepath.Join(base, p)
	}
	return p, nil
}

// tokens are the token values known while files are still being read:
// port and user as set so far, as ssh has them at that point.
func (w *cfgWalk) tokens() cfgTokens {
	o := w.r.opts
	t := cfgTokens{
		home: o.Home, localUser: o.LocalUser, localHost: o.LocalHost, uid: strconv.Itoa(o.UID),
		agent: o.AgentSocket, alias: w.t.alias, host: w.hostname, keyAlias: w.t.alias,
		port: "22", user: o.LocalUser,
	}
	if t.host == "" {
		t.host = w.t.alias
	}
	if v, _, ok := cfgPick(w.out, "Port", w.t.strongPort(o), w.t.portText()); ok {
		t.port = v
	}
	if v, _, ok := cfgPick(w.out, "User", w.t.strongUser(o), w.t.user); ok {
		t.user = v
	}
	if e, ok := cfgFirst(w.out, "HostKeyAlias"); ok {
		if v, err := e.single(); err == nil {
			t.keyAlias = strings.ToLower(v)
		}
	}
	return t
}
