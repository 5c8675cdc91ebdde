// Package oauth checks the authorization URL a remote codex prints, opens it
// in the local browser and watches the callback pass through the tunnel.
package oauth
