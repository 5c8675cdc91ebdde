package oauth

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// dialTo returns a dial function for Cancel that connects to srv, standing
// in for a channel over SSH to the remote port, and counts its calls.
func dialTo(srv *httptest.Server, calls *atomic.Int32) func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		calls.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, "tcp", srv.Listener.Addr().String())
	}
}

func TestCancel(t *testing.T) {
	type seen struct {
		method, uri, host string
		close             bool
	}
	got := make(chan seen, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Method, r.RequestURI, r.Host, r.Close}
		w.Header().Set("Connection", "close")
		w.Write([]byte("Login cancelled"))
	}))
	defer srv.Close()

	var calls atomic.Int32
	if err := Cancel(t.Context(), 1457, dialTo(srv, &calls)); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("dial called %d times, want 1", n)
	}
	select {
	case s := <-got:
		want := seen{"GET", "/cancel", "127.0.0.1:1457", true}
		if s != want {
			t.Errorf("login server saw %+v, want %+v", s, want)
		}
	default:
		t.Fatal("the login server saw no request")
	}
	if len(got) != 0 {
		t.Errorf("more than one request")
	}
}

func TestCancelRefusals(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"not found", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, "answered 404 Not Found"},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
		}, "answered 302 Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				tt.handler(w, r)
			}))
			defer srv.Close()
			var calls atomic.Int32
			err := Cancel(t.Context(), 1455, dialTo(srv, &calls))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "oauth: cancel login server on port 1455: ") {
				t.Errorf("Cancel = %v, want an error with %q", err, tt.want)
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("server got %d requests, want 1", n)
			}
		})
	}
}

func TestCancelDialError(t *testing.T) {
	refused := errors.New("ssh: rejected: connect failed (Connection refused)")
	err := Cancel(t.Context(), 1455, func(context.Context) (net.Conn, error) { return nil, refused })
	if !errors.Is(err, refused) {
		t.Errorf("Cancel = %v, want it to wrap the dial error", err)
	}
}

func TestCancelBadPort(t *testing.T) {
	for _, port := range []int{0, -1, 65536} {
		err := Cancel(t.Context(), port, func(context.Context) (net.Conn, error) {
			t.Errorf("dialled for port %d", port)
			return nil, errors.New("no")
		})
		if err == nil {
			t.Errorf("Cancel with port %d succeeded", port)
		}
	}
}

func TestCancelContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a login server that never answers
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	var calls atomic.Int32
	err := Cancel(ctx, 1455, dialTo(srv, &calls))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Cancel = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Cancel returned %v after the context ended", d)
	}
}

func TestCancelIgnoresProxyEnvironment(t *testing.T) {
	// ProxyFromEnvironment reads the environment once per process and
	// never proxies 127.0.0.1, so an end-to-end check could not fail; check
	// the transport instead.
	tr := cancelTransport(nil)
	if tr.Proxy != nil {
		t.Error("the transport takes a proxy")
	}
}
