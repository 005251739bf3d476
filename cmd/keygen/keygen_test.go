package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/messagefs/messagefs/crypto"
	"github.com/messagefs/messagefs/keyring"
)

// binary is the mfs-keygen built by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mfs-keygen-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mfs-keygen")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building mfs-keygen: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what a finished process left.
type result struct {
	stdout, stderr string
	code           int
}

// testEnv returns an environment with HOME and XDG_CONFIG_HOME under a
// temporary directory, so that no test touches the real default identity,
// and without MFS_PASSPHRASE, plus extra variables.
func testEnv(t *testing.T, extra ...string) (env []string, home string) {
	t.Helper()
	home = t.TempDir()
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "HOME", "XDG_CONFIG_HOME", "MFS_PASSPHRASE", "AGE_PASSPHRASE":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	return append(env, extra...), home
}

// runProc runs name with args in a new session, so it has no controlling
// terminal to ask a passphrase on.
func runProc(t *testing.T, env []string, stdin string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running %s: %v", name, err)
		}
		code = ee.ExitCode()
	}
	return result{stdout.String(), stderr.String(), code}
}

// mustRun is runProc that requires success.
func mustRun(t *testing.T, env []string, stdin string, name string, args ...string) result {
	t.Helper()
	r := runProc(t, env, stdin, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

var publicKeyLine = regexp.MustCompile(`(?m)^Public key: (age1[0-9a-z]{58})$`)

// stderrKey returns the key of the "Public key:" line of stderr.
func stderrKey(t *testing.T, stderr string) crypto.PublicKey {
	t.Helper()
	m := publicKeyLine.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no \"Public key:\" line on stderr: %q", stderr)
	}
	p, err := crypto.ParseRecipient(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var identityFile = regexp.MustCompile(`^# created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)\n# public key: (age1[0-9a-z]{58})\n(AGE-SECRET-KEY-1[0-9A-Z]{58})\n$`)

// checkIdentityFile checks that content is in age-keygen's format and
// returns its key.
func checkIdentityFile(t *testing.T, content []byte) crypto.PrivateKey {
	t.Helper()
	m := identityFile.FindSubmatch(content)
	if m == nil {
		t.Fatalf("not an age-keygen identity file: %q", content)
	}
	k, err := crypto.ParseIdentityFile(content, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.Public().String() != string(m[2]) {
		t.Fatalf("the public key comment does not match the identity")
	}
	return k
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", path, got, want)
	}
}

func TestGenerateDefaultPath(t *testing.T) {
	env, home := testEnv(t)
	r := mustRun(t, env, "", binary)
	path := filepath.Join(home, "config", "messagefs", "identity")
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no identity at the default path: %v\nstderr: %s", err, r.stderr)
	}
	k := checkIdentityFile(t, content)
	if stderrKey(t, r.stderr) != k.Public() {
		t.Fatalf("stderr shows another public key")
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
	if !strings.Contains(r.stderr, path) {
		t.Errorf("stderr does not say where the identity is: %q", r.stderr)
	}
	checkMode(t, path, 0o600)
	checkMode(t, filepath.Join(home, "config"), 0o700)
	checkMode(t, filepath.Join(home, "config", "messagefs"), 0o700)

	// Never overwrites.
	r = runProc(t, env, "", binary)
	if r.code == 0 || !strings.Contains(r.stderr, "already exists") || !strings.Contains(r.stderr, "-o") {
		t.Fatalf("second run: exit %d, stderr %q", r.code, r.stderr)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, content) {
		t.Fatalf("the identity was overwritten")
	}
	// The node can load it.
	if got, err := keyring.LoadIdentity(path, nil); err != nil || got != k {
		t.Fatalf("keyring.LoadIdentity: %v", err)
	}
}

func TestGenerateOutputFile(t *testing.T) {
	env, home := testEnv(t)
	path := filepath.Join(home, "new", "dir", "id.txt")
	r := mustRun(t, env, "", binary, "-o", path)
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if stderrKey(t, r.stderr) != checkIdentityFile(t, content).Public() {
		t.Fatalf("stderr shows another public key")
	}
	checkMode(t, path, 0o600)
	checkMode(t, filepath.Join(home, "new"), 0o700)
	if _, err := os.Stat(filepath.Join(home, "config")); err == nil {
		t.Errorf("the default directory was created although -o was given")
	}
	for _, args := range [][]string{{"-o", path}, {"--output", path, "--passphrase"}} {
		if r := runProc(t, env, "", binary, args...); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
			t.Fatalf("%v over an existing file: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestGenerateStdout(t *testing.T) {
	env, home := testEnv(t)
	r := mustRun(t, env, "", binary, "-o", "-")
	k := checkIdentityFile(t, []byte(r.stdout))
	// Standard output is not a terminal, so the key is on stderr too.
	if stderrKey(t, r.stderr) != k.Public() {
		t.Fatalf("stderr shows another public key")
	}
	if _, err := os.Stat(filepath.Join(home, "config")); err == nil {
		t.Errorf("the default directory was created for -o -")
	}
}

func TestPrintRecipient(t *testing.T) {
	env, home := testEnv(t)
	path := filepath.Join(home, "id")
	r := mustRun(t, env, "", binary, "-o", path)
	want := stderrKey(t, r.stderr).String() + "\n"
	content, _ := os.ReadFile(path)

	if r := mustRun(t, env, "", binary, "-y", path); r.stdout != want || r.stderr != "" {
		t.Errorf("-y FILE: stdout %q, stderr %q; want %q", r.stdout, r.stderr, want)
	}
	for _, args := range [][]string{{"-y", "-"}, {"-y"}} {
		if r := mustRun(t, env, string(content), binary, args...); r.stdout != want {
			t.Errorf("%v with stdin: %q, want %q", args, r.stdout, want)
		}
	}
	out := filepath.Join(home, "me.pub")
	mustRun(t, env, "", binary, "-y", "-o", out, path)
	if got, _ := os.ReadFile(out); string(got) != want {
		t.Errorf("-y -o: %q", got)
	}
	// What -y prints is a valid key file for keys/.
	if got, err := keyring.ParseKeyFile([]byte(want)); err != nil || got.String()+"\n" != want {
		t.Errorf("keyring.ParseKeyFile(-y output): %v", err)
	}

	// A group-readable identity still works, with a warning.
	os.Chmod(path, 0o644)
	if r := mustRun(t, env, "", binary, "-y", path); r.stdout != want || !strings.Contains(r.stderr, "chmod 600 "+path) {
		t.Errorf("-y on a 0644 file: stdout %q, stderr %q", r.stdout, r.stderr)
	}

	pubFile := filepath.Join(home, "pub")
	os.WriteFile(pubFile, []byte(want), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing file", []string{"-y", filepath.Join(home, "nope")}, 1, "no such file"},
		{"public key", []string{"-y", pubFile}, 1, "public key"},
		{"two inputs", []string{"-y", path, path}, 2, "one INPUT"},
		{"argument without -y", []string{path}, 2, "use -y FILE"},
		{"-y with --passphrase", []string{"-y", "--passphrase", path}, 2, "cannot be used together"},
		{"unknown flag", []string{"-z"}, 2, "-z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runProc(t, env, "", binary, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tc.code, tc.msg)
			}
		})
	}
}

func TestPassphraseFromEnv(t *testing.T) {
	env, home := testEnv(t, "MFS_PASSPHRASE=correct horse battery")
	path := filepath.Join(home, "id.age")
	r := mustRun(t, env, "", binary, "--passphrase", "-o", path)
	pub := stderrKey(t, r.stderr)
	content, _ := os.ReadFile(path)
	if !bytes.HasPrefix(content, []byte("-----BEGIN AGE ENCRYPTED FILE-----\n")) {
		t.Fatalf("not an armored age file: %q", content)
	}
	if bytes.Contains(content, []byte("AGE-SECRET-KEY")) {
		t.Fatalf("the secret is in clear")
	}
	checkMode(t, path, 0o600)
	asked := 0
	k, err := keyring.LoadIdentity(path, func() ([]byte, error) { asked++; return []byte("correct horse battery"), nil })
	if err != nil || k.Public() != pub || asked != 1 {
		t.Fatalf("LoadIdentity: %v (asked %d)", err, asked)
	}
	if r := mustRun(t, env, "", binary, "-y", path); r.stdout != pub.String()+"\n" {
		t.Fatalf("-y: %q, want %s", r.stdout, pub)
	}

	wrongEnv, _ := testEnv(t, "MFS_PASSPHRASE=wrong")
	if r := runProc(t, wrongEnv, "", binary, "-y", path); r.code != 1 || !strings.Contains(r.stderr, "incorrect passphrase") {
		t.Fatalf("-y with a wrong passphrase: exit %d, %q", r.code, r.stderr)
	}
	// Without MFS_PASSPHRASE and without a terminal, the error says what
	// to do.
	noEnv, home2 := testEnv(t)
	if r := runProc(t, noEnv, "", binary, "-y", path); r.code != 1 || !strings.Contains(r.stderr, "MFS_PASSPHRASE") {
		t.Fatalf("-y without a passphrase source: exit %d, %q", r.code, r.stderr)
	}
	p2 := filepath.Join(home2, "id")
	if r := runProc(t, noEnv, "", binary, "--passphrase", "-o", p2); r.code != 1 || !strings.Contains(r.stderr, "MFS_PASSPHRASE") {
		t.Fatalf("--passphrase without a passphrase source: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(p2); err == nil {
		t.Fatalf("an identity was written although no passphrase was given")
	}
}

// ptySession runs a shell command line on a pseudo-terminal with
// util-linux's script(1), and answers prompts.
type ptySession struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	out   bytes.Buffer
	done  chan struct{}
}

func startPTY(t *testing.T, env []string, cmdline string) *ptySession {
	t.Helper()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) from util-linux is not installed: cannot drive a terminal")
	}
	s := &ptySession{t: t, done: make(chan struct{})}
	s.cmd = exec.Command(script, "-q", "-e", "-c", cmdline, "/dev/null")
	s.cmd.Env = env
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.done)
		buf := make([]byte, 4096)
		for {
			n, err := stdout.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
		s.cmd.Wait()
	})
	return s
}

func (s *ptySession) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// answer waits until the output after offset from holds prompt, then types
// text and a newline. It returns the new offset.
func (s *ptySession) answer(from int, prompt, text string) int {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := s.output()
		if i := strings.Index(out[from:], prompt); i >= 0 {
			// Give the program a moment to turn echo off after its prompt.
			time.Sleep(200 * time.Millisecond)
			if _, err := io.WriteString(s.stdin, text+"\n"); err != nil {
				s.t.Fatal(err)
			}
			return from + i + len(prompt)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no prompt %q; output so far: %q", prompt, out)
		}
		select {
		case <-s.done:
			s.t.Fatalf("ended without prompting %q; output: %q", prompt, s.output())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// wait waits for the program to end and returns its exit code.
func (s *ptySession) wait() int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		s.t.Fatalf("still running after a minute; output: %q", s.output())
	}
	s.stdin.Close()
	s.cmd.Wait()
	return s.cmd.ProcessState.ExitCode()
}

// TestPassphraseFromTerminal types the passphrase on a pseudo-terminal and
// checks that it is asked twice and never echoed.
func TestPassphraseFromTerminal(t *testing.T) {
	env, home := testEnv(t)
	path := filepath.Join(home, "id")
	const pass = "tty-secret-42"
	s := startPTY(t, env, fmt.Sprintf("%s --passphrase -o '%s'", binary, path))
	at := s.answer(0, "Enter passphrase: ", pass)
	s.answer(at, "Confirm passphrase: ", pass)
	if code := s.wait(); code != 0 {
		t.Fatalf("exit %d; output: %q", code, s.output())
	}
	if strings.Contains(s.output(), pass) {
		t.Fatalf("the passphrase was echoed: %q", s.output())
	}
	k, err := keyring.LoadIdentity(path, func() ([]byte, error) { return []byte(pass), nil })
	if err != nil {
		t.Fatal(err)
	}
	if got := stderrKey(t, strings.ReplaceAll(s.output(), "\r", "")); got != k.Public() {
		t.Fatalf("printed key differs from the identity's")
	}

	// -y asks once.
	s = startPTY(t, env, fmt.Sprintf("%s -y '%s'", binary, path))
	s.answer(0, "Enter passphrase for identity file", pass)
	if code := s.wait(); code != 0 || !strings.Contains(s.output(), k.Public().String()) {
		t.Fatalf("-y: exit %d, output %q", code, s.output())
	}

	// Different answers: nothing is written.
	other := filepath.Join(home, "other")
	s = startPTY(t, env, fmt.Sprintf("%s --passphrase -o '%s'", binary, other))
	at = s.answer(0, "Enter passphrase: ", "one")
	s.answer(at, "Confirm passphrase: ", "two")
	if code := s.wait(); code != 1 || !strings.Contains(s.output(), "do not match") {
		t.Fatalf("mismatch: exit %d, output %q", code, s.output())
	}
	if _, err := os.Stat(other); err == nil {
		t.Fatalf("an identity was written after a mismatch")
	}
}
