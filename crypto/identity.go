package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
)

const (
	recipientHRP = "age"
	identityHRP  = "AGE-SECRET-KEY-"

	// identityPrefix starts every X25519 identity; a post-quantum one starts
	// with "AGE-SECRET-KEY-PQ-1".
	identityPrefix = identityHRP + "1"

	// maxIdentityFile bounds what ParseIdentityFile reads. An identity file
	// is under 200 bytes; the limit only stops mistakes early.
	maxIdentityFile = 64 << 10

	// ageBinaryHeader starts every binary age file.
	ageBinaryHeader = "age-encryption.org/"
)

// ErrInvalidRecipient is wrapped by every error of ParseRecipient.
var ErrInvalidRecipient = errors.New("not a valid age public key")

// ErrInvalidIdentity is wrapped by every error of ParseIdentity and by the
// errors of ParseIdentityFile about the file's content.
var ErrInvalidIdentity = errors.New("not a valid age identity")

// ErrWrongPassphrase is returned by ParseIdentityFile when the passphrase does
// not decrypt a passphrase-protected identity file.
var ErrWrongPassphrase = errors.New("incorrect passphrase for the identity file")

// ErrNoPassphrase is wrapped by ParseIdentityFile when an identity file is
// passphrase protected and no passphrase function was given.
var ErrNoPassphrase = errors.New("the identity file is passphrase protected and no passphrase was provided")

// ParseRecipient parses an age X25519 recipient ("age1..."), ignoring
// surrounding white space. It refuses low-order points (the error wraps both
// ErrInvalidRecipient and ErrLowOrder). Errors never quote s, which might be
// a secret key pasted by mistake.
func ParseRecipient(s string) (PublicKey, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return PublicKey{}, fmt.Errorf("%w: the key is empty", ErrInvalidRecipient)
	case strings.HasPrefix(strings.ToUpper(s), identityHRP):
		return PublicKey{}, fmt.Errorf("%w: this is a secret identity (AGE-SECRET-KEY-...), not a public key; derive its public key with `mfs-keygen -y` and never share the secret", ErrInvalidRecipient)
	case strings.HasPrefix(s, "age1pq1"):
		return PublicKey{}, fmt.Errorf("%w: post-quantum age keys are not supported, use an X25519 key (age1... from mfs-keygen or age-keygen without -pq)", ErrInvalidRecipient)
	case strings.HasPrefix(s, "AGE1"):
		return PublicKey{}, fmt.Errorf("%w: age public keys are written in lower case (age1...)", ErrInvalidRecipient)
	case !strings.HasPrefix(s, recipientHRP+"1"):
		return PublicKey{}, fmt.Errorf("%w: it must start with \"age1\"", ErrInvalidRecipient)
	}
	hrp, data, err := bech32Decode(s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v (was it copied completely and exactly?)", ErrInvalidRecipient, err)
	}
	if hrp != recipientHRP {
		return PublicKey{}, fmt.Errorf("%w: it must start with \"age1\"", ErrInvalidRecipient)
	}
	if len(data) != KeySize {
		return PublicKey{}, fmt.Errorf("%w: it holds %d bytes instead of %d", ErrInvalidRecipient, len(data), KeySize)
	}
	var p PublicKey
	copy(p[:], data)
	if err := CheckPublic(p); err != nil {
		return PublicKey{}, fmt.Errorf("%w: %w", ErrInvalidRecipient, err)
	}
	return p, nil
}

// String returns p as an age recipient, "age1" followed by 58 bech32
// characters.
func (p PublicKey) String() string {
	s, err := bech32Encode(recipientHRP, p[:])
	if err != nil {
		panic("crypto: encoding a recipient: " + err.Error()) // fixed sizes cannot fail
	}
	return s
}

// ParseIdentity parses an age X25519 identity ("AGE-SECRET-KEY-1..."),
// ignoring surrounding white space. Like age, it accepts only the upper-case
// form. Errors never quote s.
func ParseIdentity(s string) (PrivateKey, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return PrivateKey{}, fmt.Errorf("%w: the identity is empty", ErrInvalidIdentity)
	case strings.HasPrefix(s, recipientHRP+"1"):
		return PrivateKey{}, fmt.Errorf("%w: this is a public key (age1...), not a secret identity", ErrInvalidIdentity)
	case strings.HasPrefix(s, identityHRP+"PQ-1"):
		return PrivateKey{}, fmt.Errorf("%w: post-quantum identities are not supported, create an X25519 identity with mfs-keygen (or age-keygen without -pq)", ErrInvalidIdentity)
	case strings.HasPrefix(s, strings.ToLower(identityPrefix)):
		return PrivateKey{}, fmt.Errorf("%w: age identities are written in upper case (%s...)", ErrInvalidIdentity, identityPrefix)
	case !strings.HasPrefix(s, identityPrefix):
		return PrivateKey{}, fmt.Errorf("%w: it must start with %q", ErrInvalidIdentity, identityPrefix)
	}
	hrp, data, err := bech32Decode(s)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("%w: %v (is the file damaged?)", ErrInvalidIdentity, err)
	}
	if hrp != identityHRP {
		return PrivateKey{}, fmt.Errorf("%w: it must start with %q", ErrInvalidIdentity, identityPrefix)
	}
	if len(data) != KeySize {
		return PrivateKey{}, fmt.Errorf("%w: it holds %d bytes instead of %d", ErrInvalidIdentity, len(data), KeySize)
	}
	var k PrivateKey
	copy(k[:], data)
	return k, nil
}

// String returns k as an age identity, "AGE-SECRET-KEY-1" followed by 58
// upper-case bech32 characters. It is the secret itself: never log it.
func (k PrivateKey) String() string {
	s, err := bech32Encode(identityHRP, k[:])
	if err != nil {
		panic("crypto: encoding an identity: " + err.Error()) // fixed sizes cannot fail
	}
	return s
}

// MarshalIdentityFile returns k in the format age-keygen writes:
//
//	# created: 2006-01-02T15:04:05Z07:00
//	# public key: age1...
//	AGE-SECRET-KEY-1...
//
// created is written in RFC 3339 form in its own location.
func MarshalIdentityFile(k PrivateKey, created time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# created: %s\n", created.Format(time.RFC3339))
	fmt.Fprintf(&b, "# public key: %s\n", k.Public())
	fmt.Fprintf(&b, "%s\n", k)
	return b.Bytes()
}

// ParseIdentityFile parses an identity file holding exactly one X25519
// identity: the format age-keygen and MarshalIdentityFile write, where lines
// starting with "#" and blank lines are ignored. A passphrase-protected file
// (an age file, binary or ASCII-armored, encrypted with a passphrase, as
// `age -p` and EncryptIdentityFile make) is decrypted first with the
// passphrase that passphrase returns; passphrase is called only for such a
// file, and may be nil when no passphrase can be asked for. A passphrase
// that does not match gives ErrWrongPassphrase.
func ParseIdentityFile(data []byte, passphrase func() ([]byte, error)) (PrivateKey, error) {
	if len(data) > maxIdentityFile {
		return PrivateKey{}, fmt.Errorf("%w: the file is over %d KiB, far larger than an identity file; is it the right file?", ErrInvalidIdentity, maxIdentityFile>>10)
	}
	if isAgeEncrypted(data) {
		plain, err := decryptIdentityFile(data, passphrase)
		if err != nil {
			return PrivateKey{}, err
		}
		if isAgeEncrypted(plain) {
			return PrivateKey{}, fmt.Errorf("%w: the decrypted file is encrypted again", ErrInvalidIdentity)
		}
		data = plain
	}
	return parsePlainIdentityFile(data)
}

// isAgeEncrypted reports whether data looks like an age file, binary or
// armored (armor may follow leading white space).
func isAgeEncrypted(data []byte) bool {
	return bytes.HasPrefix(data, []byte(ageBinaryHeader)) ||
		bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armor.Header))
}

func parsePlainIdentityFile(data []byte) (PrivateKey, error) {
	var (
		key   PrivateKey
		found int
	)
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := ParseIdentity(line)
		if err != nil {
			return PrivateKey{}, fmt.Errorf("line %d: %w", i+1, err)
		}
		found++
		key = k
	}
	switch {
	case found == 0:
		return PrivateKey{}, fmt.Errorf("%w: the file holds no identity (a line starting with %q)", ErrInvalidIdentity, identityPrefix)
	case found > 1:
		return PrivateKey{}, fmt.Errorf("%w: the file holds %d identities and messagefs needs exactly one; keep one in its own file", ErrInvalidIdentity, found)
	}
	return key, nil
}

func decryptIdentityFile(data []byte, passphrase func() ([]byte, error)) ([]byte, error) {
	if passphrase == nil {
		return nil, ErrNoPassphrase
	}
	var r io.Reader = bytes.NewReader(data)
	if !bytes.HasPrefix(data, []byte(ageBinaryHeader)) {
		r = armor.NewReader(r)
	}
	pass, err := passphrase()
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase of the identity file: %w", err)
	}
	id, err := age.NewScryptIdentity(string(pass))
	clear(pass)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrongPassphrase, err)
	}
	dr, err := age.Decrypt(r, id)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			if len(noMatch.StanzaTypes) == 1 && noMatch.StanzaTypes[0] == "scrypt" {
				return nil, ErrWrongPassphrase
			}
			return nil, fmt.Errorf("%w: the file is encrypted to a key, not protected by a passphrase; decrypt it with `age -d` first", ErrInvalidIdentity)
		}
		return nil, fmt.Errorf("%w: decrypting the identity file: %v (is the file damaged?)", ErrInvalidIdentity, err)
	}
	plain, err := io.ReadAll(io.LimitReader(dr, maxIdentityFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: decrypting the identity file: %v (is the file damaged?)", ErrInvalidIdentity, err)
	}
	if len(plain) > maxIdentityFile {
		return nil, fmt.Errorf("%w: the decrypted file is over %d KiB, far larger than an identity file", ErrInvalidIdentity, maxIdentityFile>>10)
	}
	return plain, nil
}

// EncryptIdentityFile protects plain (an identity file) with passphrase the
// way `age -p -a` does: an ASCII-armored age file with a single scrypt
// recipient, which `age -d` decrypts given the passphrase.
func EncryptIdentityFile(plain []byte, passphrase []byte) ([]byte, error) {
	return encryptIdentityFile(plain, passphrase, 0)
}

// encryptIdentityFile is EncryptIdentityFile with a scrypt work factor of
// 2^logN (age's default when logN is 0); tests use a small one.
func encryptIdentityFile(plain []byte, passphrase []byte, logN int) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("the passphrase is empty: choose a non-empty passphrase")
	}
	rcpt, err := age.NewScryptRecipient(string(passphrase))
	if err != nil {
		return nil, fmt.Errorf("protecting the identity file: %w", err)
	}
	if logN > 0 {
		rcpt.SetWorkFactor(logN)
	}
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, rcpt)
	if err != nil {
		return nil, fmt.Errorf("protecting the identity file: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("protecting the identity file: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("protecting the identity file: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("protecting the identity file: %w", err)
	}
	return out.Bytes(), nil
}
