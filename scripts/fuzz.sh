#!/usr/bin/env bash
# Runs every fuzz target of the module for $FUZZTIME (default 3s) each.
# Corpora that the fuzzer finds interesting stay in the Go build cache;
# seeds and regressions live in each package's testdata/fuzz/.
#
# A target that fails and records a failing input in testdata/fuzz/ fails
# the run. A target whose fuzzing engine itself died without recording an
# input (a worker killed by the machine, a timeout under load) is run once
# more before it counts as a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
count=0
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		for try in 1 2; do
			echo "fuzz: $pkg $target ($fuzztime)"
			before=$(ls "$dir/testdata/fuzz/$target" 2>/dev/null | wc -l)
			if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
				break
			fi
			after=$(ls "$dir/testdata/fuzz/$target" 2>/dev/null | wc -l)
			if [ "$after" -gt "$before" ] || [ "$try" -eq 2 ]; then
				cat "$log"
				exit 1
			fi
			echo "fuzz: $target stopped without recording a failing input; running it once more"
			cat "$log"
		done
		count=$((count + 1))
	done
done
echo "fuzz: $count targets passed"
