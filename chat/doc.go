// Package chat is mfs-chat: a terminal chat over a mounted messagefs tree.
//
// It talks to the node through the mounted files only, never through any
// other connection:
//
//	MOUNT/NAME           conversation with trusted peer NAME (read = log,
//	                     one write(2) = one message)
//	MOUNT/.all           everyone; MOUNT/GROUP/.all a group's log
//	MOUNT/.peers         alias, ZRE name, state and fingerprint of each peer
//	MOUNT/.events        live stream: msg, enter, exit, pending, join, ...
//	MOUNT/keys/NAME.pub  writing an age1... key trusts it
//
// The conversation pane is filled by reading the log file and then kept live
// by reading only what was appended to it, whenever .events announces a
// message for it: the byte offset already shown is the bookmark, so nothing
// is shown twice or missed, however events and reads interleave.
//
// The Model is a bubbletea model whose Update does no I/O itself: every
// file operation runs in a tea.Cmd (plain functions taking the mount
// directory) and comes back as a message. Run wires it to a terminal and to
// a goroutine that reads .events.
//
// Remote text is already sanitized by the file system; the chat replaces
// control and format characters again before rendering (see Sanitize), so
// nothing it shows can act on the terminal.
package chat
