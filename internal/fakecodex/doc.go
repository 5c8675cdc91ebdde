// Package fakecodex is a fake `codex` CLI for tests: it prints what the real Codex CLI 0.169.0
// prints, byte for byte where a reader of its output could tell, and runs the same local login
// server, but it never talks to auth.openai.com: a callback with the right state and any code
// logs in.
//
// # Running it
//
// [Install] makes dir/codex a symbolic link to the running test binary and returns the
// environment entry that turns that binary into the fake; the test package's TestMain runs
// [Main] when it is set:
//
//	func TestMain(m *testing.M) {
//		if os.Getenv(fakecodex.EnvVar) == "1" {
//			os.Exit(fakecodex.Main(os.Args[1:]))
//		}
//		os.Exit(m.Run())
//	}
//
// Give the fake's process dir in PATH and the returned entry in its environment (with
// sshtest, in Config.Env). Main is the whole program: it installs signal handlers and, on
// SIGHUP, SIGTERM or SIGINT, ends the process by that signal. Never call it in the test
// process itself.
//
// # Commands
//
//   - codex --version (or -V): "codex-cli VERSION" on stdout.
//   - codex login: the browser login, below.
//   - codex login status: "Logged in using ChatGPT" (exit 0), "API key configured - sk-xxxx***xxxxx"
//     and "Authentication is checked when you send a request." (exit 0), or "Not logged in"
//     (exit 1), from $CODEX_HOME/auth.json.
//   - codex login --with-api-key: reads the key from stdin and saves it, as the real one does.
//   - codex login --api-key KEY: refused, as 0.169.0 refuses it (exit 1).
//   - codex logout: "Successfully logged out" or "Not logged in" (exit 0).
//   - -c/--config key=value, --enable X and --disable X are accepted and ignored. Unknown options
//     and subcommands get clap's error and exit 2; --device-auth and the interactive mode are
//     not faked (exit 2).
//
// Everything but --version writes to stderr only, as the real one does. CODEX_HOME (default
// $HOME/.codex) is honoured; when set it must exist, or the command fails like the real one.
//
// # The browser login
//
// `codex login` prints, on stderr, the prelude lines (FAKE_CODEX_PRELUDE), then
//
//	Starting local login server on http://localhost:PORT.
//	If your browser did not open, navigate to this URL to authenticate:
//
//	https://auth.openai.com/oauth/authorize?response_type=code&client_id=…&redirect_uri=http%3A%2F%2F127.0.0.1%3APORT%2Fauth%2Fcallback&code_challenge=…&code_challenge_method=S256&state=…&scope=openid+profile+email+offline_access+api.connectors.read+api.connectors.invoke&id_token_add_organizations=true&codex_cli_simplified_flow=true&originator=codex_cli_rs
//
//	On a remote or headless machine? Use `codex login --device-auth` instead.
//
// and serves, on FAKE_CODEX_LISTEN:PORT:
//
//   - GET /auth/callback?code=…&state=…: a wrong state gets 400 "State mismatch" and the login
//     goes on. With the right state: error=… ends the login with "Sign-in failed: …"
//     (error_description, else error); no code ends it with "Missing authorization code. Sign-in
//     could not be completed."; FAKE_CODEX_EXCHANGE_ERROR ends it with "Token exchange failed:
//     …"; otherwise $CODEX_HOME/auth.json is written (directory 0700, file 0600, atomically) with
//     fake JWTs and the answer is 302 to http://REDIRECT_HOST:PORT/success?id_token=….
//   - GET /success: the success page; once it has been written and the connection closed,
//     "Successfully logged in", exit 0. Like the real one, it does not check that a callback came
//     first.
//   - GET /cancel: "Login cancelled" (200), then "Error logging in: Login cancelled", exit 1.
//
// A login that ends in error answers that last request with an error page (status 200, as the
// real one does) and then prints "Error logging in: MESSAGE" and exits 1.
//
// If the port is busy, the fake does what codex does: GET /cancel to it (which ends an older
// login waiting there), retry ten times 200 ms apart, then try FAKE_CODEX_FALLBACK_PORT the same
// way, then fail with "Error logging in: Port HOST:PORT is already in use".
//
// SIGHUP, SIGTERM and SIGINT close the port and end the process by that signal, as they end
// the real one (a shell reports 129, 143, 130).
//
// If BROWSER is set, it is run with the URL as its argument ("%s" in it is replaced instead),
// as codex does; BROWSER=true opens nothing. Unlike codex, the fake never runs xdg-open.
//
// # Environment
//
//   - FAKE_CODEX_VERSION: the version, default 0.169.0.
//   - FAKE_CODEX_PRELUDE: lines printed first by every command but --version, e.g. the real
//     "WARNING: proceeding, even though we could not create PATH aliases: …".
//   - FAKE_CODEX_FAIL: print "Error logging in: VALUE" after the prelude and exit 1.
//   - FAKE_CODEX_PIDFILE: a file the fake writes its pid to when it starts.
//   - FAKE_CODEX_LISTEN: the address the login server binds, default 127.0.0.1.
//   - FAKE_CODEX_PORT, FAKE_CODEX_FALLBACK_PORT: default 1455 and 1457. Tests should pick free
//     ports and set both, as parallel tests (and a real codex) would collide on the defaults.
//   - FAKE_CODEX_RETRY_DELAY: the delay between bind attempts (a Go duration), default 200ms.
//   - FAKE_CODEX_REDIRECT_HOST: the host of redirect_uri and of the /success redirect, default
//     127.0.0.1 (codex up to about 0.128 used localhost).
//   - FAKE_CODEX_URL: printed instead of the authorization URL (hostile-remote tests); the server
//     still expects the real state.
//   - FAKE_CODEX_EXCHANGE_ERROR: a good callback fails as if the token exchange had failed with
//     this message.
//   - FAKE_CODEX_EMAIL, FAKE_CODEX_PLAN, FAKE_CODEX_ACCOUNT_ID: the claims of the fake id_token
//     (defaults user@example.com, plus, a random UUID). FAKE_CODEX_API_KEY: the OPENAI_API_KEY
//     saved with them (default null, as when codex's API-key exchange fails).
package fakecodex
