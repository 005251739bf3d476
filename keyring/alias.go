package keyring

import "strings"

// MaxAliasLen is the longest alias, in bytes.
const MaxAliasLen = 32

// reservedAliases are names the mounted tree uses for itself.
var reservedAliases = [...]string{"keys", "self"}

// ValidAlias checks that s can name a trusted peer: 1 to 32 characters from
// lower-case letters, digits, '.', '_' and '-', starting with a letter or a
// digit, and not one of the reserved names "keys" and "self" (names starting
// with '.' are reserved too). The error matches ErrInvalidAlias and says what
// to change.
func ValidAlias(s string) error {
	const rule = "use lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 32 characters"
	switch {
	case s == "":
		return errorf(ErrInvalidAlias, "the alias is empty: %s", rule)
	case strings.HasPrefix(s, "."):
		return errorf(ErrInvalidAlias, "alias %q is not valid: names starting with '.' are reserved for messagefs's own files", s)
	case len(s) > MaxAliasLen:
		return errorf(ErrInvalidAlias, "alias %q is not valid: it has %d characters, at most %d are allowed", s, len(s), MaxAliasLen)
	}
	for _, r := range reservedAliases {
		if s == r {
			return errorf(ErrInvalidAlias, "alias %q is not valid: it is reserved by messagefs, choose another name", s)
		}
	}
	ok := isAliasStart(s[0])
	for i := 1; ok && i < len(s); i++ {
		ok = isAliasStart(s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-'
	}
	if !ok {
		return errorf(ErrInvalidAlias, "alias %q is not valid: %s", s, rule)
	}
	return nil
}

func isAliasStart(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}
