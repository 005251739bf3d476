// Package passphrase asks for the passphrase of an identity file: from
// $MFS_PASSPHRASE when it is set, else on the controlling terminal with echo
// turned off. It is shared by mfs-keygen and messagefs.
package passphrase

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Env names the environment variable that gives the passphrase for
// non-interactive use. Other processes of the same user can read a
// process's environment: prefer the terminal prompt.
const Env = "MFS_PASSPHRASE"

// Reader asks for passphrases: from $MFS_PASSPHRASE when it is set, else on
// the controlling terminal (/dev/tty) with echo turned off.
type Reader struct {
	// Getenv looks up environment variables (os.Getenv in production).
	Getenv func(string) string
}

// envPassphrase returns $MFS_PASSPHRASE, if set and not empty.
func (p Reader) envPassphrase() ([]byte, bool) {
	if v := p.Getenv(Env); v != "" {
		return []byte(v), true
	}
	return nil, false
}

// New asks for a new passphrase twice and checks that both match.
func (p Reader) New() ([]byte, error) {
	if pass, ok := p.envPassphrase(); ok {
		return pass, nil
	}
	answers, err := askTerminal("Enter passphrase: ", "Confirm passphrase: ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(answers[0], answers[1]) {
		return nil, errors.New("the passphrases do not match; nothing was written, try again")
	}
	if len(answers[0]) == 0 {
		return nil, errors.New("the passphrase is empty; nothing was written, choose a passphrase")
	}
	return answers[0], nil
}

// Existing returns a function that asks once for the passphrase of the
// identity file name.
func (p Reader) Existing(name string) func() ([]byte, error) {
	return func() ([]byte, error) {
		if pass, ok := p.envPassphrase(); ok {
			return pass, nil
		}
		answers, err := askTerminal(fmt.Sprintf("Enter passphrase for identity file %q: ", name))
		if err != nil {
			return nil, err
		}
		return answers[0], nil
	}
}

// askTerminal shows each prompt on the controlling terminal and reads one
// line after it, without echo.
func askTerminal(prompts ...string) ([][]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("no terminal to ask for the passphrase (%v): set %s for non-interactive use", err, Env)
	}
	defer tty.Close()
	restore, err := noEcho(tty)
	if err != nil {
		return nil, fmt.Errorf("turning off echo to read the passphrase: %w (set %s for non-interactive use)", err, Env)
	}
	defer restore()
	// An interrupt must not leave the terminal without echo.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigs:
			restore()
			fmt.Fprintln(tty)
			os.Exit(130)
		case <-done:
		}
	}()

	r := bufio.NewReader(tty)
	answers := make([][]byte, 0, len(prompts))
	for _, prompt := range prompts {
		if _, err := fmt.Fprint(tty, prompt); err != nil {
			return nil, fmt.Errorf("writing to the terminal: %w", err)
		}
		line, err := r.ReadBytes('\n')
		fmt.Fprintln(tty) // the newline was not echoed
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		answers = append(answers, bytes.TrimRight(line, "\r\n"))
	}
	return answers, nil
}
