// Package keyring keeps the keys a messagefs node trusts and its own
// identity on disk.
//
// A Keyring is a directory with one file per trusted peer, ALIAS.pub, holding
// that peer's age recipient ("age1...") under an "# added:" comment. Files are
// replaced atomically (temporary file, fsync, rename, fsync of the
// directory), so a crash leaves every key file either as it was or as it was
// meant to become. Open removes temporary files a crash left behind and
// reports, then ignores, any key file it cannot read: a damaged file is never
// trusted.
//
// Pending holds, in memory and in bounded number, the keys that untrusted
// nodes announce, named by fingerprint, until the user trusts or ignores
// them.
//
// LoadIdentity and WriteIdentity read and create the node's identity file
// (the format of age-keygen, optionally passphrase protected), refusing files
// that other users could read.
package keyring
