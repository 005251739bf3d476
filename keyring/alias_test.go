package keyring

import (
	"errors"
	"strings"
	"testing"
)

func TestValidAlias(t *testing.T) {
	for _, tc := range []struct {
		alias string
		msg   string // in the error; "" if valid
	}{
		{"bob", ""},
		{"a", ""},
		{"0", ""},
		{"alice.smith", ""},
		{"bob_2", ""},
		{"x-y.z_0", ""},
		{"keyss", ""},
		{"selfie", ""},
		{strings.Repeat("a", 32), ""},
		{"", "empty"},
		{"Bob", `alias "Bob" is not valid: use lower-case letters, digits, '.', '_' or '-'`},
		{"bob smith", "lower-case letters"},
		{"-bob", "starting with a letter or digit"},
		{"_bob", "starting with a letter or digit"},
		{".all", "reserved"},
		{".", "reserved"},
		{"..", "reserved"},
		{"keys", "reserved"},
		{"self", "reserved"},
		{strings.Repeat("a", 33), "at most 32"},
		{"bob/evil", "lower-case"},
		{"../etc", "reserved"},
		{"bob.pub/", "lower-case"},
		{"bób", "lower-case"},
		{"bob\n", "lower-case"},
		{"bob\x00", "lower-case"},
		{"\x1b[31m", "lower-case"},
	} {
		t.Run(tc.alias, func(t *testing.T) {
			err := ValidAlias(tc.alias)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("ValidAlias(%q) = %v", tc.alias, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidAlias(%q) accepted", tc.alias)
			}
			if !errors.Is(err, ErrInvalidAlias) {
				t.Errorf("error %q does not match ErrInvalidAlias", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if strings.ContainsAny(err.Error(), "\n\x00\x1b") {
				t.Errorf("error %q holds control characters", err)
			}
		})
	}
}
