package oauth

import (
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	secretCode  = "ac_Zm9vYmFyX3NlY3JldF9jb2RlX3ZhbHVl"
	secretState = "H9X3-ypUwjd0urzjofzyl54kt0_CVbjBkACNd0HLvWE"
)

// callback is what a browser sends to codex's login server.
const callback = "GET /auth/callback?code=" + secretCode + "&scope=openid+profile&state=" + secretState + " HTTP/1.1\r\n" +
	"Host: 127.0.0.1:1455\r\n" +
	"Connection: keep-alive\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n" +
	"Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n" +
	"Referer: https://auth.openai.com/consent?state=" + secretState + "\r\n" +
	"Cookie: session=" + secretCode + "\r\n" +
	"\r\n"

const success = "GET /success?id_token=x&needs_setup=false HTTP/1.1\r\nHost: 127.0.0.1:1455\r\n\r\n"

// feeds writes stream to w in the ways a forward may deliver it.
var feeds = []struct {
	name  string
	split func(string) []string
}{
	{"one write", func(s string) []string { return []string{s} }},
	{"byte by byte", func(s string) []string {
		out := make([]string, len(s))
		for i := range s {
			out[i] = s[i : i+1]
		}
		return out
	}},
	{"random pieces", func(s string) []string {
		r := rand.New(rand.NewPCG(1, uint64(len(s))))
		var out []string
		for len(s) > 0 {
			n := min(1+r.IntN(40), len(s))
			out, s = append(out, s[:n]), s[n:]
		}
		return out
	}},
}

func watch(t *testing.T, writes []string) []string {
	t.Helper()
	var got []string
	w := WatchRequests(func(method, path string) { got = append(got, method+" "+path) })
	for _, p := range writes {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v; want %d, nil", len(p), n, err, len(p))
		}
	}
	return got
}

func TestWatchRequests(t *testing.T) {
	long := strings.Repeat("a", maxWatchedLine)
	// A body that reads like a request: it must be skipped, not reported.
	const bodyLikeRequest = "GET /not-a-request?code=x HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name   string
		stream string
		want   []string
	}{
		{"callback", callback, []string{"GET /auth/callback"}},
		{"keep-alive: callback then success", callback + success + "GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n",
			[]string{"GET /auth/callback", "GET /success", "GET /favicon.ico"}},
		{"request still arriving", callback + "GET /success?id_token=", []string{"GET /auth/callback"}},
		{"head still arriving", "GET /auth/callback?code=x HTTP/1.1\r\nHost: 127", []string{"GET /auth/callback"}},
		{"bare LF line ends", "GET /a?x=1 HTTP/1.1\nHost: x\n\nGET /b HTTP/1.0\n\n", []string{"GET /a", "GET /b"}},
		{"HTTP/1.0", "GET /auth/callback?code=x HTTP/1.0\r\n\r\n", []string{"GET /auth/callback"}},
		{"no query", "GET /cancel HTTP/1.1\r\n\r\n", []string{"GET /cancel"}},
		{"POST body skipped", "POST /auth/callback HTTP/1.1\r\nContent-Length: " + strconv.Itoa(len(bodyLikeRequest)) + "\r\n\r\n" +
			bodyLikeRequest + success,
			[]string{"POST /auth/callback", "GET /success"}},
		{"zero Content-Length", "POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n" + success, []string{"POST /a", "GET /success"}},
		{"repeated equal Content-Length", "POST /a HTTP/1.1\r\nContent-Length: 3\r\ncontent-length:3\r\n\r\nabc" + success, []string{"POST /a", "GET /success"}},
		{"empty lines between requests", "POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n\r\n" + success, []string{"POST /a", "GET /success"}},
		{"absolute form", "GET http://127.0.0.1:1455/auth/callback?code=x HTTP/1.1\r\n\r\nGET http://127.0.0.1:1455?x HTTP/1.1\r\n\r\n",
			[]string{"GET /auth/callback", "GET /"}},
		{"asterisk form", "OPTIONS * HTTP/1.1\r\n\r\n" + success, []string{"OPTIONS *", "GET /success"}},
		{"fragment dropped", "GET /a#frag HTTP/1.1\r\n\r\n", []string{"GET /a"}},
		{"longest line followed", "GET /" + long[:maxWatchedLine-len("GET / HTTP/1.1\r")] + " HTTP/1.1\r\n\r\n" + success,
			[]string{"GET /" + long[:maxWatchedLine-len("GET / HTTP/1.1\r")], "GET /success"}},

		// Lost track: report nothing more for the connection.
		{"chunked body stops", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + success, []string{"POST /a"}},
		{"upgrade stops", "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + success, []string{"GET /ws"}},
		{"CONNECT stops", "CONNECT auth.openai.com:443 HTTP/1.1\r\n\r\n" + success, nil},
		{"CONNECT with a path stops", "CONNECT /x HTTP/1.1\r\n\r\n" + success, []string{"CONNECT /x"}},
		{"conflicting Content-Length stops", "POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd" + success, []string{"POST /a"}},
		{"bad Content-Length stops", "POST /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n" + success, []string{"POST /a"}},
		{"signed Content-Length stops", "POST /a HTTP/1.1\r\nContent-Length: +1\r\n\r\nx" + success, []string{"POST /a"}},
		{"folded header stops", "GET /a HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n" + success, []string{"GET /a"}},
		{"header without colon stops", "GET /a HTTP/1.1\r\nnonsense\r\n\r\n" + success, []string{"GET /a"}},
		{"request line too long", "GET /" + long + " HTTP/1.1\r\n\r\n" + success, nil},
		{"header line too long", "GET /a HTTP/1.1\r\nX-Long: " + long + "\r\n\r\n" + success, []string{"GET /a"}},
		{"line never ends", "GET /a HTTP/1.1\r\nX: " + strings.Repeat(long, 20), []string{"GET /a"}},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + success, nil},
		{"TLS handshake", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + success, nil},
		{"garbage", "hello there\r\n" + success, nil},
		{"lower-case protocol", "GET /a http/1.1\r\n\r\n", nil},
		{"space in target", "GET /a b HTTP/1.1\r\n\r\n" + success, nil},
		{"control character in target", "GET /a\x1b[2J HTTP/1.1\r\n\r\n" + success, nil},
		{"non-ascii in target", "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n" + success, nil},
		{"relative target", "GET auth/callback HTTP/1.1\r\n\r\n" + success, nil},
		{"odd scheme", "GET file:///etc/passwd HTTP/1.1\r\n\r\n" + success, nil},
		{"bad method", "G(T /a HTTP/1.1\r\n\r\n" + success, nil},
	}
	for _, tt := range tests {
		for _, f := range feeds {
			t.Run(tt.name+"/"+f.name, func(t *testing.T) {
				if got := watch(t, f.split(tt.stream)); !slices.Equal(got, tt.want) {
					t.Errorf("reported %q, want %q", got, tt.want)
				}
			})
		}
	}
}

func TestWatchRequestsNeverReportsSecrets(t *testing.T) {
	const formBody = "code=" + secretCode + "&state=" + secretState
	streams := []string{
		callback,
		strings.Replace(callback, "GET /auth/callback", "GET http://127.0.0.1:1455/auth/callback", 1),
		strings.Replace(callback, "?code=", "?", 1) + "\n",
		"POST /auth/callback HTTP/1.1\r\nContent-Length: " + strconv.Itoa(len(formBody)) + "\r\n\r\n" + formBody + callback,
	}
	for _, s := range streams {
		for _, f := range feeds {
			got := watch(t, f.split(s))
			if n := strings.Count(s, "HTTP/1.1\r\n"); len(got) != n {
				t.Errorf("%s: reported %q, want %d requests", f.name, got, n)
			}
			for _, r := range got {
				if strings.Contains(r, secretCode) || strings.Contains(r, secretState) || strings.Contains(r, "?") {
					t.Errorf("%s: reported %q, which holds part of the query", f.name, r)
				}
			}
		}
	}
}

func TestWatchRequestsBoundedMemory(t *testing.T) {
	w := WatchRequests(func(method, path string) { t.Errorf("reported %s %s for a request line that never ends", method, path) })
	chunk := []byte(strings.Repeat("A", 4096))
	w.Write([]byte("GET /"))
	for range 1024 { // 4 MiB without a newline
		if n, err := w.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if c := cap(w.(*requestWatcher).line); c > 2*maxWatchedLine {
			t.Fatalf("holding a %d-byte buffer", c)
		}
	}
	if w.(*requestWatcher).state != watchStopped {
		t.Errorf("still watching after a line of several MiB")
	}
}

func TestWatchRequestsAsTap(t *testing.T) {
	var got []string
	tap := WatchRequests(func(method, path string) { got = append(got, method+" "+path) })
	var forwarded strings.Builder
	stream := callback + "\x00\x01garbage" + success
	if _, err := io.Copy(&forwarded, io.TeeReader(strings.NewReader(stream), tap)); err != nil {
		t.Fatal(err)
	}
	if forwarded.String() != stream {
		t.Errorf("the forward lost bytes")
	}
	if !slices.Equal(got, []string{"GET /auth/callback"}) {
		t.Errorf("reported %q", got)
	}
}

func FuzzWatchRequests(f *testing.F) {
	f.Add(callback+success, 7)
	f.Add("POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"+success, 3)
	f.Add("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 1)
	f.Add("GET http://h/p?q HTTP/1.1\n\n", 0)
	f.Fuzz(func(t *testing.T, stream string, cut int) {
		w := WatchRequests(func(method, path string) {
			if !isToken(method) || path == "" || strings.ContainsAny(path, "?# ") {
				t.Fatalf("reported %q %q", method, path)
			}
			for i := 0; i < len(path); i++ {
				if path[i] < 0x21 || path[i] > 0x7e {
					t.Fatalf("reported path %q with a byte outside printable ascii", path)
				}
			}
		})
		if cut < 0 || cut > len(stream) {
			cut = len(stream) / 2
		}
		for _, p := range []string{stream[:cut], stream[cut:]} {
			if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		if len(w.(*requestWatcher).line) > maxWatchedLine {
			t.Fatalf("holding %d bytes", len(w.(*requestWatcher).line))
		}
	})
}
