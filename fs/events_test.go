package fs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// subscribed waits until .events has been opened n times in total.
func (m *testMount) subscribed(n int) {
	m.t.Helper()
	eventually(m.t, fmt.Sprintf("%d opens of .events", n), func() bool {
		got, _ := strconv.Atoi(m.ctl("subs"))
		return got >= n
	})
}

// lineReader collects lines from r on a goroutine.
func lineReader(r io.Reader) <-chan string {
	ch := make(chan string, 256)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// expectLines reads want from ch in order, within 5 s.
func expectLines(t *testing.T, who string, ch <-chan string, want ...string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for _, w := range want {
		select {
		case got, ok := <-ch:
			if !ok {
				t.Fatalf("%s: stream ended, want %q", who, w)
			}
			if got != w {
				t.Fatalf("%s: got %q, want %q", who, got, w)
			}
		case <-timeout:
			t.Fatalf("%s: no %q within 5 s", who, w)
		}
	}
}

// TestEventsReaders opens .events three ways at once: cat (blocking
// reads), Go's os.File (non-blocking fd, netpoller, so it needs poll
// wake-ups) and poll(2) on a raw non-blocking fd. Each gets every event
// once, in order.
func TestEventsReaders(t *testing.T) {
	m := startMount(t)

	cat := exec.Command("cat", m.path(".events"))
	catOut, err := cat.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Process.Kill(); _ = cat.Wait() })
	catLines := lineReader(catOut)

	gof, err := os.Open(m.path(".events"))
	if err != nil {
		t.Fatal(err)
	}
	defer gof.Close()
	// Go puts FUSE files in the netpoller (epoll accepts them), so the
	// fd is non-blocking: a deadline works only if poll does.
	if err := gof.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatalf("SetReadDeadline: %v (the file is not pollable)", err)
	}
	if n, err := gof.Read(make([]byte, 100)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Go read with no event: n=%d err=%v, want a deadline error", n, err)
	}
	if err := gof.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	goLines := lineReader(gof)

	fd, err := syscall.Open(m.path(".events"), syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	buf := make([]byte, 4096)
	if n, err := syscall.Read(fd, buf); err != syscall.EAGAIN {
		t.Fatalf("O_NONBLOCK read with no event: n=%d err=%v, want EAGAIN", n, err)
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 100); n != 0 || err != nil {
		t.Fatalf("poll with no event: n=%d err=%v, want a timeout", n, err)
	}

	m.subscribed(3)
	// poll(2) blocked before the events arrive needs the wake-up (the
	// delay only makes that likely; the result does not depend on it).
	polled := make(chan error, 1)
	go func() {
		// poll(2) looks once more when it times out, so a missing
		// wake-up shows as a poll that took its whole timeout.
		pfd[0].Revents = 0
		start := time.Now()
		n, err := unix.Poll(pfd, 8000)
		if err == nil && (n != 1 || pfd[0].Revents&unix.POLLIN == 0 || time.Since(start) > 6*time.Second) {
			err = fmt.Errorf("n=%d revents=%#x after %v", n, pfd[0].Revents, time.Since(start))
		}
		polled <- err
	}()
	time.Sleep(200 * time.Millisecond)
	m.ctl("event one")
	m.ctl("event two")
	if err := <-polled; err != nil {
		t.Fatalf("poll: %v", err)
	}
	var raw strings.Builder
	for !strings.HasSuffix(raw.String(), "two\n") {
		n, err := syscall.Read(fd, buf)
		if err != nil {
			t.Fatalf("read after poll: %v (have %q)", err, raw.String())
		}
		raw.Write(buf[:n])
	}
	if raw.String() != "one\ntwo\n" {
		t.Errorf("raw fd read %q", raw.String())
	}
	if _, err := syscall.Read(fd, buf); err != syscall.EAGAIN {
		t.Errorf("read after draining: %v, want EAGAIN", err)
	}

	expectLines(t, "cat", catLines, "one", "two")
	expectLines(t, "Go", goLines, "one", "two")

	// A later event reaches the blocked readers too.
	m.ctl("recv alice alice hi")
	for who, ch := range map[string]<-chan string{"cat": catLines, "Go": goLines} {
		select {
		case l := <-ch:
			if !strings.Contains(l, " msg alice alice hi") {
				t.Errorf("%s: %q, want a msg event", who, l)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: no msg event within 5 s", who)
		}
	}

	// Interrupting a blocked read (cat dies of SIGINT) ends it promptly.
	if err := cat.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cat.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("cat blocked in a read did not die of SIGINT within 5 s")
	}
}

// TestEventsLongLine reads a line longer than the read buffer: it comes
// whole, over several reads.
func TestEventsLongLine(t *testing.T) {
	m := startMount(t)
	f, err := os.Open(m.path(".events"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m.subscribed(1)
	long := strings.Repeat("x", 10000)
	m.ctl("event " + long)
	m.ctl("event short")
	var got []byte
	buf := make([]byte, 1000)
	for len(got) < len(long)+len("\nshort\n") {
		n, err := f.Read(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if n >= len(buf) {
			t.Errorf("a read returned %d bytes: a full reply chains another request", n)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != long+"\nshort\n" {
		t.Errorf("got %d bytes, want the long line then short", len(got))
	}
}

// TestEventsOverflow lets a reader fall behind: it gets the queued events,
// then one overflow warning.
func TestEventsOverflow(t *testing.T) {
	m := startMount(t)
	f, err := os.Open(m.path(".events"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m.subscribed(1)
	m.ctl(fmt.Sprintf("events %d e", eventLimit+10))
	m.ctl("event after")

	lines := lineReader(f)
	for i := range eventLimit {
		expectLines(t, "reader", lines, fmt.Sprintf("e %d", i))
	}
	select {
	case l := <-lines:
		if !strings.Contains(l, " warn overflow ") {
			t.Fatalf("after %d events: %q, want a warn overflow line", eventLimit, l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no overflow warning")
	}
	m.ctl("event later")
	expectLines(t, "reader", lines, "later")
}

// TestEventsEOFOnUnmount: Unmount ends the stream (cat exits on EOF),
// then unmounts.
func TestEventsEOFOnUnmount(t *testing.T) {
	m := startMount(t)
	cat := exec.Command("cat", m.path(".events"))
	out, err := cat.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Process.Kill(); _ = cat.Wait() })
	lines := lineReader(out)
	m.subscribed(1)
	m.ctl("event before")
	expectLines(t, "cat", lines, "before")

	m.ctl("unmount") // returns once unmounted, so cat must have exited
	done := make(chan error, 1)
	go func() { done <- cat.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("cat: %v, want a clean exit at EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cat did not exit")
	}
	if _, ok := mountedAt(m.dir); ok {
		t.Error("still mounted after Unmount")
	}
}
