package oauth

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
)

// maxCancelBody bounds how much of the answer to /cancel is read ("Login
// cancelled" in codex 0.169.0).
const maxCancelBody = 64 << 10

// Cancel asks a codex login server to stop waiting, as codex itself does
// when it finds its port busy: GET /cancel on the remote callback port,
// reached through dial (which opens a connection over SSH to the remote
// 127.0.0.1:PORT). It returns when codex has answered or ctx ends.
//
// An answer other than 200 OK is an error: whatever listens on the port is
// then probably not a codex login server, and it is still there.
func Cancel(ctx context.Context, port int, dial func(ctx context.Context) (net.Conn, error)) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("oauth: cancel login server: invalid port %d", port)
	}
	transport := cancelTransport(dial)
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport: transport,
		// Codex answers /cancel directly; a redirect would lead away
		// from the tunnel's one destination.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	target := "http://127.0.0.1:" + strconv.Itoa(port) + "/cancel"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("oauth: cancel login server on port %d: %w", port, err)
	}
	req.Close = true // Connection: close — one request, then the SSH channel ends
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("oauth: cancel login server on port %d: %w", port, err)
	}
	// Read the answer before closing, so that codex has finished writing
	// it when Cancel returns.
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxCancelBody))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Not resp.Status: its text comes from the remote and is not
		// printed.
		return fmt.Errorf("oauth: cancel login server on port %d: answered %d %s", port, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if err != nil {
		return fmt.Errorf("oauth: cancel login server on port %d: read answer: %w", port, err)
	}
	return nil
}

// cancelTransport returns a transport whose every connection comes from
// dial, whatever address it is asked for.
func cancelTransport(dial func(ctx context.Context) (net.Conn, error)) *http.Transport {
	return &http.Transport{
		// Proxy stays nil: HTTP_PROXY from the environment must not
		// redirect a request meant for the remote loopback.
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx)
		},
		DisableKeepAlives: true,
	}
}
