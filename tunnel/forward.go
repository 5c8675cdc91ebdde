package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
	"syscall"
)

// PortInUseError reports a local port that could not be bound.
type PortInUseError struct {
	Addr string // e.g. 127.0.0.1:1455
	Err  error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("tunnel: cannot listen on %s: %v", e.Addr, e.Err)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// ListenLoopback listens on the local loopback port: on 127.0.0.1 always,
// and also on [::1] when withIPv6 is set — a browser may resolve "localhost"
// to either. Nothing listens beyond loopback. When ::1 does not exist on this
// machine (IPv6 disabled) it is skipped; any other failure closes what was
// opened and returns a [*PortInUseError].
func ListenLoopback(ctx context.Context, port int, withIPv6 bool) ([]net.Listener, error) {
	var lc net.ListenConfig
	addrs := []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	if withIPv6 {
		addrs = append(addrs, net.JoinHostPort("::1", strconv.Itoa(port)))
	}
	var ls []net.Listener
	for i, addr := range addrs {
		l, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			if i > 0 && (errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT)) {
				continue
			}
			for _, l := range ls {
				l.Close()
			}
			return nil, &PortInUseError{Addr: addr, Err: err}
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// Forward carries each connection accepted on its listeners to a connection
// made by Dial, both ways, with half-close — what `ssh -L` does.
type Forward struct {
	// Dial opens the far end, e.g. a channel to the remote 127.0.0.1:PORT.
	Dial func(ctx context.Context) (net.Conn, error)
	// Tap, when set, is called once per accepted connection; the writer it
	// returns sees a copy of every byte the local side sends. It must not
	// block or fail.
	Tap func() io.Writer
	// Log receives one line per connection. Nil discards.
	Log *log.Logger

	ctx    context.Context
	cancel context.CancelFunc
	ls     []net.Listener
	accept sync.WaitGroup
	conns  sync.WaitGroup
	mu     sync.Mutex
	open   map[net.Conn]struct{}
}

// Start begins accepting on ls; the Forward owns them from now on. ctx
// bounds the dials of new connections.
func (f *Forward) Start(ctx context.Context, ls []net.Listener) {
	if f.Log == nil {
		f.Log = log.New(io.Discard, "", 0)
	}
	f.ctx, f.cancel = context.WithCancel(ctx)
	f.ls = ls
	f.open = make(map[net.Conn]struct{})
	for _, l := range ls {
		f.accept.Add(1)
		go func() {
			defer f.accept.Done()
			f.serve(l)
		}()
	}
}

func (f *Forward) serve(l net.Listener) {
	for {
		local, err := l.Accept()
		if err != nil {
			return
		}
		f.conns.Add(1)
		go func() {
			defer f.conns.Done()
			f.join(local)
		}()
	}
}

func (f *Forward) track(c net.Conn, add bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if add {
		f.open[c] = struct{}{}
	} else {
		delete(f.open, c)
	}
}

func (f *Forward) join(local net.Conn) {
	f.track(local, true)
	defer f.track(local, false)
	defer local.Close()
	remote, err := f.Dial(f.ctx)
	if err != nil {
		f.Log.Printf("forward: connection from %s: %v", local.RemoteAddr(), err)
		return
	}
	f.track(remote, true)
	defer f.track(remote, false)
	defer remote.Close()
	f.Log.Printf("forward: connection from %s carried to the remote end", local.RemoteAddr())

	var in io.Reader = local
	if f.Tap != nil {
		in = io.TeeReader(local, f.Tap())
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		pipe(remote, in, local, remote)
	}()
	go func() {
		defer wg.Done()
		pipe(local, remote, remote, local)
	}()
	wg.Wait()
}

// pipe copies src to dst, then half-closes dst so the far side sees the end
// of this direction while the other goes on. A failed copy closes both ends:
// nothing more can arrive the other way either.
func pipe(dst io.Writer, src io.Reader, srcConn, dstConn net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		srcConn.Close()
		dstConn.Close()
		return
	}
	if cw, ok := dstConn.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	dstConn.Close()
}

// Drain stops accepting at once, lets the connections under way finish
// until ctx ends — so that codex's last answer reaches the browser — then
// cuts the rest. It does not wait for the goroutines of cut connections: on a
// dead link they end only once the SSH connection is closed. Call [Forward.Wait]
// after closing it.
func (f *Forward) Drain(ctx context.Context) {
	for _, l := range f.ls {
		l.Close()
	}
	f.accept.Wait()
	done := make(chan struct{})
	go func() {
		f.conns.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		f.mu.Lock()
		for c := range f.open {
			c.Close()
		}
		f.mu.Unlock()
	}
	f.cancel()
}

// Wait waits for every goroutine of the Forward, after [Forward.Drain].
func (f *Forward) Wait() {
	f.accept.Wait()
	f.conns.Wait()
}

// Close is Drain then Wait, for a Forward whose far end stays reachable.
func (f *Forward) Close(ctx context.Context) {
	f.Drain(ctx)
	f.Wait()
}
