package oauth

import (
	"bytes"
	"io"
	"strconv"
	"strings"
)

// maxWatchedLine bounds one request or header line WatchRequests will hold;
// a longer one ends watching for that connection.
const maxWatchedLine = 8 << 10

// WatchRequests returns a writer to be fed, as a tap, the bytes a browser
// sends through one forwarded connection; for each HTTP/1.x request head it
// sees it calls report with the method and the path only — never the query
// string or headers, which carry the authorization code and state.
//
// report is called from Write, as soon as a request line is complete, so it
// must return quickly. The writer must not be used concurrently (one per
// connection, written in order).
//
// # Never in the way
//
// The writer never fails or blocks the forward: Write always returns
// len(p), nil. It follows requests split across writes, several requests
// on one keep-alive connection, and request bodies with a Content-Length,
// which it skips. On anything it cannot follow — a chunked body, an upgrade,
// a line longer than 8 KiB, anything that is not HTTP/1.x — it stops
// reporting for the rest of the connection and discards what it gets, so
// it holds at most one line of 8 KiB whatever arrives.
func WatchRequests(report func(method, path string)) io.Writer {
	return &requestWatcher{report: report}
}

type watchState int

const (
	watchRequestLine watchState = iota // expecting a request line (or empty lines before it)
	watchHeaders                       // inside a request head
	watchBody                          // skipping bodyLeft bytes of body
	watchStopped                       // lost track: discard everything
)

type requestWatcher struct {
	report func(method, path string)
	state  watchState
	line   []byte // the incomplete current line, at most maxWatchedLine bytes

	// For the request whose head is being read.
	contentLength int64 // -1: no Content-Length header
	bodyLeft      int64
}

func (w *requestWatcher) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && w.state != watchStopped {
		if w.state == watchBody {
			k := int64(len(p))
			if k > w.bodyLeft {
				k = w.bodyLeft
			}
			p = p[k:]
			w.bodyLeft -= k
			if w.bodyLeft == 0 {
				w.state = watchRequestLine
			}
			continue
		}
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if len(w.line)+len(chunk) > maxWatchedLine {
			w.stop()
			break
		}
		w.line = append(w.line, chunk...)
		if i < 0 {
			break
		}
		p = p[i+1:]
		// RFC 9112 §2.2: a recipient may take a bare LF as a line end.
		line := string(bytes.TrimSuffix(w.line, []byte("\r")))
		w.line = w.line[:0]
		if w.state == watchRequestLine {
			w.requestLine(line)
		} else {
			w.headerLine(line)
		}
	}
	return n, nil
}

func (w *requestWatcher) stop() {
	w.state = watchStopped
	w.line = nil
}

func (w *requestWatcher) requestLine(line string) {
	if line == "" {
		// RFC 9112 §2.2: ignore empty lines before a request line (some
		// clients send a CRLF after a POST body).
		return
	}
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !isToken(method) || !isHTTP1(proto) {
		w.stop()
		return
	}
	path, ok := targetPath(target)
	if !ok {
		w.stop()
		return
	}
	w.report(method, path)
	if method == "CONNECT" {
		// What follows is a tunnel, not HTTP.
		w.stop()
		return
	}
	w.state = watchHeaders
	w.contentLength = -1
}

func (w *requestWatcher) headerLine(line string) {
	if line == "" {
		// End of the head.
		if w.contentLength > 0 {
			w.state, w.bodyLeft = watchBody, w.contentLength
		} else {
			w.state = watchRequestLine
		}
		return
	}
	name, value, ok := strings.Cut(line, ":")
	if !ok || !isToken(name) {
		// Includes obsolete line folding (a line starting with a space).
		w.stop()
		return
	}
	value = strings.Trim(value, " \t")
	switch {
	case strings.EqualFold(name, "Content-Length"):
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 0 || value[0] == '+' || (w.contentLength >= 0 && n != w.contentLength) {
			w.stop()
			return
		}
		w.contentLength = n
	case strings.EqualFold(name, "Transfer-Encoding"), strings.EqualFold(name, "Upgrade"):
		// A chunked body, or a connection that may stop being HTTP/1:
		// not worth following for a login callback.
		w.stop()
	}
}

// targetPath returns the path of a request target: origin form
// ("/p?q"), absolute form ("http://host/p?q") or "*". The query (and a
// fragment, which browsers do not send) is dropped. Only printable ASCII
// passes, so a path is always safe to print.
func targetPath(target string) (string, bool) {
	for i := 0; i < len(target); i++ {
		if target[i] <= ' ' || target[i] >= 0x7f {
			return "", false
		}
	}
	if target == "*" {
		return target, true
	}
	if !strings.HasPrefix(target, "/") {
		scheme, rest, ok := strings.Cut(target, "://")
		if !ok || (!strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https")) {
			return "", false
		}
		slash := strings.IndexAny(rest, "/?#")
		if slash < 0 || rest[slash] != '/' {
			return "/", true
		}
		target = rest[slash:]
	}
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	return target, true
}

// isHTTP1 reports whether proto is HTTP/1.0, HTTP/1.1 or another HTTP/1.x.
func isHTTP1(proto string) bool {
	return len(proto) == len("HTTP/1.1") && strings.HasPrefix(proto, "HTTP/1.") && proto[7] >= '0' && proto[7] <= '9'
}

// isToken reports whether s is an RFC 9110 token (a method or header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
