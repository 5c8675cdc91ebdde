package sshtest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"testing"

	"golang.org/x/crypto/ssh"
)

func newEd25519() (ssh.Signer, ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return signer, priv, nil
}

// NewKey returns a fresh ed25519 key, as a signer (for a client or a host key) and as the
// private key (for [WriteKeyFile]).
func NewKey(t testing.TB) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	signer, priv, err := newEd25519()
	if err != nil {
		t.Fatalf("sshtest: new key: %v", err)
	}
	return signer, priv
}

// WriteKeyFile writes key (ed25519.PrivateKey, *rsa.PrivateKey or *ecdsa.PrivateKey) to path as
// an OpenSSH private key file, mode 0600, encrypted with a bcrypt-pbkdf derived key (as
// ssh-keygen does) when passphrase is not empty, and its public key to path+".pub", mode 0644,
// as ssh-keygen writes them.
func WriteKeyFile(t testing.TB, path string, key crypto.PrivateKey, passphrase string) {
	t.Helper()
	const comment = "sshtest"
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(key, comment)
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(key, comment, []byte(passphrase))
	}
	if err != nil {
		t.Fatalf("sshtest: marshal private key: %v", err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatalf("sshtest: public key: %v", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	pub := ssh.MarshalAuthorizedKey(signer.PublicKey())
	pub = append(pub[:len(pub)-1], " "+comment+"\n"...)
	if err := os.WriteFile(path+".pub", pub, 0o644); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
}
