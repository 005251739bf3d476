// Command messagefs runs a messagefs node: it mounts an end-to-end
// encrypted messaging file system in which files are peers, directories are
// groups and writing to a file sends a message.
//
// Usage:
//
//	messagefs [flags] MOUNTPOINT
//
// See README.md for a walk-through and SECURITY.md for the threat model.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/messagefs/messagefs/fs"
	"github.com/messagefs/messagefs/internal/passphrase"
	"github.com/messagefs/messagefs/keyring"
	"github.com/messagefs/messagefs/node"
)

const usage = `Usage:
    messagefs [flags] MOUNTPOINT

Runs a messagefs node in the foreground and mounts it at MOUNTPOINT
(default $HOME/messagefs). Stop it with Ctrl-C; it unmounts cleanly.

Flags:
    --identity FILE   identity made by mfs-keygen (default $XDG_CONFIG_HOME/messagefs/identity)
    --state DIR       database and keyring (default $XDG_STATE_HOME/messagefs)
    --name NAME       ZRE node name shown to peers (default: from the UUID)
    --iface NAME      network interface for beacons and the inbox
    --bind IPV4       address the ZRE inbox listens on (default: the interface's;
                      127.0.0.1 for a node that only talks to this machine)
    --port N          ZRE inbox TCP port (default: ephemeral)
    --peer ENDPOINT   tcp://HOST:PORT of a node to connect to (repeatable)
    --no-beacon       no UDP beacon discovery (use with --peer)
    --log-level L     debug, info, warn or error (default info)

A passphrase-protected identity asks for its passphrase on the terminal, or
takes it from $MFS_PASSPHRASE.
`

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	flag.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	var (
		identity, state, name, iface, bind, logLevel string
		port                                         int
		noBeacon                                     bool
		peers                                        stringList
	)
	flag.StringVar(&identity, "identity", "", "identity file")
	flag.StringVar(&state, "state", "", "state directory")
	flag.StringVar(&name, "name", "", "ZRE node name")
	flag.StringVar(&iface, "iface", "", "network interface")
	flag.StringVar(&bind, "bind", "", "inbox address")
	flag.IntVar(&port, "port", 0, "inbox port")
	flag.Var(&peers, "peer", "static peer endpoint")
	flag.BoolVar(&noBeacon, "no-beacon", false, "disable beacons")
	flag.StringVar(&logLevel, "log-level", "info", "log level")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		fatalf("unknown --log-level %q: use debug, info, warn or error", logLevel)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	mountpoint, err := mountpointArg(flag.Args())
	if err != nil {
		fatalf("%v", err)
	}
	if identity == "" {
		if identity, err = keyring.DefaultIdentityPath(); err != nil {
			fatalf("%v", err)
		}
	}
	if state == "" {
		if state, err = defaultStateDir(); err != nil {
			fatalf("%v", err)
		}
	}

	key, err := keyring.LoadIdentity(identity, passphrase.Reader{Getenv: os.Getenv}.Existing(identity))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			fatalf("no identity at %s: create one with `mfs-keygen` (or pass --identity FILE)", identity)
		}
		fatalf("%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	n, err := node.New(node.Config{
		Identity:  key,
		StateDir:  state,
		Name:      name,
		Bind:      bind,
		Port:      port,
		Interface: iface,
		Beacon:    !noBeacon,
		Peers:     peers,
		Logger:    logger,
	})
	if err != nil {
		fatalf("%v", err)
	}
	if err := run(ctx, n, mountpoint, logger); err != nil {
		fatalf("%v", err)
	}
}

// run serves the node and its mount until ctx is done, then unmounts and
// stops the node.
func run(ctx context.Context, n *node.Node, mountpoint string, logger *slog.Logger) error {
	nodeCtx, stopNode := context.WithCancel(context.Background())
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- n.Run(nodeCtx) }()

	m, err := fs.Mount(ctx, mountpoint, n, fs.Options{Logger: logger})
	if err != nil {
		stopNode()
		<-nodeDone
		return err
	}
	logger.Info("mounted", "mountpoint", mountpoint, "recipient", n.SelfRecipient(), "endpoint", n.Endpoint())
	fmt.Fprintf(os.Stderr, "messagefs: mounted at %s as %s\n", mountpoint, n.SelfRecipient())

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case <-m.Done():
		if err = m.Err(); err != nil {
			logger.Error("file system stopped", "err", err)
		} else {
			logger.Info("unmounted from outside; stopping")
		}
	case err = <-nodeDone:
		logger.Error("node stopped", "err", err)
		nodeDone <- err
	}
	uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if uerr := m.Unmount(uctx); uerr != nil {
		logger.Warn("unmounting", "err", uerr)
	}
	stopNode()
	if nerr := <-nodeDone; err == nil {
		err = nerr
	}
	return err
}

func mountpointArg(args []string) (string, error) {
	switch len(args) {
	case 0:
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no MOUNTPOINT given and no home directory: %w", err)
		}
		return filepath.Join(home, "messagefs"), nil
	case 1:
		return args[0], nil
	default:
		return "", fmt.Errorf("too many arguments: expected one MOUNTPOINT, got %q", args)
	}
}

// defaultStateDir is $XDG_STATE_HOME/messagefs or ~/.local/state/messagefs.
func defaultStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "messagefs"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the state directory: set --state or $XDG_STATE_HOME: %w", err)
	}
	return filepath.Join(home, ".local", "state", "messagefs"), nil
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "messagefs: "+format+"\n", args...)
	os.Exit(1)
}
