#!/usr/bin/env bash
# ensure-kube.sh builds, once, the control-plane binaries the end-to-end tests
# of upgrade/kube run: kube-apiserver, kube-controller-manager and etcd. They
# are built from source through the Go module proxy (nothing else is
# downloaded) from the throwaway module in hack/kube-bins, copied to a
# temporary directory so that k8s.io/kubernetes never enters rollgate's own
# go.mod.
#
# The binaries land in .cache/kube/<version>/bin (override the cache root with
# KUBE_CACHE_DIR); a second run finds them there and returns at once. The
# script prints the bin directory on stdout, everything else on stderr.
# Concurrent runs are serialised by a lock file. A cold build takes about
# 8 minutes and 3 GB of memory on 2 cores; it runs under nice so that other
# work on the machine keeps going.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root/hack/kube-bins
version=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$src/go.mod")
if [ -z "$version" ]; then
	echo "ensure-kube: cannot read the k8s.io/kubernetes version from $src/go.mod" >&2
	exit 1
fi
cache=${KUBE_CACHE_DIR:-$root/.cache/kube}/$version
bin=$cache/bin
bins=(kube-apiserver kube-controller-manager etcd)

have_all() {
	local b
	for b in "${bins[@]}"; do
		[ -x "$bin/$b" ] || return 1
	done
}

if have_all; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
if ! flock -n 9; then
	echo "ensure-kube: another build is running; waiting for it" >&2
	flock 9
fi
if have_all; then
	echo "$bin"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kube-bins.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$src/." "$work/"

major=${version#v}
major=${major%%.*}
minor=${version#v*.}
minor=${minor%%.*}
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

start=$(date +%s)
echo "ensure-kube: building kube-apiserver, kube-controller-manager and etcd $version into $bin (cold: ~8 min)" >&2
(
	cd "$work"
	export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
	nice -n 10 go mod tidy
	mkdir -p "$work/out"
	nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$work/out/" \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager
	nice -n 10 go build -trimpath -ldflags "-s -w" -o "$work/out/etcd" ./etcd
)
mkdir -p "$bin"
for b in "${bins[@]}"; do
	mv -f "$work/out/$b" "$bin/$b.new"
	mv -f "$bin/$b.new" "$bin/$b"
done
end=$(date +%s)
echo "$((end - start))" >"$cache/build-seconds"
echo "ensure-kube: built in $((end - start)) s" >&2
echo "$bin"
