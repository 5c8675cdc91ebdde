package fakecodex

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codex-remote-login/codex-remote-login/internal/sshtest"
	"golang.org/x/crypto/ssh"
)

// remote is a "VPS": an sshtest server whose commands find the fake codex in PATH and whose
// loopback is 127.0.0.2, so that the remote 127.0.0.1:PORT is not the test's.
type remote struct {
	srv     *sshtest.Server
	client  *ssh.Client
	port    int
	pidfile string
}

func newRemote(t *testing.T) *remote {
	t.Helper()
	bin, home := t.TempDir(), t.TempDir()
	r := &remote{port: freePort(t, "127.0.0.2"), pidfile: filepath.Join(t.TempDir(), "pid")}
	signer, _ := sshtest.NewKey(t)
	r.srv = sshtest.Start(t, sshtest.Config{
		AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()},
		Env: []string{
			Install(t, bin),
			"PATH=" + bin + ":/usr/bin:/bin",
			"HOME=" + home,
			"SHELL=/bin/sh",
			"FAKE_CODEX_LISTEN=127.0.0.2",
			"FAKE_CODEX_PORT=" + strconv.Itoa(r.port),
			"FAKE_CODEX_FALLBACK_PORT=" + strconv.Itoa(freePort(t, "127.0.0.2")),
			"FAKE_CODEX_PIDFILE=" + r.pidfile,
		},
		Dir:  home,
		Dial: sshtest.MapLoopback("127.0.0.2"),
		Logf: t.Logf,
	})
	c, err := ssh.Dial("tcp", r.srv.Addr(), &ssh.ClientConfig{
		User:            "u",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(r.srv.PublicKey()),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r.client = c
	return r
}

// startLogin runs codex login in a new session and returns the session, its output and the
// authorization URL it printed.
func (r *remote) startLogin(t *testing.T, pty bool) (*ssh.Session, *bufio.Reader, *url.URL) {
	t.Helper()
	s, err := r.client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if pty {
		if err := s.RequestPty("xterm", 24, 200, ssh.TerminalModes{ssh.ECHO: 0}); err != nil {
			t.Fatal(err)
		}
	}
	out, _ := s.StdoutPipe()
	other, _ := s.StderrPipe()
	if !pty {
		// Without a pty, codex's stderr arrives apart: read that.
		out, other = other, out
	}
	go io.Copy(io.Discard, other)
	if err := s.Start("BROWSER=true codex login"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(out)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("no URL: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "https://") {
			u, err := url.Parse(line)
			if err != nil {
				t.Fatal(err)
			}
			return s, br, u
		}
	}
}

func (r *remote) pid(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(r.pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func TestLoginOverSSH(t *testing.T) {
	t.Parallel()
	r := newRemote(t)
	s, out, u := r.startLogin(t, true)
	redirect, _ := url.Parse(u.Query().Get("redirect_uri"))
	if redirect.Host != "127.0.0.1:"+strconv.Itoa(r.port) {
		t.Fatalf("redirect_uri %s", redirect)
	}
	// The remote's 127.0.0.1:PORT is not the test's.
	if c, err := net.Dial("tcp4", redirect.Host); err == nil {
		c.Close()
		t.Fatalf("something listens on the local %s", redirect.Host)
	}

	// A browser whose connections travel over SSH to the remote 127.0.0.1.
	browser := &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return r.client.DialContext(ctx, network, addr)
		}},
		Timeout: 10 * time.Second,
	}
	resp, body := get(t, browser, redirect.String()+"?code=c&state="+url.QueryEscape(u.Query().Get("state")))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed in") {
		t.Fatalf("callback then /success: %s %q", resp.Status, body)
	}
	rest, _ := io.ReadAll(out)
	if err := s.Wait(); err != nil {
		t.Fatalf("codex login: %v", err)
	}
	if !strings.HasSuffix(string(rest), "Successfully logged in\r\n") {
		t.Errorf("output ends %q", rest)
	}
	if got := r.srv.Commands(); len(got) != 1 || got[0] != "BROWSER=true codex login" {
		t.Errorf("commands %q", got)
	}
}

func TestPTYCloseEndsLogin(t *testing.T) {
	t.Parallel()
	r := newRemote(t)
	s, _, _ := r.startLogin(t, true)
	pid := r.pid(t)
	s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for sshtest.ProcessAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatal("codex login still running after the session closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.2:%d", r.port))
	if err != nil {
		t.Fatalf("the port is still taken: %v", err)
	}
	ln.Close()
}

func TestNoPTYCloseLeavesLoginRunning(t *testing.T) {
	t.Parallel()
	var pid, port int
	t.Run("remote", func(t *testing.T) {
		r := newRemote(t)
		s, _, _ := r.startLogin(t, false)
		pid, port = r.pid(t), r.port
		s.Close()
		r.client.Close()
		time.Sleep(200 * time.Millisecond)
		if !sshtest.ProcessAlive(pid) {
			t.Fatal("codex login ended with the session; without a pty it keeps running, as under sshd")
		}
		if ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.2:%d", port)); err == nil {
			ln.Close()
			t.Fatal("the port was released")
		}
	})
	if sshtest.ProcessAlive(pid) {
		t.Errorf("codex login (pid %d) outlived the server's Cleanup", pid)
	}
}
