package tunnel

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/codex-remote-login/codex-remote-login/internal/termsafe"
)

// AuthError reports that a host accepted none of the credentials offered.
// It comes after the host key was verified.
type AuthError struct {
	Endpoint Endpoint
	Methods  []string // what was offered, e.g. publickey, password
	Err      error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("tunnel: %s: permission denied (%s): %v", e.Endpoint, strings.Join(e.Methods, ","), e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// credentials gathers the ways to authenticate to one endpoint, in the order
// OpenSSH tries them: public keys (agent and identity files), then
// keyboard-interactive, then password. Nothing typed is stored.
type credentials struct {
	methods []ssh.AuthMethod
	names   []string
	agent   net.Conn // closed by close, after the handshake
}

func (c *credentials) close() {
	if c.agent != nil {
		c.agent.Close()
	}
}

func newCredentials(ctx context.Context, ep Endpoint, prompt Prompter, logger *log.Logger) (*credentials, error) {
	if ep.BatchMode {
		prompt = nil
	}
	c := &credentials{}
	if ep.PubkeyAuthentication {
		signers, agentConn := publicKeys(ctx, ep, prompt, logger)
		c.agent = agentConn
		if len(signers) > 0 {
			c.methods = append(c.methods, ssh.PublicKeys(signers...))
			c.names = append(c.names, "publickey")
		}
	}
	if prompt != nil && ep.KbdInteractiveAuthentication {
		c.methods = append(c.methods, ssh.RetryableAuthMethod(ssh.KeyboardInteractive(
			func(name, instruction string, questions []string, echos []bool) ([]string, error) {
				// All of it is the server's text, for our terminal.
				header := ""
				for _, s := range []string{name, instruction} {
					if s = strings.TrimSpace(termsafe.Text(s)); s != "" {
						header += s + "\n"
					}
				}
				answers := make([]string, len(questions))
				for i, q := range questions {
					a, err := prompt.Prompt(ctx, header+termsafe.Line(q), echos[i])
					if err != nil {
						return nil, err
					}
					header = ""
					answers[i] = a
				}
				return answers, nil
			}), 3))
		c.names = append(c.names, "keyboard-interactive")
	}
	if prompt != nil && ep.PasswordAuthentication {
		c.methods = append(c.methods, ssh.RetryableAuthMethod(ssh.PasswordCallback(func() (string, error) {
			return prompt.Prompt(ctx, fmt.Sprintf("%s@%s's password: ", ep.User, ep.Host), false)
		}), 3))
		c.names = append(c.names, "password")
	}
	return c, nil
}

// publicKeys lists the signers to offer, ordered as OpenSSH's
// pubkey_prepare (sshconnect2.c) does: first the agent's keys in the agent's
// order — a key that is also a configured identity is used through the agent,
// so an encrypted key whose twin sits in the agent never asks for its
// passphrase, and with IdentitiesOnly the agent keys that match no configured
// identity are left out — then the configured identities the agent does not
// hold. The agent connection it returns must stay open until the handshake
// is over.
func publicKeys(ctx context.Context, ep Endpoint, prompt Prompter, logger *log.Logger) ([]ssh.Signer, net.Conn) {
	var files []*identity
	for _, path := range ep.IdentityFiles {
		id, err := loadIdentity(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if !ep.IdentityFilesDefault {
				logger.Printf("identity file %s not accessible: no such file", path)
			}
			continue
		case err != nil:
			logger.Printf("identity file %s: %v", path, err)
			continue
		}
		files = append(files, id)
	}

	var signers []ssh.Signer
	var conn net.Conn
	if ep.IdentityAgent != "" {
		var err error
		conn, err = (&net.Dialer{}).DialContext(ctx, "unix", ep.IdentityAgent)
		if err != nil {
			logger.Printf("agent %s: %v", ep.IdentityAgent, err)
		} else {
			agentSigners, err := agent.NewClient(conn).Signers()
			if err != nil {
				logger.Printf("agent %s: list keys: %v", ep.IdentityAgent, err)
			}
			for _, s := range agentSigners {
				matched := false
				for i, id := range files {
					if id.pub != nil && bytes.Equal(id.pub.Marshal(), s.PublicKey().Marshal()) {
						files = append(files[:i], files[i+1:]...)
						matched = true
						logger.Printf("offering %s through the agent", id.path)
						break
					}
				}
				if matched || !ep.IdentitiesOnly {
					signers = append(signers, s)
				}
			}
		}
	}
	for _, id := range files {
		switch {
		case id.signer != nil:
			logger.Printf("offering %s", id.path)
			signers = append(signers, id.signer)
		case id.encrypted != nil && id.pub == nil && prompt != nil:
			// An old PEM key without its .pub: its public half is not
			// known until it is decrypted, so ask now, as OpenSSH does.
			signer, err := (&passphraseSigner{ctx: ctx, id: id, prompt: prompt}).unlock()
			if err != nil {
				logger.Printf("skipping %s: %v", id.path, err)
				continue
			}
			logger.Printf("offering %s", id.path)
			signers = append(signers, signer)
		case id.encrypted != nil && id.pub == nil:
			logger.Printf("skipping %s: it is encrypted, its public key is unknown (no .pub file), and there is no terminal to ask for its passphrase on", id.path)
		case id.encrypted != nil && prompt != nil:
			logger.Printf("offering %s (asks for its passphrase if the server accepts it)", id.path)
			signers = append(signers, &passphraseSigner{ctx: ctx, id: id, prompt: prompt})
		case id.encrypted != nil:
			logger.Printf("skipping %s: it is encrypted, it is not in the agent, and there is no terminal to ask for its passphrase on", id.path)
		default:
			logger.Printf("skipping %s: only its public key is here, and the agent does not hold it", id.path)
		}
	}
	return signers, conn
}

// identity is one IdentityFile: a usable signer, an encrypted key with its
// public half, or only a public key (whose private half may be in the agent).
type identity struct {
	path      string
	pub       ssh.PublicKey
	signer    ssh.Signer
	encrypted []byte
}

func loadIdentity(path string) (*identity, error) {
	id := &identity{path: path}
	pem, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		// IdentityFile may name a key that lives only in the agent, with
		// just its .pub file on disk.
		pub, perr := readPublicKey(path + ".pub")
		if perr != nil {
			return nil, err
		}
		id.pub = pub
		return id, nil
	}
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		id.signer, id.pub = signer, signer.PublicKey()
	case errors.As(err, &missing):
		id.encrypted, id.pub = pem, missing.PublicKey
		if id.pub == nil {
			// Old PEM-format keys do not carry their public half.
			id.pub, _ = readPublicKey(path + ".pub")
		}
	default:
		// Never echo the parser's view of a key file's contents.
		return nil, errors.New("not a private key this tool can read")
	}
	return id, nil
}

func readPublicKey(path string) (ssh.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	return pub, err
}

// passphraseSigner is an encrypted identity that asks for its passphrase only
// when a server has accepted its public key, as OpenSSH does.
type passphraseSigner struct {
	ctx    context.Context
	id     *identity
	prompt Prompter

	mu     sync.Mutex
	signer ssh.AlgorithmSigner
}

var _ ssh.AlgorithmSigner = (*passphraseSigner)(nil)

func (s *passphraseSigner) PublicKey() ssh.PublicKey { return s.id.pub }

func (s *passphraseSigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	signer, err := s.unlock()
	if err != nil {
		return nil, err
	}
	return signer.Sign(rand, data)
}

func (s *passphraseSigner) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	signer, err := s.unlock()
	if err != nil {
		return nil, err
	}
	return signer.SignWithAlgorithm(rand, data, algorithm)
}

func (s *passphraseSigner) unlock() (ssh.AlgorithmSigner, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.signer != nil {
		return s.signer, nil
	}
	question := fmt.Sprintf("Enter passphrase for key '%s': ", s.id.path)
	for range 3 {
		pass, err := s.prompt.Prompt(s.ctx, question, false)
		if err != nil {
			return nil, fmt.Errorf("tunnel: passphrase for %s: %w", s.id.path, err)
		}
		if pass == "" {
			return nil, fmt.Errorf("tunnel: no passphrase given for %s", s.id.path)
		}
		signer, err := ssh.ParsePrivateKeyWithPassphrase(s.id.encrypted, []byte(pass))
		if errors.Is(err, x509.IncorrectPasswordError) {
			question = fmt.Sprintf("Bad passphrase, try again for %s: ", s.id.path)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("tunnel: unlock %s: cannot decrypt it", s.id.path)
		}
		as, ok := signer.(ssh.AlgorithmSigner)
		if !ok {
			return nil, fmt.Errorf("tunnel: unlock %s: unsupported key type %s", s.id.path, signer.PublicKey().Type())
		}
		s.signer = as
		return as, nil
	}
	return nil, fmt.Errorf("tunnel: too many wrong passphrases for %s", s.id.path)
}
