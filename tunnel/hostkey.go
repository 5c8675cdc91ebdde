package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// UnknownHostKeyError reports a host key that no known_hosts file knows and
// that was not accepted: there was no terminal to ask on, the answer was no,
// or StrictHostKeyChecking is yes.
type UnknownHostKeyError struct {
	Host        string // the name looked up in known_hosts, [host]:port when the port is not 22
	KeyType     string
	Fingerprint string // SHA256:…
	Strict      bool   // refused because StrictHostKeyChecking is yes
	Declined    bool   // refused at the prompt
}

func (e *UnknownHostKeyError) Error() string {
	why := "no terminal to confirm it on"
	switch {
	case e.Strict:
		why = "StrictHostKeyChecking is yes"
	case e.Declined:
		why = "not confirmed"
	}
	return fmt.Sprintf("tunnel: host key verification failed: %s is not a known host (%s key %s) and %s",
		e.Host, keyTypeName(e.KeyType), e.Fingerprint, why)
}

// ChangedHostKeyError reports a host that presented a key other than the one
// known_hosts holds for it. It is always refused: it may be someone in the
// middle.
type ChangedHostKeyError struct {
	Host        string
	KeyType     string
	Fingerprint string     // of the key the host presented
	Known       []KnownKey // the entries it contradicts
}

// KnownKey is one known_hosts entry.
type KnownKey struct {
	File        string
	Line        int
	Fingerprint string
}

func (e *ChangedHostKeyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tunnel: REMOTE HOST IDENTIFICATION HAS CHANGED for %s: it presented %s key %s", e.Host, keyTypeName(e.KeyType), e.Fingerprint)
	for _, k := range e.Known {
		fmt.Fprintf(&b, "; %s:%d holds %s", k.File, k.Line, k.Fingerprint)
	}
	b.WriteString("; someone could be eavesdropping on you (man-in-the-middle attack), or the host key has just been changed")
	return b.String()
}

// RevokedHostKeyError reports a host key marked @revoked in known_hosts.
type RevokedHostKeyError struct {
	Host string
	File string
	Line int
}

func (e *RevokedHostKeyError) Error() string {
	return fmt.Sprintf("tunnel: host key for %s is revoked (%s:%d)", e.Host, e.File, e.Line)
}

// hostKeys verifies one endpoint's host key as OpenSSH does: against the
// user's and the global known_hosts files, asking on the terminal about an
// unknown key when StrictHostKeyChecking is ask, recording it when accepted.
// There is no way to skip verification.
type hostKeys struct {
	name    string                // the known_hosts name of the endpoint
	ep      Endpoint              // whose key is checked
	db      *knownhosts.HostKeyDB // nil when no known_hosts file exists yet
	prompt  Prompter              // nil: no terminal
	notice  io.Writer             // OpenSSH's "Permanently added …" warning
	checked bool                  // the host key was accepted
}

// knownHostsName is the name OpenSSH looks an endpoint up under:
// HostKeyAlias if set, else the host, as [host]:port when the port is not 22.
func knownHostsName(ep Endpoint) string {
	if ep.HostKeyAlias != "" {
		return ep.HostKeyAlias
	}
	return knownhosts.Normalize(net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port)))
}

func newHostKeys(ep Endpoint, prompt Prompter, notice io.Writer) (*hostKeys, error) {
	var files []string
	for _, f := range append(append([]string(nil), ep.UserKnownHostsFiles...), ep.GlobalKnownHostsFiles...) {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("tunnel: known hosts: %w", err)
		}
	}
	h := &hostKeys{name: knownHostsName(ep), ep: ep, prompt: prompt, notice: notice}
	if ep.BatchMode {
		h.prompt = nil
	}
	if len(files) > 0 {
		db, err := knownhosts.NewDB(files...)
		if err != nil {
			return nil, fmt.Errorf("tunnel: read known hosts: %w", err)
		}
		h.db = db
	}
	return h, nil
}

// algorithms returns the host key algorithms to offer: those of the keys
// known_hosts already holds for the host, so that the server presents a key
// that can be checked rather than another of its keys. Nil means the
// defaults.
func (h *hostKeys) algorithms() []string {
	if h.db != nil {
		if known := h.db.HostKeyAlgorithms(h.lookupAddr()); len(known) > 0 {
			return known
		}
	}
	return defaultHostKeyAlgorithms
}

// defaultHostKeyAlgorithms is OpenSSH's order of preference for a host it
// knows no key of: a user who checks the fingerprint we show against what
// `ssh` showed, or against the server's ssh_host_ed25519_key.pub, must see
// the same key. (x/crypto/ssh would pick ECDSA first.)
var defaultHostKeyAlgorithms = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// lookupAddr is the address form the known_hosts libraries want: host:port,
// which they normalise to [host]:port or host.
func (h *hostKeys) lookupAddr() string {
	if h.ep.HostKeyAlias != "" {
		return net.JoinHostPort(h.ep.HostKeyAlias, "22")
	}
	return net.JoinHostPort(h.ep.Host, strconv.Itoa(h.ep.Port))
}

// callback returns the ssh.HostKeyCallback for the handshake. ctx bounds the
// prompt.
func (h *hostKeys) callback(ctx context.Context) ssh.HostKeyCallback {
	return func(_ string, remote net.Addr, key ssh.PublicKey) error {
		err := h.check(ctx, remote, key)
		if err == nil {
			h.checked = true
		}
		return err
	}
}

func (h *hostKeys) check(ctx context.Context, remote net.Addr, key ssh.PublicKey) error {
	if _, ok := remote.(*net.TCPAddr); !ok {
		// The known_hosts library wants a TCP address even though it looks
		// up the name; hops reached through a channel have none.
		remote = &net.TCPAddr{IP: net.IPv4zero}
	}
	if h.db != nil {
		err := h.db.HostKeyCallback()(h.lookupAddr(), remote, key)
		var revoked *xknownhosts.RevokedError
		var keyErr *xknownhosts.KeyError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &revoked):
			return &RevokedHostKeyError{Host: h.name, File: revoked.Revoked.Filename, Line: revoked.Revoked.Line}
		case errors.As(err, &keyErr) && len(keyErr.Want) > 0:
			changed := &ChangedHostKeyError{Host: h.name, KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key)}
			for _, w := range keyErr.Want {
				changed.Known = append(changed.Known, KnownKey{File: w.Filename, Line: w.Line, Fingerprint: ssh.FingerprintSHA256(w.Key)})
			}
			return changed
		case errors.As(err, &keyErr):
			// Unknown: decided below.
		default:
			return fmt.Errorf("tunnel: check host key of %s: %w", h.name, err)
		}
	}
	unknown := &UnknownHostKeyError{Host: h.name, KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key)}
	switch h.ep.StrictHostKeyChecking {
	case "yes":
		unknown.Strict = true
		return unknown
	case "accept-new", "no":
		// "no" records new keys as accept-new does; unlike OpenSSH it
		// never lets a changed key through.
	default:
		if h.prompt == nil {
			return unknown
		}
		ok, err := h.confirm(ctx, key)
		if err != nil {
			return err
		}
		if !ok {
			unknown.Declined = true
			return unknown
		}
	}
	return h.record(key)
}

// confirm asks as OpenSSH does.
func (h *hostKeys) confirm(ctx context.Context, key ssh.PublicKey) (bool, error) {
	fp := ssh.FingerprintSHA256(key)
	question := fmt.Sprintf("The authenticity of host '%s' can't be established.\n%s key fingerprint is %s.\nThis key is not known by any other names.\nAre you sure you want to continue connecting (yes/no/[fingerprint])? ",
		h.name, strings.ToUpper(keyTypeName(key.Type())), fp)
	for {
		answer, err := h.prompt.Prompt(ctx, question, true)
		if errors.Is(err, ErrNoAnswer) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		switch a := strings.TrimSpace(answer); {
		case strings.EqualFold(a, "yes"):
			return true, nil
		case strings.EqualFold(a, "no"):
			return false, nil
		case a == fp:
			return true, nil
		case strings.HasPrefix(a, "SHA256:"):
			question = "Fingerprint does not match; please type 'yes', 'no' or the fingerprint: "
		default:
			question = "Please type 'yes', 'no' or the fingerprint: "
		}
	}
}

// record appends the key to the first user known_hosts file, hashed when
// HashKnownHosts is set, as OpenSSH does.
func (h *hostKeys) record(key ssh.PublicKey) error {
	if len(h.ep.UserKnownHostsFiles) == 0 {
		return fmt.Errorf("tunnel: cannot record host key of %s: no UserKnownHostsFile", h.name)
	}
	file := h.ep.UserKnownHostsFiles[0]
	host := h.name
	if h.ep.HashKnownHosts {
		host = xknownhosts.HashHostname(host)
	}
	line := knownhosts.Line([]string{host}, key) + "\n"
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("tunnel: record host key: %w", err)
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("tunnel: record host key: %w", err)
	}
	defer f.Close()
	// A file whose last line lacks its newline would glue our entry to it.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := io.WriteString(f, line); err != nil {
		return fmt.Errorf("tunnel: record host key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tunnel: record host key: %w", err)
	}
	if h.notice != nil {
		fmt.Fprintf(h.notice, "Warning: Permanently added '%s' (%s) to the list of known hosts (%s).\n", h.name, strings.ToUpper(keyTypeName(key.Type())), file)
	}
	return nil
}

// keyTypeName turns an SSH key type into the short name OpenSSH prints.
func keyTypeName(t string) string {
	switch {
	case t == ssh.KeyAlgoED25519:
		return "ed25519"
	case t == ssh.KeyAlgoRSA:
		return "rsa"
	case strings.HasPrefix(t, "ecdsa-sha2-"):
		return "ecdsa"
	case strings.HasPrefix(t, "sk-ssh-ed25519"):
		return "ed25519-sk"
	case strings.HasPrefix(t, "sk-ecdsa"):
		return "ecdsa-sk"
	}
	return t
}
