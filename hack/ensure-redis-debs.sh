#!/usr/bin/env bash
# ensure-redis-debs.sh makes two builds of the Redis server available side by
# side for the rolling-upgrade example and its integration test: for every
# Debian version given (default: the bookworm release and its security
# update), it downloads the redis-server and redis-tools packages of exactly
# that version with `apt-get download` and unpacks them with `dpkg -x` into
# .cache/redis/<version>/ under the repository root. The binaries are then
# at .cache/redis/<version>/usr/bin/redis-server and .../redis-cli.
#
# It installs the shared libraries the binaries need when `ldd` reports one
# missing. It is idempotent and prints nothing when every version is cached.
#
# Usage: hack/ensure-redis-debs.sh [VERSION...]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${REDIS_DEBS_CACHE:-$root/.cache/redis}"

if [ $# -eq 0 ]; then
	set -- "5:7.0.15-1~deb12u7" "5:7.0.15-1~deb12u10"
fi

if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
	SUDO=sudo
else
	SUDO=
fi

updated=
apt_update() {
	if [ -z "$updated" ]; then
		$SUDO apt-get update -qq >/dev/null
		updated=1
	fi
}

# missing_libs prints the shared libraries ldd cannot resolve for $1.
missing_libs() {
	ldd "$1" 2>/dev/null | awk '/not found/ {print $1}'
}

for ver in "$@"; do
	dest="$cache/$ver"
	if [ ! -x "$dest/usr/bin/redis-server" ] || [ ! -x "$dest/usr/bin/redis-cli" ]; then
		echo "ensure-redis-debs: fetching redis-server and redis-tools $ver" >&2
		tmp="$(mktemp -d)"
		# apt-get download writes into the working directory; the _apt user
		# must be able to write there when run as root.
		chmod 0777 "$tmp"
		if ! (cd "$tmp" && apt-get download -qq "redis-server=$ver" "redis-tools=$ver" >/dev/null 2>&1); then
			apt_update
			(cd "$tmp" && apt-get download -qq "redis-server=$ver" "redis-tools=$ver" >/dev/null)
		fi
		unpack="$dest.partial.$$"
		rm -rf "$unpack"
		mkdir -p "$unpack"
		for deb in "$tmp"/*.deb; do
			dpkg -x "$deb" "$unpack"
		done
		rm -rf "$tmp" "$dest"
		mv "$unpack" "$dest"
	fi

	# Shared libraries (liblzf1, libjemalloc2, ...) come from Debian.
	for bin in redis-server redis-cli; do
		libs="$(missing_libs "$dest/usr/bin/$bin")"
		if [ -n "$libs" ]; then
			pkgs=()
			for lib in $libs; do
				pkg="$(dpkg -S "*/$lib" 2>/dev/null | head -n1 | cut -d: -f1 || true)"
				if [ -z "$pkg" ]; then
					case "$lib" in
					liblzf.so.*) pkg=liblzf1 ;;
					libjemalloc.so.*) pkg=libjemalloc2 ;;
					libsystemd.so.*) pkg=libsystemd0 ;;
					libssl.so.*|libcrypto.so.*) pkg=libssl3 ;;
					*) echo "ensure-redis-debs: $bin $ver needs $lib and no package is known for it" >&2; exit 1 ;;
					esac
				fi
				pkgs+=("$pkg")
			done
			echo "ensure-redis-debs: installing ${pkgs[*]} for $bin $ver" >&2
			apt_update
			DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
			if [ -n "$(missing_libs "$dest/usr/bin/$bin")" ]; then
				echo "ensure-redis-debs: $bin $ver still misses: $(missing_libs "$dest/usr/bin/$bin" | tr '\n' ' ')" >&2
				exit 1
			fi
		fi
	done
done
