package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/codex-remote-login/codex-remote-login/internal/termsafe"
)

// Dialer connects to a [Route]. Its zero value works: no prompts (no
// terminal), no log, plain TCP.
type Dialer struct {
	// Prompt asks about unknown host keys, passphrases and passwords.
	// Nil means there is no terminal: unknown hosts are refused (unless
	// StrictHostKeyChecking says otherwise) and only keys that need no
	// passphrase are used.
	Prompt Prompter
	// Notice receives OpenSSH-style warnings meant for the user, such as a
	// host key being added to known_hosts. Nil discards them.
	Notice io.Writer
	// Log receives verbose diagnostics. Nil discards them. Nothing secret is
	// ever logged.
	Log *log.Logger
	// DialTCP opens the one TCP connection to the first hop. Nil means a
	// net.Dialer. Tests and benchmarks use it to add latency.
	DialTCP func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Conn is an SSH connection to a route's destination, possibly through jump
// hosts, made over exactly one TCP connection. Every session and every
// forwarded connection of a run is a channel on it.
type Conn struct {
	route   Route
	clients []*ssh.Client // one per hop; the last is the destination
	log     *log.Logger

	done      chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	err       error // why the connection ended, when it was not Close
	wg        sync.WaitGroup
}

// ConnectionLostError reports a connection that ended without Close: the
// server went away or stopped answering keepalives.
type ConnectionLostError struct {
	Endpoint Endpoint
	Err      error
}

func (e *ConnectionLostError) Error() string {
	return fmt.Sprintf("tunnel: connection to %s lost: %v", e.Endpoint, e.Err)
}

func (e *ConnectionLostError) Unwrap() error { return e.Err }

// ErrKeepaliveTimeout is the cause of a [ConnectionLostError] when the server
// stopped answering keepalives.
var ErrKeepaliveTimeout = errors.New("no answer to keepalives")

// DialError reports a hop that could not be reached.
type DialError struct {
	Endpoint Endpoint
	Via      *Endpoint // the hop it was dialled through, nil for the first
	Err      error
}

func (e *DialError) Error() string {
	if e.Via != nil {
		return fmt.Sprintf("tunnel: dial %s via %s: %v", e.Endpoint.Addr(), e.Via, e.Err)
	}
	return fmt.Sprintf("tunnel: dial %s: %v", e.Endpoint.Addr(), e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// Connect dials the first hop, then each following hop through the one
// before it (a direct-tcpip channel), with its own SSH handshake, host key
// check and credentials. Cancelling ctx aborts it at any step, including a
// prompt; after Connect returns, ctx no longer matters: end the connection
// with Close.
func (d *Dialer) Connect(ctx context.Context, r Route) (*Conn, error) {
	logger := d.Log
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	c := &Conn{route: r, log: logger, done: make(chan struct{})}
	hops := append(append([]Endpoint(nil), r.Jumps...), r.Dest)
	for i, ep := range hops {
		var via *Endpoint
		if i > 0 {
			via = &hops[i-1]
		}
		client, err := d.connectHop(ctx, ep, via, c.last(), logger)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.clients = append(c.clients, client)
	}
	for i, client := range c.clients {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			err := client.Wait()
			c.lost(hops[i], err)
		}()
		if ep := hops[i]; ep.ServerAliveInterval > 0 {
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				c.keepalive(client, ep)
			}()
		}
	}
	return c, nil
}

func (c *Conn) last() *ssh.Client {
	if len(c.clients) == 0 {
		return nil
	}
	return c.clients[len(c.clients)-1]
}

func (d *Dialer) connectHop(ctx context.Context, ep Endpoint, via *Endpoint, through *ssh.Client, logger *log.Logger) (*ssh.Client, error) {
	dialCtx := ctx
	if ep.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		dialCtx, cancel = context.WithTimeout(ctx, ep.ConnectTimeout)
		defer cancel()
	}
	var conn net.Conn
	var err error
	if through == nil {
		logger.Printf("connecting to %s (%s)", ep, ep.Addr())
		dial := d.DialTCP
		if dial == nil {
			dial = (&net.Dialer{}).DialContext
		}
		conn, err = dial(dialCtx, "tcp", ep.Addr())
	} else {
		logger.Printf("connecting to %s (%s) through %s", ep, ep.Addr(), via)
		conn, err = through.DialContext(dialCtx, "tcp", ep.Addr())
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &DialError{Endpoint: ep, Via: via, Err: err}
	}

	// ConnectTimeout goes on through the banner exchange and the handshake,
	// as in OpenSSH, but not through the time a person takes to answer a
	// prompt.
	prompt := d.Prompt
	var deadline *handshakeDeadline
	if ep.ConnectTimeout > 0 {
		deadline = newHandshakeDeadline(ep.ConnectTimeout, conn)
		defer deadline.stop()
		if prompt != nil {
			prompt = &pausingPrompter{Prompter: prompt, deadline: deadline}
		}
	}

	keys, err := newHostKeys(ep, prompt, d.Notice)
	if err != nil {
		conn.Close()
		return nil, err
	}
	creds, err := newCredentials(ctx, ep, prompt, logger)
	if err != nil {
		conn.Close()
		return nil, err
	}
	defer creds.close()
	config := &ssh.ClientConfig{
		User:              ep.User,
		Auth:              creds.methods,
		HostKeyCallback:   keys.callback(ctx),
		HostKeyAlgorithms: keys.algorithms(),
	}

	// ssh.NewClientConn takes no context: closing the connection is what
	// makes a cancelled handshake return.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sshConn, chans, reqs, err := ssh.NewClientConn(conn, ep.Addr(), config)
	if !stop() {
		if err == nil {
			sshConn.Close()
		}
		conn.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		conn.Close()
		if deadline.expired() {
			return nil, &DialError{Endpoint: ep, Via: via, Err: fmt.Errorf("connection timed out during the SSH handshake (ConnectTimeout %s)", ep.ConnectTimeout)}
		}
		var unknown *UnknownHostKeyError
		var changed *ChangedHostKeyError
		var revoked *RevokedHostKeyError
		switch {
		case errors.As(err, &unknown):
			return nil, unknown
		case errors.As(err, &changed):
			return nil, changed
		case errors.As(err, &revoked):
			return nil, revoked
		case keys.checked && strings.Contains(err.Error(), "unable to authenticate"):
			return nil, &AuthError{Endpoint: ep, Methods: creds.names, Err: err}
		}
		return nil, fmt.Errorf("tunnel: ssh handshake with %s: %w", ep, err)
	}
	logger.Printf("authenticated to %s (%s)", ep, termsafe.Line(string(sshConn.ServerVersion())))
	return ssh.NewClient(sshConn, chans, reqs), nil
}

// keepalive sends keepalive@openssh.com every ServerAliveInterval and ends
// the connection once ServerAliveCountMax of them went unanswered, as
// OpenSSH's ServerAlive options do. x/crypto/ssh sends one global request at
// a time, so at most one is in flight; the goroutine blocked in it returns
// when the connection is closed.
func (c *Conn) keepalive(client *ssh.Client, ep Endpoint) {
	ticker := time.NewTicker(ep.ServerAliveInterval)
	defer ticker.Stop()
	replies := make(chan struct{}, 1)
	inFlight, missed := false, 0
	for {
		select {
		case <-c.done:
			return
		case <-replies:
			inFlight, missed = false, 0
		case <-ticker.C:
			if inFlight {
				missed++
				if missed >= max(ep.ServerAliveCountMax, 1) {
					c.lost(ep, fmt.Errorf("%w: %d unanswered in %s", ErrKeepaliveTimeout, missed, time.Duration(missed+1)*ep.ServerAliveInterval))
					return
				}
				continue
			}
			inFlight = true
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				if _, _, err := client.SendRequest("keepalive@openssh.com", true, nil); err == nil {
					select {
					case replies <- struct{}{}:
					default:
					}
				}
			}()
		}
	}
}

// lost records why the connection ended and tears it down. After Close it
// records nothing.
func (c *Conn) lost(ep Endpoint, err error) {
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return
	default:
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = errors.New("closed by the server")
	}
	c.err = &ConnectionLostError{Endpoint: ep, Err: err}
	c.mu.Unlock()
	c.log.Printf("connection to %s lost: %v", ep, err)
	c.shutdown()
}

func (c *Conn) shutdown() {
	c.closeOnce.Do(func() {
		close(c.done)
		// Innermost first: the destination's connection runs inside the
		// hops' channels.
		for i := len(c.clients) - 1; i >= 0; i-- {
			c.clients[i].Close()
		}
	})
}

// Route returns the route the connection follows.
func (c *Conn) Route() Route { return c.route }

// NewSession opens a session channel on the destination. x/crypto/ssh's
// NewSession takes no context and waits for the server's answer, which a
// server may never give; here ctx bounds the wait, and a session that
// arrives after ctx ended is closed.
func (c *Conn) NewSession(ctx context.Context) (*ssh.Session, error) {
	type opened struct {
		s   *ssh.Session
		err error
	}
	result := make(chan opened)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		s, err := c.last().NewSession()
		select {
		case result <- opened{s, err}:
		case <-ctx.Done():
			if s != nil {
				s.Close()
			}
		}
	}()
	var r opened
	select {
	case r = <-result:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s, err := r.s, r.err
	if err != nil {
		if lost := c.Err(); lost != nil {
			return nil, lost
		}
		return nil, fmt.Errorf("tunnel: open session on %s: %w", c.route.Dest, err)
	}
	return s, nil
}

// DialContext opens a connection from the destination host to addr (a
// direct-tcpip channel), as `ssh -L` does for each forwarded connection.
func (c *Conn) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := c.last().DialContext(ctx, network, addr)
	if err != nil {
		if lost := c.Err(); lost != nil {
			return nil, lost
		}
		return nil, fmt.Errorf("tunnel: connect to %s on %s: %w", addr, c.route.Dest, err)
	}
	return conn, nil
}

// Done is closed when the connection has ended, by Close or by loss.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns a [*ConnectionLostError] once the connection was lost, and nil
// while it is up or after a plain Close.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection and every channel on it, and waits for its
// goroutines.
func (c *Conn) Close() error {
	c.shutdown()
	c.wg.Wait()
	return nil
}

// handshakeDeadline closes a connection whose SSH handshake takes longer
// than ConnectTimeout. It is paused while a prompt waits for a person.
type handshakeDeadline struct {
	timeout time.Duration
	mu      sync.Mutex
	timer   *time.Timer
	fired   bool
}

func newHandshakeDeadline(timeout time.Duration, conn net.Conn) *handshakeDeadline {
	d := &handshakeDeadline{timeout: timeout}
	d.timer = time.AfterFunc(timeout, func() {
		d.mu.Lock()
		d.fired = true
		d.mu.Unlock()
		conn.Close()
	})
	return d
}

func (d *handshakeDeadline) pause() { d.timer.Stop() }

func (d *handshakeDeadline) resume() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.fired {
		d.timer.Reset(d.timeout)
	}
}

func (d *handshakeDeadline) stop() { d.timer.Stop() }

// expired reports whether the deadline closed the connection; false for a
// nil deadline.
func (d *handshakeDeadline) expired() bool {
	if d == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fired
}

// pausingPrompter holds the handshake deadline while it asks.
type pausingPrompter struct {
	Prompter
	deadline *handshakeDeadline
}

func (p *pausingPrompter) Prompt(ctx context.Context, prompt string, echo bool) (string, error) {
	p.deadline.pause()
	defer p.deadline.resume()
	return p.Prompter.Prompt(ctx, prompt, echo)
}
