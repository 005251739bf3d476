#!/usr/bin/env bash
# Runs every fuzz target of the module for $FUZZTIME (default 3s) each.
# Corpora that the fuzzer finds interesting stay in the Go build cache;
# seeds and regressions live in each package's testdata/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3s}
count=0
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "fuzz: $pkg $target ($fuzztime)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz.$$.log 2>&1 || { cat /tmp/fuzz.$$.log; rm -f /tmp/fuzz.$$.log; exit 1; }
		count=$((count + 1))
	done
done
rm -f /tmp/fuzz.$$.log
echo "fuzz: $count targets passed"
