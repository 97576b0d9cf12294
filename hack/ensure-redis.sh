#!/usr/bin/env bash
# ensure-redis.sh installs what the real-server tests of verify/ (and the
# Redis example) need when it is missing: redis-server and redis-cli (Debian
# package redis-server, which depends on redis-tools) and the Prometheus Redis
# exporter (Debian package prometheus-redis-exporter).
#
# The tests start throwaway instances themselves on free loopback ports; the
# packages' own system services are neither needed nor wanted, so this script
# stops them (and tells invoke-rc.d not to start them during the install where
# the machine honours policy-rc.d). It is idempotent and quiet when everything
# is already there.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
if ! command -v prometheus-redis-exporter >/dev/null 2>&1 && ! command -v redis_exporter >/dev/null 2>&1; then
	missing+=(prometheus-redis-exporter)
fi

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi

# Keep the packages' services from starting during the install: we do not
# use them. Only add a policy-rc.d if there is none, and remove ours after.
policy=/usr/sbin/policy-rc.d
added_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod +x "$policy"
	added_policy=1
fi
cleanup() {
	if [ -n "$added_policy" ]; then
		$SUDO rm -f "$policy"
	fi
}
trap cleanup EXIT

echo "ensure-redis: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Stop whatever the packages started anyway (no systemd here usually; harmless
# when nothing runs).
for svc in redis-server prometheus-redis-exporter; do
	if command -v service >/dev/null 2>&1; then
		$SUDO service "$svc" stop >/dev/null 2>&1 || true
	fi
done

command -v redis-server >/dev/null
command -v redis-cli >/dev/null
command -v prometheus-redis-exporter >/dev/null || command -v redis_exporter >/dev/null
