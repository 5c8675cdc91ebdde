package fakecodex

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"
)

// authDotJSON is $CODEX_HOME/auth.json, with its fields in codex's order.
type authDotJSON struct {
	AuthMode     string     `json:"auth_mode"`
	OpenAIAPIKey *string    `json:"OPENAI_API_KEY"`
	Tokens       *tokenData `json:"tokens,omitempty"`
	LastRefresh  *string    `json:"last_refresh,omitempty"`
}

type tokenData struct {
	IDToken      string `json:"id_token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	AccountID    string `json:"account_id,omitempty"`
}

// writeAuth writes auth.json as codex does: directory 0700, file 0600, pretty-printed, replaced
// atomically (a reader never sees half a file), with the lock files codex leaves beside it.
func writeAuth(home string, auth *authDotJSON) error {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(auth, "", "  ")
	if err != nil {
		return err
	}
	for name, mode := range map[string]os.FileMode{"auth.json.lock": 0o600, "auth.lock": 0o644} {
		f, err := os.OpenFile(filepath.Join(home, name), os.O_CREATE|os.O_WRONLY, mode)
		if err != nil {
			return err
		}
		f.Close()
	}
	tmp, err := os.CreateTemp(home, ".auth.json.tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(home, "auth.json"))
}

func readAuth(home string) (*authDotJSON, error) {
	b, err := os.ReadFile(filepath.Join(home, "auth.json"))
	if err != nil {
		return nil, err
	}
	var auth authDotJSON
	if err := json.Unmarshal(b, &auth); err != nil {
		return nil, fmt.Errorf("failed to deserialize CLI auth from file: %w", err)
	}
	return &auth, nil
}

// maskKey shows an API key as codex login status does: "sk-test-***bcdef", or "***" when short.
func maskKey(key string) string {
	if len(key) <= 13 {
		return "***"
	}
	return key[:8] + "***" + key[len(key)-5:]
}

func (p *program) status(home string) int {
	auth, err := readAuth(home)
	switch {
	case errors.Is(err, os.ErrNotExist):
		p.errorf("Not logged in")
		return 1
	case err != nil:
		p.errorf("Error checking login status: %v", err)
		return 1
	case auth.AuthMode == "chatgpt" && auth.Tokens != nil:
		p.errorf("Logged in using ChatGPT")
		return 0
	case auth.OpenAIAPIKey != nil && *auth.OpenAIAPIKey != "":
		p.errorf("API key configured - %s", maskKey(*auth.OpenAIAPIKey))
		p.errorf("Authentication is checked when you send a request.")
		return 0
	default:
		p.errorf("Not logged in")
		return 1
	}
}

func (p *program) loginWithAPIKey(home string) int {
	if f, ok := p.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.errorf("--with-api-key expects the API key on stdin. Try piping it, e.g. `printenv OPENAI_API_KEY | codex login --with-api-key`.")
		return 1
	}
	p.errorf("Reading API key from stdin...")
	b, err := io.ReadAll(p.stdin)
	key := strings.TrimSpace(string(b))
	if err != nil || key == "" {
		p.errorf("No API key provided via stdin.")
		return 1
	}
	if err := writeAuth(home, &authDotJSON{AuthMode: "apikey", OpenAIAPIKey: &key}); err != nil {
		p.errorf("Error saving API key: %v", err)
		return 1
	}
	p.errorf("API key saved. Authentication is checked when you send a request.")
	return 0
}

// The OAuth client codex uses.
const clientID = "app_EMoamEEZ73f0CkXaXp7hrann"

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomB64(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return b64(b)
}

func randomUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// fakeJWT is a JWT with the header {"alg":"none"}: codex does not check the signature, which
// here is random bytes, so that every token is a distinct secret.
func fakeJWT(claims map[string]any) string {
	payload, _ := json.Marshal(claims)
	return b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(payload) + "." + randomB64(32)
}

// identity is who the fake login logs in as.
type identity struct {
	email, plan, accountID, userID, orgID string
	apiKey                                *string
}

func (p *program) identity() identity {
	id := identity{
		email:     p.env("FAKE_CODEX_EMAIL", "user@example.com"),
		plan:      p.env("FAKE_CODEX_PLAN", "plus"),
		accountID: p.env("FAKE_CODEX_ACCOUNT_ID", randomUUID()),
		userID:    "user-" + randomB64(18),
		orgID:     "org-" + randomB64(18),
	}
	if k := p.getenv("FAKE_CODEX_API_KEY"); k != "" {
		id.apiKey = &k
	}
	return id
}

// tokens returns what the token endpoint would: an id_token and an access_token carrying the
// claims codex reads, and an opaque refresh token.
func (id identity) tokens(now time.Time) tokenData {
	auth := map[string]any{
		"chatgpt_account_id":            id.accountID,
		"chatgpt_plan_type":             id.plan,
		"chatgpt_user_id":               id.userID,
		"user_id":                       id.userID,
		"organization_id":               id.orgID,
		"project_id":                    "",
		"completed_platform_onboarding": true,
		"is_org_owner":                  false,
	}
	idToken := fakeJWT(map[string]any{
		"iss":                            "https://auth.openai.com",
		"aud":                            []string{clientID},
		"sub":                            "auth0|" + randomB64(12),
		"email":                          id.email,
		"email_verified":                 true,
		"iat":                            now.Unix(),
		"auth_time":                      now.Unix(),
		"exp":                            now.Add(time.Hour).Unix(),
		"jti":                            randomUUID(),
		"https://api.openai.com/auth":    auth,
		"https://api.openai.com/profile": map[string]any{"email": id.email, "email_verified": true},
	})
	accessToken := fakeJWT(map[string]any{
		"iss":       "https://auth.openai.com",
		"aud":       []string{"https://api.openai.com/v1"},
		"client_id": clientID,
		"sub":       "auth0|" + randomB64(12),
		"iat":       now.Unix(),
		"exp":       now.Add(10 * 24 * time.Hour).Unix(),
		"jti":       randomUUID(),
		"scp":       []string{"openid", "profile", "email", "offline_access"},
		"https://api.openai.com/auth": map[string]any{
			"chatgpt_account_id": id.accountID,
			"chatgpt_plan_type":  id.plan,
			"chatgpt_user_id":    id.userID,
			"user_id":            id.userID,
		},
		"https://api.openai.com/profile": map[string]any{"email": id.email, "email_verified": true},
	})
	return tokenData{
		IDToken:      idToken,
		AccessToken:  accessToken,
		RefreshToken: "rt_" + randomB64(48),
		AccountID:    id.accountID,
	}
}
