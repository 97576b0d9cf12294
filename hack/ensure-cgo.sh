#!/usr/bin/env bash
# ensure-cgo.sh installs a C compiler and the C library headers when they are
# missing: `go test -race` needs cgo. Idempotent, and silent when gcc is there.
set -euo pipefail

if command -v "${CC:-gcc}" >/dev/null 2>&1; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
echo "ensure-cgo: installing gcc and libc6-dev (for the race detector)" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
