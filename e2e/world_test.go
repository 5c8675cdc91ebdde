//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/codex-remote-login/codex-remote-login/e2e/internal/issuer"
)

// Everything the suite creates on the machine carries this prefix, so a run
// can find and remove what a crashed run left behind.
const prefix = "crle2e"

// The pinned Codex CLI, installed by e2e/install-deps.
const codexVersion = "0.169.0"

// Hosts of the world. Addresses come from TEST-NET-2 (RFC 5737): they exist
// only on veth links between the suite's own namespaces, and no namespace
// routes or forwards, so a host is reachable only from its direct neighbours.
const (
	laptopJumpAddr = "198.51.100.1" // laptop, on the laptop–jump link
	jumpAddr       = "198.51.100.2" // jump.e2e.test as the laptop sees it
	laptopVPSAddr  = "198.51.100.5" // laptop, on the laptop–vps link
	vpsPublicAddr  = "198.51.100.6" // vps.e2e.test: the vps's direct address
	jumpVPSAddr    = "198.51.100.9" // jump, on the jump–vps link
	vpsJumpAddr    = "198.51.100.10"
	jumpGateAddr   = "198.51.100.13" // jump, on the jump–gate link
	gateAddr       = "198.51.100.14"
	gateVPSAddr    = "198.51.100.17" // gate, on the gate–vps link
	vpsGateAddr    = "198.51.100.18"
)

// Names the tool and the hops resolve, each in its own namespace's
// /etc/hosts (`ip netns exec` mounts /etc/netns/NS/hosts over it).
const (
	jumpName      = "jump.e2e.test" // public name of the jump host
	vpsPublicName = "vps.e2e.test"  // public name of the vps (direct path)
	gateName      = "gate.internal" // resolves on jump only
	vpsName       = "vps.internal"  // resolves on jump and gate only
)

// Users. All hosts share the machine's /etc/passwd; each sshd allows only its
// own user, so the tool must pick the right user per hop.
const (
	laptopUser = prefix + "-laptop" // runs the tool, Chromium and ssh-agent
	hopUser    = prefix + "-hop"    // the account on jump and gate
	devUser    = prefix + "-dev"    // the account on the vps, with codex
)

type link struct{ a, b, aAddr, bAddr string }

var links = []link{
	{"laptop", "jump", laptopJumpAddr, jumpAddr},
	{"laptop", "vps", laptopVPSAddr, vpsPublicAddr},
	{"jump", "vps", jumpVPSAddr, vpsJumpAddr},
	{"jump", "gate", jumpGateAddr, gateAddr},
	{"gate", "vps", gateVPSAddr, vpsGateAddr},
}

// hostsFiles maps each namespace to the names it resolves.
var hostsFiles = map[string][][2]string{
	"laptop": {{jumpAddr, jumpName}, {vpsPublicAddr, vpsPublicName}},
	"jump":   {{vpsJumpAddr, vpsName}, {gateAddr, gateName}},
	"gate":   {{vpsGateAddr, vpsName}},
	"vps":    {{vpsPublicAddr, vpsPublicName}},
}

func nsName(host string) string { return prefix + "-" + host }

// account is a test user.
type account struct {
	name     string
	uid, gid int
	home     string
}

// sshHost is one host namespace with its sshd.
type sshHost struct {
	name   string
	ns     string
	dir    string   // config, host keys, pid file, log
	listen []string // ListenAddress values
	allow  string   // the one user sshd lets in
	log    string
	// hostKeys maps a key type ("ssh-ed25519", "ecdsa-sha2-nistp256") to
	// the public key as it appears in known_hosts ("TYPE BASE64").
	hostKeys map[string]string
	cmd      *exec.Cmd
	waited   chan struct{}
}

// world is everything the scenarios run against.
type world struct {
	root     string // the suite's temp dir, /tmp/crle2e-*
	logf     func(string, ...any)
	codexBin string // directory holding the pinned codex, for ~/.profile
	cli      string // the codex-remote-login binary under test
	cliErr   error  // why there is none

	iss           *issuer.Issuer
	caPath        string
	proxyPort     int
	authorizePort int
	browser       string // $BROWSER that signs in with Chromium
	recordBrowser string // $BROWSER that records the URL and never signs in

	laptop, hop, dev *account
	hosts            map[string]*sshHost // jump, gate, vps
	userKey          string              // laptop's ~/.ssh/id_ed25519 (private key path)
	agentKey         string              // encrypted key whose twin goes to the agent
	agentPass        string              // file with its passphrase
	decoys           []string            // keys loaded into the agent before the twin
	wrongHostKey     string              // "ssh-ed25519 BASE64" of no host in the world
	baseline         string              // a copy of the laptop user's home to reset from

	serveCancel context.CancelFunc
	serveWG     sync.WaitGroup
	serveErrs   chan error

	mu       sync.Mutex
	torn     bool
	children []*exec.Cmd // long-lived processes the suite started (agents)
}

// preconditions returns why the suite cannot run here, or "".
func preconditions() string {
	if os.Geteuid() != 0 {
		return "the e2e suite needs root (network namespaces, sshd, test users); CI runs it as root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "no `ip` command (iproute2): cannot build network namespaces"
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		return "`ip netns` does not work here: " + strings.TrimSpace(string(out))
	}
	return ""
}

// cacheDir is where e2e/install-deps keeps the pinned codex.
func cacheDir() string {
	if d := os.Getenv("E2E_CACHE"); d != "" {
		return d
	}
	return "/var/cache/codex-remote-login-e2e"
}

// missingTools names what e2e/install-deps should have installed.
func missingTools() []string {
	var missing []string
	for _, p := range []string{"/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen", "/usr/bin/ssh-agent",
		"/usr/bin/ssh-add", "/usr/bin/chromium", "/usr/bin/setpriv", "/usr/sbin/useradd", "/usr/sbin/userdel"} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(cacheDir(), "codex-"+codexVersion, "node_modules", ".bin", "codex")); err != nil {
		missing = append(missing, "codex "+codexVersion+" in "+cacheDir())
	}
	return missing
}

// newWorld builds the world. On error the caller still calls teardown.
func newWorld(ctx context.Context, logf func(string, ...any)) (*world, error) {
	w := &world{logf: logf, hosts: map[string]*sshHost{}, serveErrs: make(chan error, 4)}
	if m := missingTools(); len(m) > 0 {
		return w, fmt.Errorf("missing: %s (run e2e/install-deps as root)", strings.Join(m, ", "))
	}
	cleanLeftovers(logf)
	removeStaleRoots()

	var err error
	if w.root, err = os.MkdirTemp("", prefix+"-"); err != nil {
		return w, err
	}
	// The test users traverse the root to reach their homes, the CA and the
	// scripts; nothing secret to other users lives directly in it.
	if err := os.Chmod(w.root, 0o755); err != nil {
		return w, err
	}
	w.codexBin = filepath.Join(cacheDir(), "codex-"+codexVersion, "node_modules", ".bin")

	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"network namespaces", w.buildNetwork},
		{"users", w.createUsers},
		{"fake issuer", w.startIssuer},
		{"sshd", w.startSSHDs},
		{"laptop keys and config", w.laptopSSH},
		{"browser scripts", w.writeBrowsers},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.fn(ctx); err != nil {
			return w, fmt.Errorf("build world: %s: %w", s.name, err)
		}
		logf("world: %s ready (%.1fs)", s.name, time.Since(start).Seconds())
	}
	start := time.Now()
	w.buildCLI(ctx)
	if w.cliErr != nil {
		logf("world: no codex-remote-login to test: %v", w.cliErr)
	} else {
		logf("world: codex-remote-login built (%.1fs)", time.Since(start).Seconds())
	}
	return w, nil
}

// run runs a command as root in the suite's namespace-less context and
// returns its combined output, which goes into the error.
func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (w *world) buildNetwork(ctx context.Context) error {
	for _, h := range []string{"laptop", "jump", "gate", "vps"} {
		ns := nsName(h)
		if _, err := run(ctx, "ip", "netns", "add", ns); err != nil {
			return err
		}
		if _, err := run(ctx, "ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
		var b strings.Builder
		b.WriteString("# written by the codex-remote-login e2e suite\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
		for _, e := range hostsFiles[h] {
			fmt.Fprintf(&b, "%s\t%s\n", e[0], e[1])
		}
		dir := filepath.Join("/etc/netns", ns)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	for _, l := range links {
		a, b := nsName(l.a), nsName(l.b)
		if _, err := run(ctx, "ip", "link", "add", "to-"+l.b, "netns", a, "type", "veth", "peer", "name", "to-"+l.a, "netns", b); err != nil {
			return err
		}
		for _, side := range []struct{ ns, dev, addr string }{{a, "to-" + l.b, l.aAddr}, {b, "to-" + l.a, l.bAddr}} {
			if _, err := run(ctx, "ip", "-n", side.ns, "addr", "add", side.addr+"/30", "dev", side.dev); err != nil {
				return err
			}
			if _, err := run(ctx, "ip", "-n", side.ns, "link", "set", side.dev, "up"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *world) createUsers(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(w.root, "home"), 0o755); err != nil {
		return err
	}
	mk := func(name, dir string) (*account, error) {
		home := filepath.Join(w.root, "home", dir)
		// -p '*': no password, but not locked: with UsePAM no, sshd refuses
		// key logins to accounts whose password starts with '!'.
		if _, err := run(ctx, "useradd", "-m", "-d", home, "-s", "/bin/bash", "-p", "*", "-U", "-c", "codex-remote-login e2e", name); err != nil {
			return nil, err
		}
		u, err := user.Lookup(name)
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(home, 0o750); err != nil {
			return nil, err
		}
		return &account{name: name, uid: uid, gid: gid, home: home}, nil
	}
	var err error
	if w.laptop, err = mk(laptopUser, "laptop"); err != nil {
		return err
	}
	if w.hop, err = mk(hopUser, "hop"); err != nil {
		return err
	}
	if w.dev, err = mk(devUser, "dev"); err != nil {
		return err
	}
	// As an npm or nvm install leaves it: codex on PATH through ~/.profile
	// only, which a plain `ssh host codex` does not read.
	profile := filepath.Join(w.dev.home, ".profile")
	f, err := os.OpenFile(profile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "\n# Codex CLI (npm)\nexport PATH=\"%s:$PATH\"\n", w.codexBin)
	return errors.Join(err, f.Close())
}

// writeFileAs writes a file owned by u.
func writeFileAs(u *account, path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	return os.Chown(path, u.uid, u.gid)
}

func mkdirAs(u *account, path string, mode os.FileMode) error {
	if err := os.MkdirAll(path, mode); err != nil {
		return err
	}
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	return os.Chown(path, u.uid, u.gid)
}

func (w *world) startIssuer(ctx context.Context) error {
	var err error
	if w.iss, err = issuer.New(); err != nil {
		return err
	}
	w.caPath = filepath.Join(w.root, "ca.pem")
	if err := os.WriteFile(w.caPath, w.iss.CACertPEM(), 0o644); err != nil {
		return err
	}
	// The proxy sits where codex runs, the authorize page where the browser
	// runs; both only on loopback.
	proxyLn, err := listenIn(nsName("vps"), "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("proxy listener: %w", err)
	}
	authLn, err := listenIn(nsName("laptop"), "127.0.0.1:0")
	if err != nil {
		proxyLn.Close()
		return fmt.Errorf("authorize listener: %w", err)
	}
	w.proxyPort = proxyLn.Addr().(*net.TCPAddr).Port
	w.authorizePort = authLn.Addr().(*net.TCPAddr).Port
	sctx, cancel := context.WithCancel(context.Background())
	w.serveCancel = cancel
	w.serveWG.Add(2)
	go func() { defer w.serveWG.Done(); w.serveErrs <- w.iss.ServeProxy(sctx, proxyLn) }()
	go func() { defer w.serveWG.Done(); w.serveErrs <- w.iss.ServeAuthorize(sctx, authLn) }()
	return nil
}

func keygen(ctx context.Context, path, typ, pass, comment string) error {
	args := []string{"-q", "-t", typ, "-N", pass, "-C", comment, "-f", path}
	if typ == "ecdsa" {
		args = append(args, "-b", "256")
	}
	_, err := run(ctx, "ssh-keygen", args...)
	return err
}

// pubKey returns "TYPE BASE64" of a .pub file, without the comment.
func pubKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return "", fmt.Errorf("%s: not a public key", path)
	}
	return f[0] + " " + f[1], nil
}

func (w *world) startSSHDs(ctx context.Context) error {
	// sshd refuses to start without its privilege separation directory,
	// which only the service unit creates.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return err
	}
	defs := []struct {
		name   string
		listen []string
		allow  string
		extra  string
	}{
		{"jump", []string{jumpAddr, jumpVPSAddr, jumpGateAddr}, hopUser, ""},
		{"gate", []string{gateAddr, gateVPSAddr}, hopUser, ""},
		{"vps", []string{vpsPublicAddr, vpsJumpAddr, vpsGateAddr}, devUser,
			// How codex reaches the fake issuer: every session gets these.
			fmt.Sprintf("SetEnv HTTPS_PROXY=http://127.0.0.1:%d NO_PROXY=127.0.0.1,localhost CODEX_CA_CERTIFICATE=%s\n", w.proxyPort, w.caPath)},
	}
	for _, d := range defs {
		h := &sshHost{name: d.name, ns: nsName(d.name), dir: filepath.Join(w.root, "hosts", d.name),
			listen: d.listen, allow: d.allow, hostKeys: map[string]string{}}
		h.log = filepath.Join(h.dir, "sshd.log")
		if err := os.MkdirAll(h.dir, 0o755); err != nil {
			return err
		}
		// Like a Debian server: an Ed25519 and an ECDSA host key. Clients
		// must negotiate the one their known_hosts holds.
		var cfg strings.Builder
		fmt.Fprintf(&cfg, "# sshd of host %q in the codex-remote-login e2e world\nPort 22\n", d.name)
		for _, a := range d.listen {
			fmt.Fprintf(&cfg, "ListenAddress %s\n", a)
		}
		for _, typ := range []string{"ed25519", "ecdsa"} {
			key := filepath.Join(h.dir, "ssh_host_"+typ+"_key")
			if err := keygen(ctx, key, typ, "", "root@"+d.name); err != nil {
				return err
			}
			pub, err := pubKey(key + ".pub")
			if err != nil {
				return err
			}
			h.hostKeys[strings.Fields(pub)[0]] = pub
			fmt.Fprintf(&cfg, "HostKey %s\n", key)
		}
		fmt.Fprintf(&cfg, `PidFile %s
LogLevel VERBOSE
UsePAM no
PermitRootLogin no
AllowUsers %s
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
PrintLastLog no
UseDNS no
%s`, filepath.Join(h.dir, "sshd.pid"), d.allow, d.extra)
		cfgPath := filepath.Join(h.dir, "sshd_config")
		if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
			return err
		}
		if out, err := exec.CommandContext(ctx, "/usr/sbin/sshd", "-t", "-f", cfgPath).CombinedOutput(); err != nil {
			return fmt.Errorf("sshd -t for %s: %w: %s", d.name, err, out)
		}
		h.cmd = exec.Command("ip", "netns", "exec", h.ns, "/usr/sbin/sshd", "-D", "-f", cfgPath, "-E", h.log)
		// Its own session: a Ctrl-C meant for the suite must not reach it
		// before the suite's cleanup does.
		h.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := h.cmd.Start(); err != nil {
			return err
		}
		h.waited = make(chan struct{})
		go func() { _ = h.cmd.Wait(); close(h.waited) }()
		w.hosts[d.name] = h
	}
	for _, h := range w.hosts {
		if err := h.waitListening(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (h *sshHost) waitListening(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(h.log)
		all := true
		for _, a := range h.listen {
			if !bytes.Contains(b, []byte("Server listening on "+a+" port 22")) {
				all = false
			}
		}
		if all {
			return nil
		}
		select {
		case <-h.waited:
			return fmt.Errorf("sshd on %s exited: %s", h.name, b)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd on %s not listening after 10s: %s", h.name, b)
		}
	}
}

// knownHost is one known_hosts entry before hashing.
type knownHost struct{ name, key string }

// writeKnownHosts writes entries hashed, as Debian's ssh_config
// (HashKnownHosts yes) leaves them, after a comment line.
func writeKnownHosts(ctx context.Context, u *account, path string, entries []knownHost) error {
	var b strings.Builder
	b.WriteString("# known hosts of the e2e laptop user\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "%s %s\n", e.name, e.key)
	}
	if err := writeFileAs(u, path, []byte(b.String()), 0o644); err != nil {
		return err
	}
	if _, err := run(ctx, "ssh-keygen", "-q", "-H", "-f", path); err != nil {
		return err
	}
	_ = os.Remove(path + ".old")
	return os.Chown(path, u.uid, u.gid)
}

// knownHostLine returns the line number of name's entry in a known_hosts
// file, as OpenSSH counts them.
func knownHostLine(ctx context.Context, path, name string) (int, error) {
	out, err := run(ctx, "ssh-keygen", "-F", name, "-f", path)
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`found: line (\d+)`).FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("ssh-keygen -F %s: no line in %q", name, out)
	}
	return strconv.Atoi(m[1])
}

// baselineKnownHosts lists every host by the names the scenarios use, with
// its Ed25519 key only.
func (w *world) baselineKnownHosts() []knownHost {
	ed := func(h string) string { return w.hosts[h].hostKeys["ssh-ed25519"] }
	return []knownHost{
		{jumpName, ed("jump")},
		{gateName, ed("gate")},
		{vpsName, ed("vps")},
		{vpsPublicName, ed("vps")},
	}
}

func (w *world) laptopSSH(ctx context.Context) error {
	sshDir := filepath.Join(w.laptop.home, ".ssh")
	if err := mkdirAs(w.laptop, sshDir, 0o700); err != nil {
		return err
	}
	w.userKey = filepath.Join(sshDir, "id_ed25519")
	if err := keygen(ctx, w.userKey, "ed25519", "", laptopUser+"@laptop"); err != nil {
		return err
	}
	// The agent's key is encrypted; its passphrase stays outside the home.
	secrets := filepath.Join(w.root, "secrets")
	if err := mkdirAs(w.laptop, secrets, 0o700); err != nil {
		return err
	}
	w.agentPass = filepath.Join(secrets, "id_agent.passphrase")
	pass := "e2e " + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := writeFileAs(w.laptop, w.agentPass, []byte(pass+"\n"), 0o600); err != nil {
		return err
	}
	w.agentKey = filepath.Join(sshDir, "id_agent")
	if err := keygen(ctx, w.agentKey, "ed25519", pass, laptopUser+"@laptop (agent)"); err != nil {
		return err
	}
	// Decoys go into the agent first: a tool that offers every agent key
	// instead of honouring IdentitiesOnly runs into sshd's MaxAuthTries (6).
	for i := range 6 {
		k := filepath.Join(secrets, fmt.Sprintf("decoy%d", i))
		if err := keygen(ctx, k, "ed25519", "", fmt.Sprintf("decoy %d", i)); err != nil {
			return err
		}
		w.decoys = append(w.decoys, k)
	}
	wrong := filepath.Join(secrets, "not_a_host_key")
	if err := keygen(ctx, wrong, "ed25519", "", "no host"); err != nil {
		return err
	}
	var err error
	if w.wrongHostKey, err = pubKey(wrong + ".pub"); err != nil {
		return err
	}
	for _, f := range []string{w.userKey, w.userKey + ".pub", w.agentKey, w.agentKey + ".pub"} {
		if err := os.Chown(f, w.laptop.uid, w.laptop.gid); err != nil {
			return err
		}
	}
	for _, d := range w.decoys {
		_ = os.Chown(d, w.laptop.uid, w.laptop.gid)
		_ = os.Chown(d+".pub", w.laptop.uid, w.laptop.gid)
	}

	config := fmt.Sprintf(`# ~/.ssh/config of the e2e laptop user
Host %[1]s
    User %[2]s

# The vps by its internal name, through the jump host.
Host devbox
    HostName %[3]s
    User %[4]s
    ProxyJump %[1]s

# The vps directly, with the agent's key only.
Host agentbox
    HostName %[5]s
    User %[4]s
    IdentitiesOnly yes
    IdentityFile ~/.ssh/id_agent
`, jumpName, hopUser, vpsName, devUser, vpsPublicName)
	if err := writeFileAs(w.laptop, filepath.Join(sshDir, "config"), []byte(config), 0o644); err != nil {
		return err
	}
	if err := writeKnownHosts(ctx, w.laptop, filepath.Join(sshDir, "known_hosts"), w.baselineKnownHosts()); err != nil {
		return err
	}

	userPub, err := os.ReadFile(w.userKey + ".pub")
	if err != nil {
		return err
	}
	agentPub, err := os.ReadFile(w.agentKey + ".pub")
	if err != nil {
		return err
	}
	for _, a := range []struct {
		u    *account
		keys []byte
	}{{w.hop, userPub}, {w.dev, append(append([]byte(nil), userPub...), agentPub...)}} {
		dir := filepath.Join(a.u.home, ".ssh")
		if err := mkdirAs(a.u, dir, 0o700); err != nil {
			return err
		}
		if err := writeFileAs(a.u, filepath.Join(dir, "authorized_keys"), a.keys, 0o600); err != nil {
			return err
		}
	}

	// Each scenario starts from this copy of the laptop home.
	w.baseline = filepath.Join(w.root, "laptop-baseline")
	_, err = run(ctx, "cp", "-a", w.laptop.home, w.baseline)
	return err
}

// browserFlags are what Chromium needs to run headless as a test browser on
// this closed network, pointed at the fake authorize page.
func (w *world) browserFlags() string {
	return fmt.Sprintf(`--headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --host-resolver-rules="MAP %s:443 127.0.0.1:%d" --ignore-certificate-errors`, issuer.Host, w.authorizePort)
}

func (w *world) writeBrowsers(ctx context.Context) error {
	bin := filepath.Join(w.root, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	w.browser = filepath.Join(bin, "e2e-browser")
	chromium := fmt.Sprintf(`#!/bin/sh
# $BROWSER of the e2e suite: the user signs in. Loads the URL in headless
# Chromium (which follows the fake issuer's redirect to the callback and on to
# codex's /success page) and records the call and Chromium's exit status in
# $E2E_BROWSER_LOG. The URL carries no secret (state and PKCE challenge only).
log=${E2E_BROWSER_LOG:-/dev/null}
printf 'url %%s\n' "$1" >>"$log"
dir=$(mktemp -d "${E2E_BROWSER_DIR:-/tmp}/chromium.XXXXXX") || exit 1
timeout 60 /usr/bin/chromium %s \
  --user-data-dir="$dir/profile" --dump-dom "$1" >"$dir/dom.html" 2>"$dir/chromium.log"
rc=$?
printf 'chromium-exit %%d dir %%s\n' "$rc" "$dir" >>"$log"
exit $rc
`, w.browserFlags())
	if err := os.WriteFile(w.browser, []byte(chromium), 0o755); err != nil {
		return err
	}
	w.recordBrowser = filepath.Join(bin, "e2e-browser-record")
	record := `#!/bin/sh
# $BROWSER of the e2e suite for a user who never signs in: records the URL
# in $E2E_BROWSER_LOG and returns at once, as xdg-open does.
printf 'url %s\n' "$1" >>"${E2E_BROWSER_LOG:-/dev/null}"
`
	return os.WriteFile(w.recordBrowser, []byte(record), 0o755)
}

// buildCLI builds the command under test from the module root, unless
// E2E_CLI names a binary to test instead.
func (w *world) buildCLI(ctx context.Context) {
	out := filepath.Join(w.root, "bin", "codex-remote-login")
	if p := os.Getenv("E2E_CLI"); p != "" {
		if _, err := run(ctx, "cp", p, out); err != nil {
			w.cliErr = err
			return
		}
		w.cli = out
		return
	}
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" {
		w.cliErr = fmt.Errorf("cannot find the module root: %v", err)
		return
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if b, err := cmd.CombinedOutput(); err != nil {
		w.cliErr = fmt.Errorf("go build . failed: %w\n%s", err, b)
		return
	}
	w.cli = out
}

// teardown removes everything the world created. It is safe to call more
// than once and on a half-built world.
func (w *world) teardown() {
	w.mu.Lock()
	if w.torn {
		w.mu.Unlock()
		return
	}
	w.torn = true
	children := w.children
	w.mu.Unlock()

	for _, c := range children {
		killPID(c.Process.Pid)
	}
	for _, h := range w.hosts {
		if h.cmd != nil && h.cmd.Process != nil {
			_ = h.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	if w.serveCancel != nil {
		w.serveCancel()
		w.serveWG.Wait()
	}
	for _, h := range w.hosts {
		select {
		case <-h.waited:
		case <-time.After(3 * time.Second):
			_ = h.cmd.Process.Kill()
			<-h.waited
		}
	}
	cleanLeftovers(w.logf)
	if w.root != "" {
		if os.Getenv("E2E_KEEP") != "" {
			w.logf("E2E_KEEP set: leaving %s", w.root)
		} else if err := os.RemoveAll(w.root); err != nil {
			w.logf("teardown: %v", err)
		}
	}
}

// adopt hands a long-lived process to the world's cleanup.
func (w *world) adopt(c *exec.Cmd) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.children = append(w.children, c)
}

// cleanLeftovers removes what this suite creates — its namespaces with every
// process in them, its users with theirs, its files — whether this run or a
// crashed earlier one made them. Processes are ended one by one, by id.
func cleanLeftovers(logf func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], prefix+"-") {
			continue
		}
		ns := f[0]
		pids, _ := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
		for _, p := range strings.Fields(string(pids)) {
			if pid, err := strconv.Atoi(p); err == nil {
				killPID(pid)
			}
		}
		if _, err := run(ctx, "ip", "netns", "del", ns); err != nil {
			logf("cleanup: %v", err)
		}
	}
	for _, name := range []string{laptopUser, hopUser, devUser} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		for _, p := range processesOf(uid) {
			killPID(p.pid)
		}
		if _, err := run(ctx, "userdel", name); err != nil {
			logf("cleanup: %v", err)
		}
		_ = os.Remove("/var/mail/" + name)
	}
	dirs, _ := filepath.Glob(filepath.Join("/etc/netns", prefix+"-*"))
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
}

// removeStaleRoots removes the temp dirs of earlier runs (crashed, or kept
// with E2E_KEEP).
func removeStaleRoots() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"-*"))
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
}
