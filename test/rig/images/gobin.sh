#!/usr/bin/env bash
# Rig only: build one Go program from the Go module proxy into the rig cache.
#   gobin.sh NAME PACKAGE MODULE@VERSION [MODULE@VERSION ...]
# Builds PACKAGE (CGO_ENABLED=0, static) in a throwaway module that requires the given modules, so
# `replace` directives of the program's own go.mod (etcd has them) do not stop the build. Prints the
# binary's path: $RIG_CACHE/bin/NAME-<hash>/NAME. Cached: a second call with the same arguments does
# nothing.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=mod"

[ $# -ge 3 ] || die "usage: gobin.sh NAME PACKAGE MODULE@VERSION [MODULE@VERSION ...]"
name="$1" pkg="$2"
shift 2
key="$(hash_of "=$name" "=$pkg" "=$*" "=$(go env GOVERSION)")"
out="$RIG_CACHE/bin/$name-$key"
if [ -x "$out/$name" ]; then
  printf '%s\n' "$out/$name"
  exit 0
fi
work="$RIG_CACHE/gowork/$name-$key"
rm -rf "$work"
mkdir -p "$work" "$out"
(
  cd "$work"
  go mod init "jetscale.rig/build/$name" >/dev/null 2>&1
  log "   go: resolving $*"
  go get "$@" >/dev/null 2>"$work/get.log" || { cat "$work/get.log" >&2; exit 1; }
  log "   go: building $pkg (this takes a while the first time)"
  CGO_ENABLED=0 go build -p 2 -trimpath -ldflags '-s -w' -o "$out/$name.tmp" "$pkg"
  mv "$out/$name.tmp" "$out/$name"
)
printf '%s\n' "$out/$name"
