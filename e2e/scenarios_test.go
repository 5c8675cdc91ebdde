//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// scenarios are run in this order, each from a reset world (see README.md to
// add one). 0 checks the world itself with the real OpenSSH client; 1–10 are
// those of issue 3.
var scenarios = []scenario{
	{0, "world", "world: OpenSSH ssh -L + codex login + Chromium", false, worldCheck},
	{1, "direct", "direct user@host", true, direct},
	{2, "alias_proxyjump", "config alias with ProxyJump", true, aliasProxyJump},
	{3, "jump_two_hops", "-J two hops, options after DEST, --codex-home", true, twoHops},
	{4, "agent", "encrypted key via ssh-agent, IdentitiesOnly, no terminal", true, agentKey},
	{5, "unknown_host_key", "unknown host key: refused, then --accept-new", true, unknownHostKey},
	{6, "changed_host_key", "changed host key refused before authenticating", true, changedHostKey},
	{7, "ctrl_c", "Ctrl-C while waiting for the browser", true, ctrlC},
	{8, "timeout", "--timeout expiry (--no-browser)", true, timeout},
	{9, "codex_missing", "codex not on PATH / --codex wrong", true, codexMissing},
	{10, "second_login", "second login right after the first", true, secondLogin},
}

var authorizeURL = regexp.MustCompile(`https://auth\.openai\.com/oauth/authorize\?\S+`)

// worldCheck proves the world with the real OpenSSH client before the tool
// is judged in it: the vps is reachable only as designed, codex is on PATH
// only for login shells, and `ssh -L` + `codex login` + Chromium completes a
// login through the fake issuer.
func worldCheck(s *sc) {
	w := s.w
	env := userEnv(w.laptop)
	ssh := func(name string, args ...string) *process {
		p := s.runAs("laptop", w.laptop, env, name, append([]string{"/usr/bin/ssh", "-o", "BatchMode=yes"}, args...)...)
		if code, sig := p.exitCode(); code != 0 {
			s.Errorf("%s: ssh %s: exit %d %s: %s", name, strings.Join(args, " "), code, sig, p.stderr())
		}
		return p
	}

	for _, addr := range []string{vpsJumpAddr, vpsGateAddr, gateAddr} {
		if c, err := dialIn(s.ctx, nsName("laptop"), addr+":22"); err == nil {
			c.Close()
			s.Errorf("the laptop reaches %s directly; it must only through the jump host", addr)
		}
	}

	vps := devUser + "@" + vpsPublicName
	if p := ssh("ssh-plain", vps, "command -v codex || echo codex is not on a non-login PATH"); !strings.Contains(p.stdout(), "codex is not on a non-login PATH") {
		s.Errorf("codex is on the PATH of a non-login shell (%q); the world must hide it in ~/.profile", p.stdout())
	}
	if p := ssh("ssh-login-shell", vps, "bash -lc 'codex --version'"); !strings.Contains(p.stdout(), "codex-cli "+codexVersion) {
		s.Errorf("codex --version in a login shell: %q, want codex-cli %s", p.stdout(), codexVersion)
	}
	ssh("ssh-devbox", "devbox", "true")
	ssh("ssh-two-hops", "-J", hopUser+"@"+jumpName+","+hopUser+"@"+gateName, devUser+"@"+vpsName, "true")

	// The checks scenarios 4–6 make on sshd's log must be able to fail: a key
	// the vps refuses shows up with its fingerprint and as an attempt.
	s.markLogs()
	decoy := s.runAs("laptop", w.laptop, env, "ssh-decoy", "/usr/bin/ssh", "-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes", "-i", w.decoys[0], vps, "true")
	if code, _ := decoy.exitCode(); code != 255 {
		s.Errorf("a login with a decoy key: exit %d, want 255 (refused)", code)
	}
	if fp, err := fingerprint(s.ctx, w.decoys[0]+".pub"); err != nil || !strings.Contains(s.sshdLog("vps"), fp) {
		s.Errorf("the vps's log does not name the refused decoy key (%v)", err)
	}
	if !authAttempts.MatchString(s.sshdLog("vps")) {
		s.Errorf("the vps's log shows no authentication attempt for a refused key")
	}
	s.markLogs()

	login := s.startAs("laptop", w.laptop, env, "ssh-login", "/usr/bin/ssh", "-o", "BatchMode=yes",
		"-o", "ExitOnForwardFailure=yes", "-L", "1455:127.0.0.1:1455", vps,
		"exec bash -lc 'BROWSER=true exec codex login'")
	var url string
	login.waitFor(s.ctx, 30*time.Second, func() bool { url = authorizeURL.FindString(login.stderr()); return url != "" })
	if url == "" {
		login.kill()
		s.Fatalf("no authorization URL from `ssh … codex login` within 30s: %s", login.stderr())
	}
	browser := s.runAs("laptop", w.laptop,
		userEnv(w.laptop, "E2E_BROWSER_LOG="+s.browserLog(), "E2E_BROWSER_DIR="+s.dir), "browser", w.browser, url)
	if code, _ := browser.exitCode(); code != 0 {
		s.Errorf("the browser wrapper exited %d", code)
	}
	if err := login.wait(s.ctx); err != nil {
		s.Fatal(err)
	}
	s.expectExit(login, 0)
	if !strings.Contains(login.stderr(), "Successfully logged in") {
		s.Errorf("codex did not say \"Successfully logged in\"")
	}
	s.expectAuthJSON(w.defaultAuthJSON())
	s.expectLogins(1)
	s.expectBrowserSignedIn(1)
	s.expectAccepted("vps", devUser, map[string]int{laptopVPSAddr: 1})
	s.expectNothingLeft()
}

// signedInChecks are the checks shared by every successful login.
func signedIn(s *sc, p *process, authJSON string) authFile {
	s.Helper()
	a := s.expectSignedIn(p, authJSON)
	s.expectBrowserSignedIn(1)
	s.expectLogins(1)
	s.expectNoSecrets(p)
	s.expectNothingLeft(urlPort(s))
	return a
}

// urlPort is the callback port of the URL $BROWSER got (1455 if none).
func urlPort(s *sc) int {
	if port, err := callbackPort(s.browserURL()); err == nil {
		return port
	}
	return 1455
}

// 1: `codex-remote-login user@host` straight to the vps, default keys, with
// -v (which must still not print the code or a token).
func direct(s *sc) {
	p := s.tool(runOpts{}, "-v", devUser+"@"+vpsPublicName)
	signedIn(s, p, s.w.defaultAuthJSON())
	// One SSH connection per run: the session and every forwarded
	// connection are channels on it.
	s.expectAccepted("vps", devUser, map[string]int{laptopVPSAddr: 1})
	s.expectConnections("vps", map[string]int{laptopVPSAddr: 1})
}

// 2: a ~/.ssh/config alias whose ProxyJump names another alias; the vps name
// only resolves on the jump host.
func aliasProxyJump(s *sc) {
	p := s.tool(runOpts{}, "devbox")
	signedIn(s, p, s.w.defaultAuthJSON())
	s.expectAccepted("jump", hopUser, map[string]int{laptopJumpAddr: 1})
	s.expectAccepted("vps", devUser, map[string]int{jumpVPSAddr: 1})
	s.expectConnections("jump", map[string]int{laptopJumpAddr: 1})
	s.expectConnections("vps", map[string]int{jumpVPSAddr: 1})
}

// 3: two hops given with -J after DEST, and a --codex-home that needs
// quoting on the remote side.
func twoHops(s *sc) {
	// Not created beforehand: codex 0.169.0 refuses a CODEX_HOME that does
	// not exist, and the tool's --help promises to create it.
	home := filepath.Join(s.w.dev.home, codexHomeAlt)
	p := s.tool(runOpts{}, devUser+"@"+vpsName,
		"-J", hopUser+"@"+jumpName+","+hopUser+"@"+gateName, "--codex-home", home)
	signedIn(s, p, filepath.Join(home, "auth.json"))
	s.expectNoAuthJSON(s.w.defaultAuthJSON())
	s.expectAccepted("jump", hopUser, map[string]int{laptopJumpAddr: 1})
	s.expectAccepted("gate", hopUser, map[string]int{jumpGateAddr: 1})
	s.expectAccepted("vps", devUser, map[string]int{gateVPSAddr: 1})
	s.expectConnections("jump", map[string]int{laptopJumpAddr: 1})
	s.expectConnections("gate", map[string]int{jumpGateAddr: 1})
	s.expectConnections("vps", map[string]int{gateVPSAddr: 1})
}

// 4: the config says IdentitiesOnly yes + IdentityFile <encrypted key>; the
// key's twin is in a real ssh-agent behind six decoys; there is no terminal
// to ask a passphrase on, and no other key on disk.
func agentKey(s *sc) {
	w := s.w
	for _, f := range []string{".ssh/id_ed25519", ".ssh/id_ed25519.pub"} {
		if err := os.Remove(filepath.Join(w.laptop.home, f)); err != nil {
			s.Fatal(err)
		}
	}
	sock := filepath.Join(s.dir, "agent.sock")
	env := userEnv(w.laptop, "SSH_AUTH_SOCK="+sock)
	agent := s.startAs("laptop", w.laptop, userEnv(w.laptop), "ssh-agent", "/usr/bin/ssh-agent", "-D", "-a", sock)
	s.keep[agent.cmd.Process.Pid] = true
	if !agent.waitFor(s.ctx, 5*time.Second, func() bool { _, err := os.Stat(sock); return err == nil }) {
		s.Fatalf("ssh-agent did not start: %s", agent.stderr())
	}
	if p := s.runAs("laptop", w.laptop, env, "ssh-add-decoys", append([]string{"/usr/bin/ssh-add", "-q"}, w.decoys...)...); !s.expectExit(p, 0) {
		s.Fatalf("ssh-add decoys: %s", p.stderr())
	}
	askpass := filepath.Join(s.dir, "askpass")
	if err := writeFileAs(w.laptop, askpass, []byte("#!/bin/sh\nexec cat "+w.agentPass+"\n"), 0o700); err != nil {
		s.Fatal(err)
	}
	addEnv := append(append([]string(nil), env...), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force")
	if p := s.runAs("laptop", w.laptop, addEnv, "ssh-add-key", "/usr/bin/ssh-add", "-q", w.agentKey); !s.expectExit(p, 0) {
		s.Fatalf("ssh-add the encrypted key: %s", p.stderr())
	}
	if p := s.runAs("laptop", w.laptop, env, "ssh-add-list", "/usr/bin/ssh-add", "-l"); strings.Count(p.stdout(), "\n") != len(w.decoys)+1 {
		s.Fatalf("the agent holds %q, want %d keys", p.stdout(), len(w.decoys)+1)
	}

	p := s.tool(runOpts{agentSock: sock}, "agentbox")
	signedIn(s, p, w.defaultAuthJSON())
	if strings.Contains(strings.ToLower(p.stderr()), "passphrase") {
		s.Errorf("the tool mentioned a passphrase; the agent holds the key")
	}
	fp, err := fingerprint(s.ctx, w.agentKey+".pub")
	if err != nil {
		s.Fatal(err)
	}
	log := s.sshdLog("vps")
	if !regexp.MustCompile(`Accepted publickey for ` + devUser + ` from \S+ port \d+ ssh2: ED25519 ` + regexp.QuoteMeta(fp)).MatchString(log) {
		s.Errorf("the vps did not accept the agent's key %s", fp)
	}
	for i, d := range w.decoys {
		if dfp, err := fingerprint(s.ctx, d+".pub"); err == nil && strings.Contains(log, dfp) {
			s.Errorf("decoy agent key %d was offered to the vps despite IdentitiesOnly yes", i)
		}
	}
	s.expectAccepted("vps", devUser, map[string]int{laptopVPSAddr: 1})

	// The decoys are a real trap: OpenSSH offering every agent key fails.
	s.markLogs()
	trap := s.runAs("laptop", w.laptop, env, "ssh-all-agent-keys", "/usr/bin/ssh", "-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=no", devUser+"@"+vpsPublicName, "true")
	if code, _ := trap.exitCode(); code != 255 || !strings.Contains(trap.stderr(), "Too many authentication failures") {
		s.Errorf("OpenSSH offering all agent keys: exit %d, %q; want refused for too many failures", code, trap.stderr())
	}
}

// 5: the vps's key is not in known_hosts and there is no terminal: refused
// with a hint, nothing recorded, no authentication; then --accept-new
// records it (in a form OpenSSH reads back) and logs in.
func unknownHostKey(s *sc) {
	w := s.w
	kh := filepath.Join(w.laptop.home, ".ssh", "known_hosts")
	var entries []knownHost
	for _, e := range w.baselineKnownHosts() {
		if e.name != vpsPublicName {
			entries = append(entries, e)
		}
	}
	if err := writeKnownHosts(s.ctx, w.laptop, kh, entries); err != nil {
		s.Fatal(err)
	}
	dest := devUser + "@" + vpsPublicName

	p := s.tool(runOpts{}, dest)
	s.expectExit(p, 1)
	s.expectError(p)
	s.expectHint(p, `--accept-new`)
	expectHostFingerprint(s, p, "vps")
	if out, err := run(s.ctx, "ssh-keygen", "-F", vpsPublicName, "-f", kh); err == nil {
		s.Errorf("known_hosts has an entry for %s without --accept-new: %s", vpsPublicName, out)
	}
	s.expectNoAuthAttempt("vps")
	s.expectNoAuthJSON(w.defaultAuthJSON())
	s.expectBrowserNotCalled()
	s.expectNothingLeft()
	if s.Failed() {
		return
	}

	p = s.tool(runOpts{}, "--accept-new", dest)
	signedIn(s, p, w.defaultAuthJSON())
	out, err := run(s.ctx, "ssh-keygen", "-F", vpsPublicName, "-f", kh)
	if err != nil {
		s.Fatalf("--accept-new did not record %s: %v", vpsPublicName, err)
	}
	recorded := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && !strings.HasPrefix(f[0], "#") && w.hosts["vps"].hostKeys[f[1]] == f[1]+" "+f[2] {
			recorded = true
		}
	}
	if !recorded {
		s.Errorf("known_hosts has no entry for %s with one of the vps's keys: %q", vpsPublicName, out)
	}
	// OpenSSH itself must now trust the vps without asking.
	check := s.runAs("laptop", w.laptop, userEnv(w.laptop), "ssh-strict", "/usr/bin/ssh",
		"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", dest, "true")
	if code, _ := check.exitCode(); code != 0 {
		s.Errorf("OpenSSH does not accept what --accept-new recorded: %s", check.stderr())
	}
}

// 6: known_hosts holds another key for the vps (reached through the jump
// host): refused, naming the file and line, before any authentication to the
// vps; known_hosts is left as it was.
func changedHostKey(s *sc) {
	w := s.w
	kh := filepath.Join(w.laptop.home, ".ssh", "known_hosts")
	var entries []knownHost
	for _, e := range w.baselineKnownHosts() {
		if e.name == vpsName {
			e.key = w.wrongHostKey
		}
		entries = append(entries, e)
	}
	if err := writeKnownHosts(s.ctx, w.laptop, kh, entries); err != nil {
		s.Fatal(err)
	}
	line, err := knownHostLine(s.ctx, kh, vpsName)
	if err != nil {
		s.Fatal(err)
	}
	// The entries for the vps must stay as they are (OpenSSH may add keys of
	// the jump host it authenticated: UpdateHostKeys).
	before, _ := run(s.ctx, "ssh-keygen", "-F", vpsName, "-f", kh)

	p := s.tool(runOpts{}, "devbox")
	s.expectExit(p, 1)
	s.expectError(p, `(?i)chang|mismatch|does not match|differ`,
		`known_hosts[^0-9\n]{0,12}\b`+fmt.Sprint(line)+`\b`)
	expectHostFingerprint(s, p, "vps")
	if after, _ := run(s.ctx, "ssh-keygen", "-F", vpsName, "-f", kh); after != before {
		s.Errorf("the known_hosts entries for %s changed: %q, was %q", vpsName, after, before)
	}
	s.expectAccepted("jump", hopUser, map[string]int{laptopJumpAddr: 1})
	s.expectNoAuthAttempt("vps")
	s.expectNoAuthJSON(w.defaultAuthJSON())
	s.expectBrowserNotCalled()
	s.expectNothingLeft()

	// OpenSSH refuses too, naming the same line.
	check := s.runAs("laptop", w.laptop, userEnv(w.laptop), "ssh-changed", "/usr/bin/ssh", "-o", "BatchMode=yes", "devbox", "true")
	if code, _ := check.exitCode(); code != 255 || !strings.Contains(check.stderr(), fmt.Sprintf("known_hosts:%d", line)) {
		s.Errorf("OpenSSH with the same known_hosts: exit %d, %q; want refused naming known_hosts:%d", code, check.stderr(), line)
	}
}

// expectHostFingerprint checks that p showed the SHA256 fingerprint of one
// of host's real keys: what a user compares before trusting it.
func expectHostFingerprint(s *sc, p *process, host string) {
	s.Helper()
	keys, _ := filepath.Glob(filepath.Join(s.w.hosts[host].dir, "ssh_host_*_key.pub"))
	for _, k := range keys {
		if fp, err := fingerprint(s.ctx, k); err == nil && strings.Contains(p.stderr(), fp) {
			return
		}
	}
	s.Errorf("%s: stderr shows no fingerprint of %s's host keys", p.name, host)
}

// waitForRemoteCodex waits until the vps runs `codex login` for the dev user
// and the laptop listens on the callback port, so that a check that nothing
// is left afterwards means something.
func waitForRemoteCodex(s *sc, p *process, url func() string) int {
	s.Helper()
	if !p.waitFor(s.ctx, 30*time.Second, func() bool { return url() != "" }) {
		s.Fatalf("no authorization URL within 30s")
	}
	port, err := callbackPort(url())
	if err != nil {
		s.Fatalf("the authorization URL has no callback port: %v", err)
	}
	running := eventually(5*time.Second, func() bool {
		for _, pr := range processesOf(s.w.dev.uid) {
			if strings.Contains(pr.cmdline, "codex") && strings.Contains(pr.cmdline, "login") {
				return true
			}
		}
		return false
	})
	if !running {
		s.Fatalf("no `codex login` of %s runs on the vps while the tool waits", devUser)
	}
	if free, _ := portFreeIn(nsName("laptop"), port); free {
		s.Fatalf("the laptop does not listen on 127.0.0.1:%d while waiting for the browser", port)
	}
	return port
}

// 7: Ctrl-C (SIGINT) while waiting for a browser that never signs in.
func ctrlC(s *sc) {
	p := s.start(runOpts{browser: recordOnly}, devUser+"@"+vpsPublicName)
	port := waitForRemoteCodex(s, p, s.browserURL)
	sent := time.Now()
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGINT); err != nil {
		s.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		s.Errorf("still running 10s after SIGINT")
		p.kill()
		<-p.done
	}
	took := p.ended.Sub(sent)
	fmt.Printf("      7: exited %.2fs after SIGINT\n", took.Seconds())
	s.Logf("exited %.2fs after SIGINT", took.Seconds())
	if took > 2*time.Second {
		s.Errorf("exited %.2fs after SIGINT, want within 2s", took.Seconds())
	}
	s.expectExit(p, 130)
	s.expectNoAuthJSON(s.w.defaultAuthJSON())
	s.expectLogins(0)
	s.expectNothingLeft(port)
}

// 8: --timeout runs out while nobody signs in; with --no-browser, so the URL
// is only printed and $BROWSER (set) must not run.
func timeout(s *sc) {
	const limit = 8 * time.Second
	p := s.start(runOpts{browser: recordOnly}, "--no-browser", "--timeout", limit.String(), devUser+"@"+vpsPublicName)
	port := waitForRemoteCodex(s, p, func() string { return authorizeURL.FindString(p.stderr()) })
	if err := p.wait(s.ctx); err != nil {
		s.Fatal(err)
	}
	took := p.ended.Sub(p.start)
	s.Logf("exited %.1fs after start with --timeout %s", took.Seconds(), limit)
	if took < limit-time.Second || took > limit+3*time.Second {
		s.Errorf("exited %.1fs after start, want about %s", took.Seconds(), limit)
	}
	s.expectExit(p, 1)
	s.expectError(p, `(?i)time(d)?[ -]?out|deadline`)
	s.expectBrowserNotCalled()
	s.expectNoAuthJSON(s.w.defaultAuthJSON())
	s.expectLogins(0)
	s.expectNothingLeft(port)
}

// 9: no codex on the host's PATH (the jump host has none), and a --codex
// that does not exist on the vps.
func codexMissing(s *sc) {
	p := s.tool(runOpts{}, hopUser+"@"+jumpName)
	s.expectExit(p, 1)
	s.expectError(p, `(?i)codex`, `(?i)not found|no such file|not installed`)
	s.expectHint(p, `npm install -g @openai/codex|--codex`)
	s.expectNothingLeft()

	p = s.tool(runOpts{}, "--codex", "/opt/no-such-dir/codex", devUser+"@"+vpsPublicName)
	s.expectExit(p, 1)
	s.expectError(p, `(?i)not found|no such file`)
	s.expectHint(p, `npm install -g @openai/codex|--codex`)
	s.expectNoAuthJSON(s.w.defaultAuthJSON())
	s.expectBrowserNotCalled()
	s.expectLogins(0)
	s.expectNothingLeft()
}

// 10: a second login right after a successful one (with the explicit
// `login` subcommand): it must start fresh and replace auth.json.
func secondLogin(s *sc) {
	dest := devUser + "@" + vpsPublicName
	first := s.tool(runOpts{}, dest)
	a1 := s.expectSignedIn(first, s.w.defaultAuthJSON())
	second := s.tool(runOpts{}, "login", dest)
	a2 := s.expectSignedIn(second, s.w.defaultAuthJSON())
	if a1.accountID == "" || a1.accountID == a2.accountID {
		s.Errorf("auth.json after the second login is the first one's (account %q both times)", a1.accountID)
	}
	s.expectBrowserSignedIn(2)
	s.expectLogins(2)
	s.expectNoSecrets(first)
	s.expectNoSecrets(second)
	s.expectAccepted("vps", devUser, map[string]int{laptopVPSAddr: 2})
	s.expectConnections("vps", map[string]int{laptopVPSAddr: 2})
	s.expectNothingLeft(urlPort(s))
}
