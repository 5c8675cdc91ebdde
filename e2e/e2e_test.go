//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/codex-remote-login/codex-remote-login/e2e/internal/issuer"
)

// scenarioTimeout bounds one scenario, so a hung run fails that scenario and
// the suite still cleans up long before `go test -timeout`.
const scenarioTimeout = 3 * time.Minute

// TestE2E builds the world once and runs every scenario against it, printing
// one line per scenario and a closing count.
func TestE2E(t *testing.T) {
	suiteStart := time.Now()
	if reason := preconditions(); reason != "" {
		fmt.Fprintf(os.Stderr, "\n"+
			"**********************************************************************\n"+
			"*** e2e suite SKIPPED: %s\n"+
			"**********************************************************************\n\n", reason)
		if os.Getenv("CI") == "true" {
			// CI runs as root on a machine that has namespaces: a skip
			// there is a broken setup, not a pass.
			t.Fatalf("e2e suite cannot run on CI: %s", reason)
		}
		t.Skip(reason)
	}
	// The suite calls ip, useradd and sshd by name or path; make sure the
	// sbin directories are searched even when root's PATH lacks them.
	t.Setenv("PATH", os.Getenv("PATH")+":/usr/local/sbin:/usr/sbin:/sbin")
	unlock, err := lockSuite()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	// The first SIGINT/SIGTERM stops the scenarios and lets cleanup run; a
	// second one cleans up at once and exits.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var w *world
	var wmu sync.Mutex
	sigs := make(chan os.Signal, 2)
	stop := make(chan struct{})
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer close(stop)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
		case <-stop:
			return
		}
		fmt.Fprintln(os.Stderr, "e2e: interrupted, stopping and cleaning up (again to force)")
		cancel()
		select {
		case <-sigs:
		case <-stop:
			return
		}
		wmu.Lock()
		if w != nil {
			w.teardown()
		}
		wmu.Unlock()
		os.Exit(130)
	}()

	built, err := newWorld(ctx, t.Logf)
	wmu.Lock()
	w = built
	wmu.Unlock()
	defer func() {
		start := time.Now()
		w.teardown()
		t.Logf("teardown took %.1fs", time.Since(start).Seconds())
	}()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("e2e: world up in %.1fs (%s)\n", time.Since(suiteStart).Seconds(), w.root)

	passed, failed, skipped := 0, 0, 0
	for _, sc := range scenarios {
		if ctx.Err() != nil {
			fmt.Printf("SKIP  %d %s  (interrupted)\n", sc.num, sc.name)
			skipped++
			continue
		}
		ran := false
		start := time.Now()
		ok := t.Run(fmt.Sprintf("%02d_%s", sc.num, sc.slug), func(t *testing.T) {
			ran = true
			w.runScenario(ctx, t, sc)
		})
		if !ran {
			continue // filtered out with -run
		}
		word := "PASS"
		if ok {
			passed++
		} else {
			word = "FAIL"
			failed++
		}
		fmt.Printf("%s  %d %s  (%.1fs)\n", word, sc.num, sc.name, time.Since(start).Seconds())
	}
	fmt.Printf("e2e: suite took %.1fs\n", time.Since(suiteStart).Seconds())
	if skipped > 0 {
		fmt.Printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped)
		t.Errorf("interrupted: %d scenarios not run", skipped)
		return
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
}

// lockSuite keeps two runs on one machine from removing each other's world.
func lockSuite() (func(), error) {
	f, err := os.OpenFile("/run/"+prefix+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another e2e run holds /run/%s.lock: %w", prefix, err)
	}
	return func() { f.Close() }, nil
}

// scenario is one row of the suite.
type scenario struct {
	num  int
	slug string // for `go test -run TestE2E/NN_slug`
	name string // for the PASS/FAIL line
	// needsCLI is false only for the world's own check.
	needsCLI bool
	run      func(s *sc)
}

// sc is what a scenario works with: the test, the world, its own directory
// and the marks from which logs and issuer events count.
type sc struct {
	*testing.T
	w       *world
	ctx     context.Context
	dir     string
	logMark map[string]int64
	evMark  int
	procs   []*process
	keep    map[int]bool // laptop-user processes meant to outlive a run
	runs    int
}

func (w *world) runScenario(parent context.Context, t *testing.T, scn scenario) {
	if scn.needsCLI && w.cli == "" {
		t.Fatalf("no codex-remote-login to test: %v", w.cliErr)
	}
	ctx, cancel := context.WithTimeout(parent, scenarioTimeout)
	defer cancel()
	s := &sc{T: t, w: w, ctx: ctx, keep: map[int]bool{}}
	if err := w.reset(s, scn); err != nil {
		t.Fatalf("reset the world: %v", err)
	}
	defer func() {
		for _, p := range s.procs {
			p.kill()
		}
		if t.Failed() {
			s.dump()
		}
		w.killUserProcesses()
	}()
	scn.run(s)
}

// reset gives a scenario a clean world: the laptop home as built, no codex
// state on the vps, nobody's processes left over.
func (w *world) reset(s *sc, scn scenario) error {
	w.killUserProcesses()
	if err := os.RemoveAll(w.laptop.home); err != nil {
		return err
	}
	if _, err := run(s.ctx, "cp", "-a", w.baseline, w.laptop.home); err != nil {
		return err
	}
	for _, d := range []string{".codex", codexHomeAlt} {
		if err := os.RemoveAll(filepath.Join(w.dev.home, d)); err != nil {
			return err
		}
	}
	s.dir = filepath.Join(w.root, "scenarios", fmt.Sprintf("%02d-%s", scn.num, scn.slug))
	if err := os.MkdirAll(filepath.Dir(s.dir), 0o755); err != nil {
		return err
	}
	if err := mkdirAs(w.laptop, s.dir, 0o755); err != nil {
		return err
	}
	for _, ns := range []string{nsName("laptop"), nsName("vps")} {
		if free, err := portFreeIn(ns, 1455); err != nil || !free {
			return fmt.Errorf("127.0.0.1:1455 in %s is not free before the scenario (err %v)", ns, err)
		}
	}
	s.markLogs()
	s.evMark = len(w.iss.Events())
	return nil
}

// markLogs makes sshdLog start from now.
func (s *sc) markLogs() {
	s.logMark = map[string]int64{}
	for name, h := range s.w.hosts {
		if fi, err := os.Stat(h.log); err == nil {
			s.logMark[name] = fi.Size()
		}
	}
}

// killUserProcesses ends every process of the test users, one by one.
func (w *world) killUserProcesses() {
	for _, u := range []*account{w.laptop, w.hop, w.dev} {
		if u == nil {
			continue
		}
		for _, p := range processesOf(u.uid) {
			killPID(p.pid)
		}
	}
}

// codexHomeAlt is a --codex-home with a space in it, under the vps user's
// home, to check the remote command's quoting.
const codexHomeAlt = "codex home"

func (w *world) defaultAuthJSON() string { return filepath.Join(w.dev.home, ".codex", "auth.json") }

// browserKind says what $BROWSER does in a run.
type browserKind int

const (
	signIn     browserKind = iota // headless Chromium completes the login
	recordOnly                    // records the URL and never signs in
)

type runOpts struct {
	browser   browserKind
	agentSock string
}

func (s *sc) browserLog() string { return filepath.Join(s.dir, "browser.log") }

// start runs codex-remote-login as the laptop user, in the laptop namespace,
// with no terminal.
func (s *sc) start(o runOpts, args ...string) *process {
	s.Helper()
	s.runs++
	var extra []string
	switch o.browser {
	case signIn:
		extra = append(extra, "BROWSER="+s.w.browser)
	case recordOnly:
		extra = append(extra, "BROWSER="+s.w.recordBrowser)
	}
	extra = append(extra, "E2E_BROWSER_LOG="+s.browserLog(), "E2E_BROWSER_DIR="+s.dir)
	if o.agentSock != "" {
		extra = append(extra, "SSH_AUTH_SOCK="+o.agentSock)
	}
	cmd := asUser(nsName("laptop"), s.w.laptop, userEnv(s.w.laptop, extra...), append([]string{s.w.cli}, args...)...)
	name := fmt.Sprintf("run%d", s.runs)
	s.Logf("%s: codex-remote-login %s", name, strings.Join(args, " "))
	p, err := startProcess(s.dir, name, cmd)
	if err != nil {
		s.Fatalf("start codex-remote-login: %v", err)
	}
	s.procs = append(s.procs, p)
	return p
}

// tool runs codex-remote-login to its end.
func (s *sc) tool(o runOpts, args ...string) *process {
	s.Helper()
	p := s.start(o, args...)
	if err := p.wait(s.ctx); err != nil {
		s.Fatal(err)
	}
	code, sig := p.exitCode()
	s.Logf("%s: exit %d %s after %.1fs", p.name, code, sig, p.ended.Sub(p.start).Seconds())
	return p
}

// startAs runs any command as u in namespace ns (for ssh, ssh-add, …).
func (s *sc) startAs(host string, u *account, env []string, name string, argv ...string) *process {
	s.Helper()
	p, err := startProcess(s.dir, name, asUser(nsName(host), u, env, argv...))
	if err != nil {
		s.Fatalf("start %s: %v", name, err)
	}
	s.procs = append(s.procs, p)
	return p
}

// runAs runs a command to its end and returns it.
func (s *sc) runAs(host string, u *account, env []string, name string, argv ...string) *process {
	s.Helper()
	p := s.startAs(host, u, env, name, argv...)
	if err := p.wait(s.ctx); err != nil {
		s.Fatal(err)
	}
	return p
}

// dump shows what a failed scenario's runs printed.
func (s *sc) dump() {
	for _, p := range s.procs {
		s.Logf("---- %s stdout:\n%s", p.name, p.stdout())
		s.Logf("---- %s stderr:\n%s", p.name, p.stderr())
	}
	if b, err := os.ReadFile(s.browserLog()); err == nil {
		s.Logf("---- browser log:\n%s", b)
	}
	for _, h := range []string{"jump", "gate", "vps"} {
		if l := s.sshdLog(h); l != "" {
			s.Logf("---- sshd log of %s during the scenario:\n%s", h, l)
		}
	}
	for _, e := range s.events() {
		s.Logf("issuer: %s ok=%v %s %s login=%d", e.Kind, e.OK, e.Reason, e.Request, e.Login)
	}
}

// ---- what a user would check ----

func (s *sc) expectExit(p *process, want int) bool {
	s.Helper()
	code, sig := p.exitCode()
	if code != want || sig != "" {
		s.Errorf("%s: exit %d %s, want %d", p.name, code, sig, want)
		return false
	}
	return true
}

// expectSignedIn checks a successful login: exit 0, the closing line on
// stdout, and auth.json on the vps written by this login.
func (s *sc) expectSignedIn(p *process, authJSON string) authFile {
	s.Helper()
	s.expectExit(p, 0)
	lines := strings.Split(strings.TrimSpace(p.stdout()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(strings.ToLower(last), "signed in") {
		s.Errorf("%s: last line on stdout %q, want it to say \"signed in\"", p.name, last)
	}
	if strings.Contains(p.stdout(), "https://") {
		s.Errorf("%s: the URL went to stdout; progress and the URL belong on stderr", p.name)
	}
	return s.expectAuthJSON(authJSON)
}

// authFile is what the suite reads of an auth.json: no token leaves it.
type authFile struct {
	mode      os.FileMode
	authMode  string
	accountID string
	hasTokens bool
}

func readAuthJSON(path string) (authFile, error) {
	var a authFile
	fi, err := os.Stat(path)
	if err != nil {
		return a, err
	}
	a.mode = fi.Mode().Perm()
	b, err := os.ReadFile(path)
	if err != nil {
		return a, err
	}
	var v struct {
		AuthMode string `json:"auth_mode"`
		Tokens   struct {
			IDToken      string `json:"id_token"`
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			AccountID    string `json:"account_id"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return a, fmt.Errorf("%s is not JSON", path) // the content is never shown
	}
	a.authMode = v.AuthMode
	a.accountID = v.Tokens.AccountID
	a.hasTokens = v.Tokens.IDToken != "" && v.Tokens.AccessToken != "" && v.Tokens.RefreshToken != ""
	return a, nil
}

func (s *sc) expectAuthJSON(path string) authFile {
	s.Helper()
	a, err := readAuthJSON(path)
	if err != nil {
		s.Errorf("auth.json on the vps: %v", err)
		return a
	}
	if a.authMode != "chatgpt" || !a.hasTokens {
		s.Errorf("%s: auth_mode %q, tokens present %v; want chatgpt with tokens", path, a.authMode, a.hasTokens)
	}
	if a.mode != 0o600 {
		s.Errorf("%s: mode %o, want 600", path, a.mode)
	}
	return a
}

func (s *sc) expectNoAuthJSON(path string) {
	s.Helper()
	if _, err := os.Stat(path); err == nil {
		s.Errorf("%s exists, want no login", path)
	}
}

var errorLine = regexp.MustCompile(`(?m)^codex-remote-login: error: (.*)$`)

// expectError checks the error line and that it (with its hints) matches
// every pattern.
func (s *sc) expectError(p *process, patterns ...string) {
	s.Helper()
	m := errorLine.FindStringSubmatch(p.stderr())
	if m == nil {
		s.Errorf("%s: no `codex-remote-login: error: …` line on stderr", p.name)
		return
	}
	for _, pat := range patterns {
		if !regexp.MustCompile(pat).MatchString(p.stderr()) {
			s.Errorf("%s: stderr does not match %s; error line: %q", p.name, pat, m[0])
		}
	}
}

// expectHint checks that a `hint:` line matches pattern.
func (s *sc) expectHint(p *process, pattern string) {
	s.Helper()
	re := regexp.MustCompile(pattern)
	for _, line := range strings.Split(p.stderr(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "hint:") && re.MatchString(line) {
			return
		}
	}
	s.Errorf("%s: no `hint:` line matching %s on stderr", p.name, pattern)
}

// expectNothingLeft checks both sides once the tool has exited: no process
// of the vps or hop user, none of the laptop user except those the scenario
// keeps, and the callback ports bindable on the laptop and the vps. Session
// teardown in sshd is asynchronous, so a couple of seconds are allowed.
func (s *sc) expectNothingLeft(ports ...int) {
	s.Helper()
	if len(ports) == 0 {
		ports = []int{1455}
	}
	var left []string
	clean := eventually(3*time.Second, func() bool {
		left = nil
		for _, u := range []*account{s.w.dev, s.w.hop, s.w.laptop} {
			for _, p := range processesOf(u.uid) {
				if !s.keep[p.pid] {
					left = append(left, u.name+": "+p.String())
				}
			}
		}
		for _, port := range ports {
			for _, host := range []string{"laptop", "vps"} {
				if free, err := portFreeIn(nsName(host), port); err != nil || !free {
					left = append(left, fmt.Sprintf("127.0.0.1:%d still bound on the %s", port, host))
				}
			}
		}
		return len(left) == 0
	})
	if !clean {
		s.Errorf("left running 3s after the tool exited:\n  %s", strings.Join(left, "\n  "))
	}
}

// expectNoSecrets checks that no code or token the issuer handed out was
// printed by p.
func (s *sc) expectNoSecrets(p *process) {
	s.Helper()
	out := p.stdout() + p.stderr()
	for _, secret := range s.w.iss.Secrets() {
		if strings.Contains(out, secret) {
			s.Errorf("%s printed a credential the issuer handed out (%.12s…)", p.name, secret)
		}
	}
}

func (s *sc) events() []issuer.Event {
	all := s.w.iss.Events()
	if s.evMark > len(all) {
		return nil
	}
	return all[s.evMark:]
}

// expectLogins checks the issuer saw exactly n accepted code exchanges, and
// nothing refused or unexpected, during the scenario.
func (s *sc) expectLogins(n int) {
	s.Helper()
	ok := 0
	for _, e := range s.events() {
		switch {
		case e.Kind == issuer.Exchange && e.OK:
			ok++
		case !e.OK:
			s.Errorf("issuer refused a %s request: %s %s", e.Kind, e.Reason, e.Request)
		}
	}
	if ok != n {
		s.Errorf("issuer accepted %d code exchanges, want %d", ok, n)
	}
}

// expectBrowserSignedIn checks the $BROWSER log: called n times, Chromium
// exited 0 each time, and the page it ended on was codex's success page.
func (s *sc) expectBrowserSignedIn(n int) {
	s.Helper()
	// The tool may be done before the browser wrapper logs Chromium's exit
	// (codex exits once /success was served), so allow the browser a moment.
	var b []byte
	end := regexp.MustCompile(`(?m)^chromium-exit `)
	eventually(10*time.Second, func() bool {
		b, _ = os.ReadFile(s.browserLog())
		return len(end.FindAllIndex(b, -1)) >= n
	})
	if len(b) == 0 {
		s.Errorf("$BROWSER was never called")
		return
	}
	if calls := regexp.MustCompile(`(?m)^url `).FindAllIndex(b, -1); len(calls) != n {
		s.Errorf("$BROWSER called %d times, want %d", len(calls), n)
	}
	ends := regexp.MustCompile(`(?m)^chromium-exit (\d+) dir (\S+)$`).FindAllSubmatch(b, -1)
	if len(ends) != n {
		s.Errorf("Chromium finished %d times, want %d", len(ends), n)
	}
	for _, m := range ends {
		if string(m[1]) != "0" {
			s.Errorf("Chromium exited %s", m[1])
		}
		dom, _ := os.ReadFile(filepath.Join(string(m[2]), "dom.html"))
		if !strings.Contains(string(dom), "Signed in to Codex") {
			s.Errorf("the browser did not end on codex's success page (no \"Signed in to Codex\" in %s)", m[2])
		}
	}
}

// expectBrowserNotCalled checks that $BROWSER never ran.
func (s *sc) expectBrowserNotCalled() {
	s.Helper()
	if b, err := os.ReadFile(s.browserLog()); err == nil {
		s.Errorf("$BROWSER was called: %s", b)
	}
}

// browserURL returns the URL $BROWSER was given, once it was.
func (s *sc) browserURL() string {
	b, _ := os.ReadFile(s.browserLog())
	m := regexp.MustCompile(`(?m)^url (\S+)$`).FindSubmatch(b)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// callbackPort is the port of the redirect_uri in an authorization URL.
func callbackPort(raw string) (int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return 0, err
	}
	r, err := url.Parse(u.Query().Get("redirect_uri"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(r.Port())
}

// sshdLog returns what host's sshd logged since the scenario began.
func (s *sc) sshdLog(host string) string {
	h := s.w.hosts[host]
	b, err := os.ReadFile(h.log)
	if err != nil {
		return ""
	}
	if off := s.logMark[host]; off <= int64(len(b)) {
		b = b[off:]
	}
	return string(b)
}

// expectAccepted checks host's sshd accepted public-key logins of user
// during the scenario exactly as want says: how many from which address.
func (s *sc) expectAccepted(host, user string, want map[string]int) {
	s.Helper()
	re := regexp.MustCompile(`Accepted publickey for ` + regexp.QuoteMeta(user) + ` from (\S+) port`)
	got := map[string]int{}
	for _, m := range re.FindAllStringSubmatch(s.sshdLog(host), -1) {
		got[m[1]]++
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		s.Errorf("sshd on %s accepted %s from %v (address: logins), want %v", host, user, got, want)
	}
}

// expectConnections checks how many TCP connections host's sshd got during
// the scenario, by source address. The tool promises one per run.
func (s *sc) expectConnections(host string, want map[string]int) {
	s.Helper()
	re := regexp.MustCompile(`(?m)^Connection from (\S+) port \d+ on`)
	got := map[string]int{}
	for _, m := range re.FindAllStringSubmatch(s.sshdLog(host), -1) {
		got[m[1]]++
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		s.Errorf("sshd on %s got connections from %v (address: count), want %v", host, got, want)
	}
}

// authAttempts are the lines sshd writes at VERBOSE for any authentication
// request beyond the initial "none" probe.
var authAttempts = regexp.MustCompile(`(Accepted|Failed|Postponed|Partial) (publickey|password|keyboard-interactive)|Invalid user|Authentication refused`)

func (s *sc) expectNoAuthAttempt(host string) {
	s.Helper()
	if m := authAttempts.FindString(s.sshdLog(host)); m != "" {
		s.Errorf("sshd on %s saw an authentication attempt (%q), want none", host, m)
	}
}

// fingerprint is the SHA256 fingerprint of a public key file.
func fingerprint(ctx context.Context, pub string) (string, error) {
	out, err := exec.CommandContext(ctx, "ssh-keygen", "-l", "-E", "sha256", "-f", pub).Output()
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		return "", fmt.Errorf("ssh-keygen -l %s: %q", pub, out)
	}
	return f[1], nil
}
