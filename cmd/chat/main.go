// Command mfs-chat is a terminal chat over a mounted messagefs tree.
//
// Usage:
//
//	mfs-chat [--mount DIR] [PEER|GROUP]
//
// It shows the conversation with PEER, the log of GROUP, or everyone
// (.all), keeps it live from DIR/.events, and sends each line typed with
// one write(2). It uses nothing but the files under DIR (default
// $HOME/messagefs). Type /help inside for keys and commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/messagefs/messagefs/chat"
)

const usage = `Usage: mfs-chat [--mount DIR] [PEER|GROUP]

A terminal chat over a messagefs mount: shows the conversation with PEER,
the log of GROUP, or everyone (.all) by default, and sends what you type.

Options:
  --mount DIR   the messagefs mount (default $HOME/messagefs)

Inside, /help lists the keys and the commands (/open, /trust, /pending,
/group, /add, /leave, /quit).
`

func main() {
	flag.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	mount := flag.String("mount", "", "the messagefs mount (default $HOME/messagefs)")
	// Flags may also follow the conversation name: mfs-chat alice --mount DIR.
	var names []string
	for args := os.Args[1:]; ; {
		flag.CommandLine.Parse(args) // exits on errors
		if args = flag.Args(); len(args) == 0 {
			break
		}
		names, args = append(names, args[0]), args[1:]
	}
	if len(names) > 1 {
		flag.Usage()
		os.Exit(2)
	}
	open := ""
	if len(names) == 1 {
		open = names[0]
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err := chat.Run(ctx, chat.Options{Mount: *mount, Open: open})
	if err != nil {
		stop()
		fmt.Fprintf(os.Stderr, "mfs-chat: %v\n", err)
		os.Exit(1)
	}
}
