package keyring

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/messagefs/messagefs/crypto"
)

// MaxKeyFileSize bounds a public key file. One holds a 62-character key and
// perhaps a few comment lines.
const MaxKeyFileSize = 4 << 10

// addedPrefix starts the comment line that records when a key was trusted.
const addedPrefix = "# added: "

// ParseKeyFile parses a public key file: one age X25519 recipient
// ("age1...") on a line of its own, with optional comment lines starting
// with "#" and blank lines; exactly what `mfs-keygen -y` and
// `age-keygen -y` print. Content holding a secret identity
// ("AGE-SECRET-KEY-") gives ErrSecretKey; anything else that is not exactly
// one valid, not low-order key gives an error matching ErrBadKey (and
// crypto.ErrLowOrder for a low-order point).
func ParseKeyFile(content []byte) (crypto.PublicKey, error) {
	if bytes.Contains(bytes.ToUpper(content), []byte("AGE-SECRET-KEY-")) {
		return crypto.PublicKey{}, ErrSecretKey
	}
	if len(content) > MaxKeyFileSize {
		return crypto.PublicKey{}, errorf(ErrBadKey, "not a valid public key file: it has %d bytes, a key file has under %d", len(content), MaxKeyFileSize)
	}
	var (
		key   crypto.PublicKey
		found int
	)
	for i, line := range strings.Split(string(content), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := crypto.ParseRecipient(line)
		if err != nil {
			if errors.Is(err, crypto.ErrLowOrder) {
				return crypto.PublicKey{}, errorf(ErrBadKey, "not a valid public key file: the key on line %d is a low-order point, which no real age key is; it would let anyone read the messages: %w", i+1, crypto.ErrLowOrder)
			}
			return crypto.PublicKey{}, errorf(ErrBadKey, "not a valid public key file: line %d: %w (a key file holds one age1... line, as `mfs-keygen -y` prints it)", i+1, err)
		}
		if found > 0 {
			return crypto.PublicKey{}, errorf(ErrBadKey, "not a valid public key file: it holds more than one key; put each key in its own file")
		}
		found++
		key = k
	}
	if found == 0 {
		return crypto.PublicKey{}, errorf(ErrBadKey, "not a valid public key file: it holds no key (a line starting with age1, as `mfs-keygen -y` prints it)")
	}
	return key, nil
}

// MarshalKeyFile returns the content of a trusted key file:
//
//	# added: 2006-01-02T15:04:05Z07:00
//	age1...
//
// With a zero added time it is only the "age1..." line, what
// `mfs-keygen -y` prints. ParseKeyFile reads both.
func MarshalKeyFile(key crypto.PublicKey, added time.Time) []byte {
	if added.IsZero() {
		return []byte(key.String() + "\n")
	}
	return fmt.Appendf(nil, "%s%s\n%s\n", addedPrefix, added.Format(time.RFC3339), key)
}

// parseAdded returns the time of the first "# added:" line of content.
func parseAdded(content []byte) (time.Time, bool) {
	for line := range strings.SplitSeq(string(content), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), addedPrefix); ok {
			t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
			return t, err == nil
		}
	}
	return time.Time{}, false
}
