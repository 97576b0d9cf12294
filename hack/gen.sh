#!/usr/bin/env bash
# gen.sh regenerates the checked-in generated code: the DeepCopy methods of
# package status (status/zz_generated.deepcopy.go), with controller-gen.
#
# controller-gen is run with `go run` at a pinned version, so nothing needs
# installing; after the first run it builds from the module cache.
#
# Usage: hack/gen.sh            regenerate
#        hack/gen.sh --verify   fail if the checked-in files are stale
set -euo pipefail

CONTROLLER_GEN_VERSION="${CONTROLLER_GEN_VERSION:-v0.23.0}"
CONTROLLER_GEN="sigs.k8s.io/controller-tools/cmd/controller-gen@${CONTROLLER_GEN_VERSION}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

generate() {
	go run "$CONTROLLER_GEN" \
		object:headerFile=hack/boilerplate.go.txt \
		paths=./status/... "$@"
}

if [ "${1:-}" = "--verify" ]; then
	# Generate to stdout and compare: the work tree is left untouched.
	tmp="$(mktemp)"
	trap 'rm -f "$tmp"' EXIT
	generate output:object:stdout >"$tmp"
	if ! diff -u status/zz_generated.deepcopy.go "$tmp"; then
		echo "status/zz_generated.deepcopy.go is stale: run 'make generate'" >&2
		exit 1
	fi
	exit 0
fi

generate
