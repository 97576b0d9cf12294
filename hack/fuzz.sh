#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target of the given packages (default ./...),
# one after the other, each for FUZZTIME (default 30s). The targets are found
# with `go test -list '^Fuzz'`, so a new Fuzz function is picked up without
# touching this script. New failing inputs land in the package's
# testdata/fuzz/ as usual; the script stops at the first failure.
#
# Usage: FUZZTIME=1m hack/fuzz.sh [PACKAGES...]
set -euo pipefail

GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-30s}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ $# -gt 0 ] || set -- ./...

# `go test -list` prints each package's matching names, then one line
# "ok <import path> <time>" for it (or "? <path> [no test files]").
list="$("$GO" test -list '^Fuzz' "$@")"
targets=()
names=()
while read -r first second _; do
	case "$first" in
	Fuzz*) names+=("$first") ;;
	ok)
		for n in ${names[@]+"${names[@]}"}; do targets+=("$second $n"); done
		names=()
		;;
	*) names=() ;;
	esac
done <<<"$list"

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets in $*"
	exit 0
fi

echo "fuzz: ${#targets[@]} targets, ${FUZZTIME} each"
for t in "${targets[@]}"; do
	pkg="${t% *}"
	name="${t#* }"
	echo "=== fuzz $pkg $name"
	"$GO" test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" "$pkg"
done
