// Package oauth checks the authorization URL a remote codex prints, opens it
// in the local browser and watches the callback pass through the tunnel.
//
// A login travels like this: the remote `codex login` prints an
// authorization URL whose redirect_uri names its login server,
// http://127.0.0.1:PORT/auth/callback on the remote host. The laptop checks
// the URL ([ParseAuthURL]), listens on its own 127.0.0.1:PORT, forwards each
// connection over SSH to the remote port, and opens the URL in the browser
// ([Browser]). After the user signs in, auth.openai.com sends the browser to
// the redirect_uri with the authorization code; the request goes through
// the forward to codex, which finishes the login.
//
// # The authorization URL
//
// The URL comes from the remote host, which the laptop does not have to
// trust. [ParseAuthURL] accepts only https://auth.openai.com/oauth/authorize
// with a PKCE (S256) code request, one state and a loopback redirect_uri
// with an explicit port, and returns that port in an [AuthRequest]. Anything
// else is a *[URLError] whose text is safe to print on a terminal, so a
// remote cannot make the laptop open another site, a file or a script, nor
// send the browser's callback anywhere but back through the tunnel.
//
// # Opening the browser
//
// [Opener] is what the login command needs; [Browser] implements it the way
// the desktop does: the $BROWSER commands (value passed in, never read from
// the environment here), run without a shell so that the URL is always one
// argument, or github.com/pkg/browser (xdg-open, open, ShellExecute) when
// $BROWSER is empty. A browser that is still running after a short grace
// period counts as opened and is left running.
//
// # Watching the callback
//
// [WatchRequests] is a tap for the bytes a browser sends through one
// forwarded connection. It reports each request's method and path — never
// the query or headers, which carry the authorization code — so the login
// command can tell the user the browser reached /auth/callback and
// /success. It never fails or slows the forward.
//
// # Freeing the port
//
// An older `codex login` still waiting on the remote port keeps the new one
// from binding it. [Cancel] sends it GET /cancel through the SSH forward, as
// codex itself does with a busy local port.
//
// # Credentials
//
// Nothing here prints, logs or puts on a command line the authorization
// code or any token: errors show refused URLs (what the remote printed,
// escaped), browser commands as written in $BROWSER (without the URL), and
// request paths without their query.
package oauth
