package fs

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMountErrors(t *testing.T) {
	m := startMount(t)
	ctx := context.Background()

	// These fail before mounting, so this process serves nothing.
	_, err := Mount(ctx, m.dir, newFakeBackend(), Options{})
	if !errors.Is(err, ErrAlreadyMounted) || !strings.Contains(err.Error(), "fusermount3 -u "+m.dir) {
		t.Errorf("mount over a live mount: %v", err)
	}
	_, err = Mount(ctx, m.dir+"/nonexistent", newFakeBackend(), Options{})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("mount on a missing directory: %v", err)
	}
	file := t.TempDir() + "/file"
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = Mount(ctx, file, newFakeBackend(), Options{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("mount on a file: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err = Mount(cancelled, t.TempDir(), newFakeBackend(), Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("mount with a cancelled context: %v", err)
	}

	// Kill the server: what is left is a stale mount, explained.
	if err := m.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-m.exited
	if _, err := os.Stat(m.dir); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("stat of a dead mount: %v, want ENOTCONN", err)
	}
	_, err = Mount(ctx, m.dir, newFakeBackend(), Options{})
	if !errors.Is(err, ErrStaleMount) || !strings.Contains(err.Error(), "fusermount3 -u "+m.dir) {
		t.Errorf("mount over a stale mount: %v", err)
	}
	if out, err := exec.Command("fusermount3", "-u", m.dir).CombinedOutput(); err != nil {
		t.Fatalf("fusermount3 -u: %v: %s", err, out)
	}
}

// TestUnmountBusy: an open file keeps the mount busy; Unmount says so and
// the tree is still served; once it is closed, Unmount succeeds.
func TestUnmountBusy(t *testing.T) {
	m := startMount(t)
	f, err := os.Open(m.path("alice"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := m.stdin.WriteString("unmount 300ms\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-m.lines:
		if !strings.HasPrefix(l, "err ") || !strings.Contains(l, "fusermount3 -u -z") {
			t.Errorf("unmount while busy: %q, want an error with advice", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reply to unmount")
	}
	if _, err := f.Read(make([]byte, 10)); err != nil && !errors.Is(err, io.EOF) {
		t.Errorf("read after a failed unmount: %v", err)
	}
	f.Close()
	m.ctl("unmount 5s")
	if _, ok := mountedAt(m.dir); ok {
		t.Error("still mounted")
	}
}

// TestExternalUnmount: fusermount3 -u from outside ends serving cleanly.
func TestExternalUnmount(t *testing.T) {
	m := startMount(t)
	if out, err := exec.Command("fusermount3", "-u", m.dir).CombinedOutput(); err != nil {
		t.Fatalf("fusermount3 -u: %v: %s", err, out)
	}
	m.ctl("done")
}

func TestMountWithoutFusermount(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Mount(context.Background(), t.TempDir(), newFakeBackend(), Options{})
	if !errors.Is(err, ErrNoFUSE) || !strings.Contains(err.Error(), "fuse3") {
		t.Errorf("mount without fusermount3: %v", err)
	}
}
