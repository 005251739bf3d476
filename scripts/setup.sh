#!/usr/bin/env bash
# Installs the Debian packages messagefs needs, if any is missing.
set -euo pipefail
need=()
command -v fusermount3 >/dev/null || need+=(fuse3)
pkg-config --exists libzmq 2>/dev/null || need+=(libzmq3-dev pkg-config)
command -v age >/dev/null || need+=(age)
command -v ip >/dev/null || need+=(iproute2)
command -v tmux >/dev/null || need+=(tmux)
[ ${#need[@]} -eq 0 ] && exit 0
echo "setup: installing ${need[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "setup: run as root: apt-get install -y ${need[*]}" >&2; exit 1; }
	sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${need[@]}" >/dev/null
