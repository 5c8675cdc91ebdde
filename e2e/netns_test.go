//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// inNetns runs fn on an OS thread that has joined the network namespace ns
// (as created by `ip netns add`). Sockets fn creates stay in that namespace
// after it returns, so the test process can serve in several namespaces at
// once without a helper process per server.
func inNetns(ns string, fn func() error) error {
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("join network namespace %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := setns(self); err != nil {
			// Leave the thread locked: the runtime ends it with this goroutine
			// rather than run other goroutines in the wrong namespace.
			errc <- errors.Join(ferr, fmt.Errorf("return from network namespace %s: %w", ns, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func setns(f *os.File) error { return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET) }

// listenIn opens a TCP listener in network namespace ns.
func listenIn(ns, addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNetns(ns, func() error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	return ln, err
}

// portFreeIn reports whether 127.0.0.1:port can be bound in ns right now,
// which is what a user's next run (or codex) needs.
func portFreeIn(ns string, port int) (bool, error) {
	ln, err := listenIn(ns, fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return false, nil
		}
		return false, err
	}
	return true, ln.Close()
}

// dialIn connects to addr from inside ns.
func dialIn(ctx context.Context, ns, addr string) (net.Conn, error) {
	var conn net.Conn
	err := inNetns(ns, func() error {
		// The socket is created here, in ns; connect completes later on
		// whichever thread the poller uses, which does not matter.
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var err error
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp4", addr)
		return err
	})
	return conn, err
}
