#!/usr/bin/env bash
# make demo: two messagefs nodes on this machine's loopback (no beacons),
# alice and bob, trust each other through keys/ and talk with echo and cat.
# Everything lives under .demo/ and is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin
demo=$PWD/.demo

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; eval "$@"; }

for tool in fusermount3 pkg-config; do
	command -v "$tool" >/dev/null || { echo "demo: $tool is missing: sudo apt-get install fuse3 libzmq3-dev pkg-config" >&2; exit 1; }
done
[ -e /dev/fuse ] || { echo "demo: /dev/fuse is missing: load the fuse module (sudo modprobe fuse)" >&2; exit 1; }

pids=()
cleanup() {
	for who in alice bob; do
		mountpoint -q "$demo/$who/mnt" 2>/dev/null && fusermount3 -u "$demo/$who/mnt" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	for who in alice bob; do
		mountpoint -q "$demo/$who/mnt" 2>/dev/null && fusermount3 -uz "$demo/$who/mnt" 2>/dev/null || true
	done
	rm -rf "$demo"
}
trap cleanup EXIT
rm -rf "$demo"

freeport() {
	local p
	while :; do
		p=$(shuf -i 50000-59999 -n 1)
		ss -ltn "sport = :$p" | grep -q LISTEN || { echo "$p"; return; }
	done
}
port_alice=$(freeport)
port_bob=$(freeport)

say "1. Each person makes an identity (an age X25519 key)"
for who in alice bob; do
	mkdir -p "$demo/$who/mnt"
	run "$bin/mfs-keygen -o $demo/$who/identity"
done

say "2. Each starts a node and mounts it (loopback only: --no-beacon --peer)"
start() { # who port peerport
	"$bin/messagefs" --identity "$demo/$1/identity" --state "$demo/$1/state" --name "$1" \
		--no-beacon --bind 127.0.0.1 --port "$2" --peer "tcp://127.0.0.1:$3" \
		--log-level warn "$demo/$1/mnt" 2>"$demo/$1/log" &
	pids+=($!)
}
start alice "$port_alice" "$port_bob"
start bob "$port_bob" "$port_alice"
for who in alice bob; do
	for _ in $(seq 100); do [ -e "$demo/$who/mnt/keys/self.pub" ] && break; sleep 0.1; done
	[ -e "$demo/$who/mnt/keys/self.pub" ] || { echo "demo: $who did not mount:"; cat "$demo/$who/log"; exit 1; }
done
A=$demo/alice/mnt B=$demo/bob/mnt
run "ls -la $A $A/keys"

say "3. Untrusted nodes show up as pending keys, named by fingerprint"
for _ in $(seq 100); do [ -n "$(ls "$A/keys/pending")" ] && break; sleep 0.1; done
run "ls $A/keys/pending"
run "cat $A/.peers"

say "4. Trust: alice copies bob's public key in; bob moves alice's pending key"
run "cp $B/keys/self.pub $A/keys/bob.pub"
fpr=$(ls "$B/keys/pending" | head -n1)
run "mv $B/keys/pending/$fpr $B/keys/alice.pub"
run "ls -l $A"

say "5. Talk: one write is one message, sealed for the peer before it leaves"
run "echo 'hi bob, this is alice' > $A/bob"
run "echo 'hello alice! the mesh works' > $B/alice"
run "echo 'see you at five' > $A/bob"
for _ in $(seq 100); do [ "$(wc -l < "$B/alice")" -ge 4 ] && [ "$(wc -l < "$A/bob")" -ge 4 ] && break; sleep 0.1; done

say "6. Read: each side's file is the whole conversation"
run "cat $A/bob"
run "cat $B/alice"
run "cat $A/.outbox   # empty: everything was acknowledged"

say "7. Groups: a directory is a group, .all writes to all its members"
run "mkdir $A/team && touch $A/team/bob"
for _ in $(seq 100); do [ -d "$B/team" ] && break; sleep 0.1; done
run "ls $B/team   # bob was invited"
run "echo 'standup in five minutes' > $A/team/.all"
run "echo 'on my way' > $B/team/.all"
for _ in $(seq 100); do [ "$(wc -l < "$B/team/.all")" -ge 2 ] && [ "$(wc -l < "$A/team/.all")" -ge 2 ] && break; sleep 0.1; done
run "cat $B/team/.all"

say "Done: both nodes unmount and stop now."
