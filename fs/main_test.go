package fs

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childEnv names the mount point a re-executed test binary serves. The
// tests never serve a mount from their own process: they drive it.
const childEnv = "MFS_FSTEST_SERVE"

// writerEnv names the file a re-executed test binary makes one write(2)
// to, on a thread whose id it prints first, so that the test can signal
// that thread while it waits in the write.
const writerEnv = "MFS_FSTEST_WRITE"

// testMounts holds the mount points made by this test process, to check
// that none is left behind.
var testMounts sync.Map

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(runChild(dir))
	}
	if path := os.Getenv(writerEnv); path != "" {
		os.Exit(runWriter(path))
	}
	code := m.Run()
	testMounts.Range(func(k, _ any) bool {
		dir := k.(string)
		if _, ok := mountedAt(dir); ok {
			fmt.Fprintf(os.Stderr, "FAIL: mount left behind at %s; unmounting\n", dir)
			_ = exec.Command("fusermount3", "-u", "-z", dir).Run()
			code = 1
		}
		return true
	})
	os.Exit(code)
}

// runChild serves a mount at dir with a fakeBackend and obeys commands,
// one a line, from stdin, answering each with a line "ok ..." or
// "err ...". EOF on stdin unmounts and exits.
func runChild(dir string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := newFakeBackend()
	for _, a := range []string{"alice", "bob", "slow"} {
		if _, err := b.trustNew(a); err != nil {
			fmt.Println("err", err)
			return 1
		}
	}
	opts := Options{Logger: log}
	if os.Getenv("MFS_FSTEST_TRACE") != "" {
		opts.Debug = func(msg any) { log.Debug("fuse", "msg", fmt.Sprint(msg)) }
	}
	srv, err := Mount(context.Background(), dir, b, opts)
	if err != nil {
		fmt.Println("err", err)
		return 1
	}
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<20)
	for sc.Scan() {
		reply, err := b.control(srv, sc.Text())
		if err != nil {
			fmt.Println("err", strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Println("ok", reply)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Unmount(ctx); err != nil {
		log.Error("unmount", "err", err)
		return 1
	}
	return 0
}

// trustNew trusts a fresh key as alias and returns its recipient.
func (b *fakeBackend) trustNew(alias string) (string, error) {
	pk, err := b.addPending()
	if err != nil {
		return "", err
	}
	return pk.Recipient, b.TrustPending(pk.Fingerprint, alias)
}

// control runs one command of the child's control protocol.
func (b *fakeBackend) control(srv *Server, line string) (string, error) {
	cmd, arg, _ := strings.Cut(line, " ")
	switch cmd {
	case "recv": // recv WHERE FROM TEXT: an incoming message
		f := strings.SplitN(arg, " ", 3)
		if len(f) != 3 {
			return "", fmt.Errorf("usage: recv WHERE FROM TEXT")
		}
		return "", b.appendLine(f[0], f[1], []byte(f[2]))
	case "event": // event TEXT: publish one line
		b.hub.Publish(arg + "\n")
		return "", nil
	case "events": // events N PREFIX: publish N lines "PREFIX i"
		nStr, prefix, _ := strings.Cut(arg, " ")
		n, err := strconv.Atoi(nStr)
		if err != nil {
			return "", err
		}
		for i := range n {
			b.hub.Publish(fmt.Sprintf("%s %d\n", prefix, i))
		}
		return "", nil
	case "pending": // pending: a new key from an untrusted node
		pk, err := b.addPending()
		return pk.Fingerprint + " " + pk.Recipient, err
	case "trust": // trust ALIAS: trust a new key
		return b.trustNew(arg)
	case "invite": // invite GROUP MEMBER...: we were invited to a group
		f := strings.Fields(arg)
		if len(f) == 0 {
			return "", fmt.Errorf("usage: invite GROUP MEMBER...")
		}
		return "", b.createGroup(f[0], f[1:])
	case "subs": // subs: how many times .events was opened
		b.mu.Lock()
		defer b.mu.Unlock()
		return strconv.Itoa(b.subscribes), nil
	case "unmount": // unmount [TIMEOUT]: Server.Unmount, as on SIGTERM
		timeout := 10 * time.Second
		if arg != "" {
			d, err := time.ParseDuration(arg)
			if err != nil {
				return "", err
			}
			timeout = d
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return "", srv.Unmount(ctx)
	case "done": // done: wait (5 s at most) until serving ends
		select {
		case <-srv.Done():
			return "", srv.Err()
		case <-time.After(5 * time.Second):
			return "", fmt.Errorf("still serving")
		}
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

// runWriter writes "interrupt me\n" to path with one write(2) on a locked
// thread, ignoring SIGUSR1 (handled, so the kernel interrupts the FUSE
// request but the process lives), and prints "tid N", then "n N err E".
func runWriter(path string) int {
	runtime.LockOSThread()
	signal.Notify(make(chan os.Signal, 1), syscall.SIGUSR1)
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		fmt.Println("open", err)
		return 1
	}
	fmt.Println("tid", syscall.Gettid())
	n, err := syscall.Write(fd, []byte("interrupt me\n"))
	fmt.Println("n", n, "err", err)
	return 0
}
