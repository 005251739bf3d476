// Command mfs-keygen creates and inspects messagefs identities, which are
// age X25519 identities in the file format of age-keygen.
//
// Usage:
//
//	mfs-keygen [-o OUTPUT] [--passphrase]
//	mfs-keygen -y [-o OUTPUT] [INPUT]
//
// Without -y, it creates a new identity and writes it to OUTPUT (default
// $XDG_CONFIG_HOME/messagefs/identity, else ~/.config/messagefs/identity)
// with mode 0600, creating missing directories with mode 0700. It never
// overwrites a file. "-o -" writes the identity to standard output. The
// public key is printed on standard error as "Public key: age1...", as
// age-keygen does, unless the identity itself goes to a terminal.
//
// With --passphrase the identity file is protected the way `age -p -a`
// protects a file (scrypt, ASCII armor), so `age -d` decrypts it too. The
// passphrase is asked twice on the terminal without echo, or taken from
// $MFS_PASSPHRASE when set, for scripts (other processes of the same user can
// read the environment: prefer the prompt).
//
// With -y, it prints the public key (recipient) of the identity in INPUT
// ("-" or none: standard input), asking for the passphrase if the identity
// is protected; this is what peers put in their keys/ directory.
package main

import (
	"github.com/messagefs/messagefs/internal/passphrase"

	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `Usage:
    mfs-keygen [-o OUTPUT] [--passphrase]
    mfs-keygen -y [-o OUTPUT] [INPUT]

Options:
    -o, --output OUTPUT  Write the result to OUTPUT ("-": standard output).
                         Default for a new identity:
                         $XDG_CONFIG_HOME/messagefs/identity
                         (~/.config/messagefs/identity). Never overwrites.
    -p, --passphrase     Protect the new identity with a passphrase, as
                         age -p does. Asked on the terminal, or taken from
                         $MFS_PASSPHRASE.
    -y                   Print the public key of the identity in INPUT
                         (default: standard input). Share that key, never
                         the identity.

The public key of a new identity is printed on standard error. Identities
are age X25519 identities: age and age-keygen read them, and mfs-keygen -y
reads theirs.
`

// usageError reports bad command-line arguments; main prints the usage after
// it.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func main() {
	env := environment{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
	}
	if err := run(os.Args[1:], env); err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "mfs-keygen: %v\n\n%s", err, usage)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "mfs-keygen: %v\n", err)
		os.Exit(1)
	}
}

// environment is what the command reads and writes besides files.
type environment struct {
	stdin          *os.File
	stdout, stderr *os.File
	getenv         func(string) string
}

// run parses the arguments and runs the command.
func run(args []string, env environment) error {
	fs := flag.NewFlagSet("mfs-keygen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		output    string
		protect   bool
		recipient bool
	)
	fs.StringVar(&output, "o", "", "output file")
	fs.StringVar(&output, "output", "", "output file")
	fs.BoolVar(&protect, "p", false, "protect with a passphrase")
	fs.BoolVar(&protect, "passphrase", false, "protect with a passphrase")
	fs.BoolVar(&recipient, "y", false, "print the public key")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(env.stdout, usage)
			return nil
		}
		return usagef("%v", err)
	}
	pr := passphrase.Reader{Getenv: env.getenv}
	switch {
	case recipient && protect:
		return usagef("-y and --passphrase cannot be used together")
	case recipient && fs.NArg() > 1:
		return usagef("-y takes one INPUT file, got %d arguments (options go before INPUT)", fs.NArg())
	case recipient:
		return printRecipient(fs.Arg(0), output, pr, env)
	case fs.NArg() > 0:
		return usagef("unexpected argument %q (to read an identity, use -y FILE)", fs.Arg(0))
	}
	return generate(output, protect, pr, env)
}
