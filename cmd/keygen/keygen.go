package main

import (
	"github.com/messagefs/messagefs/internal/passphrase"

	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/keyring"
)

// maxInput bounds the identity file -y reads.
const maxInput = 64 << 10

// generate creates an identity and writes it to output ("" for the default
// path, "-" for standard output).
func generate(output string, protect bool, pr passphrase.Reader, env environment) error {
	defaulted := output == ""
	if defaulted {
		p, err := keyring.DefaultIdentityPath()
		if err != nil {
			return err
		}
		output = p
	}
	// Fail before asking for a passphrase when the file cannot be written.
	if output != "-" {
		if _, err := os.Lstat(output); err == nil {
			return fmt.Errorf("%s already exists and an identity is never overwritten: move it away first, or choose another path with -o", output)
		}
	}
	key, err := crypto.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	pub := key.Public()
	content := crypto.MarshalIdentityFile(key, time.Now())
	if protect {
		pass, err := pr.New()
		if err != nil {
			return err
		}
		content, err = crypto.EncryptIdentityFile(content, pass)
		clear(pass)
		if err != nil {
			return err
		}
	}

	if output == "-" {
		if _, err := env.stdout.Write(content); err != nil {
			return fmt.Errorf("writing the identity: %w", err)
		}
		// A plain identity on a terminal shows its public key already.
		if protect || !passphrase.IsTerminal(env.stdout) {
			fmt.Fprintf(env.stderr, "Public key: %s\n", pub)
		}
		return nil
	}
	if err := keyring.WriteIdentity(output, content); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists and an identity is never overwritten: move it away first, or choose another path with -o", output)
		}
		return err
	}
	fmt.Fprintf(env.stderr, "Public key: %s\n", pub)
	if defaulted {
		fmt.Fprintf(env.stderr, "Identity written to %s\n", output)
	}
	return nil
}

// printRecipient prints the public key of the identity in input ("" or "-"
// for standard input) to output ("" or "-" for standard output).
func printRecipient(input, output string, pr passphrase.Reader, env environment) error {
	name := input
	var data []byte
	var err error
	if input == "" || input == "-" {
		name = "standard input"
		data, err = io.ReadAll(io.LimitReader(env.stdin, maxInput+1))
	} else {
		data, err = readIdentity(input, env)
	}
	if err != nil {
		return err
	}
	key, err := crypto.ParseIdentityFile(data, pr.Existing(name))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	line := key.Public().String() + "\n"
	if output == "" || output == "-" {
		_, err = io.WriteString(env.stdout, line)
		return err
	}
	f, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("writing the public key: %w", err)
	}
	if _, err := io.WriteString(f, line); err != nil {
		f.Close()
		return fmt.Errorf("writing the public key: %w", err)
	}
	return f.Close()
}

// readIdentity reads the identity file path, warning if other users can
// access it (messagefs itself refuses such a file).
func readIdentity(path string, env environment) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o066 != 0 {
		fmt.Fprintf(env.stderr, "mfs-keygen: warning: %s is accessible by other users (mode %04o): run `chmod 600 %s`\n", path, info.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, nil
}
