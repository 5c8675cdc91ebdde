package tunnel

import (
	"context"
	"errors"
)

// Prompter asks the person at the keyboard. The tunnel asks only what
// OpenSSH would: whether to trust an unknown host key, a key's passphrase, a
// password, or a keyboard-interactive answer. A nil Prompter means there is no
// terminal, and nothing is asked.
type Prompter interface {
	// Prompt shows prompt and reads one line. With echo false what is typed
	// stays hidden (passphrases and passwords).
	Prompt(ctx context.Context, prompt string, echo bool) (string, error)
}

// ErrNoAnswer is returned by a [Prompter] when the person gave no answer
// (end of input).
var ErrNoAnswer = errors.New("tunnel: no answer given")
