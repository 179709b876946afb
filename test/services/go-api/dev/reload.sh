#!/bin/sh
# The dev target's supervisor: polls the source for changes, rebuilds, and restarts the server, so a synced
# edit is live without an image rebuild. A failed build keeps the running server and prints the compiler's
# error. Compiles offline: GOPROXY=off, modules and a warm build cache come with the image.
set -u
SRC="${SRC:-/src}"
BIN=/tmp/go-api-dev/go-api
POLL="${RELOAD_POLL_SECONDS:-0.2}"
mkdir -p /tmp/go-api-dev

# Under a read-only root filesystem (the chart's default) the image's build cache cannot be written:
# work on a copy in /tmp, which is always writable.
if ! mkdir -p "$GOCACHE" 2>/dev/null || ! touch "$GOCACHE/.writable" 2>/dev/null; then
  [ -d /tmp/go-build ] || cp -R "$GOCACHE" /tmp/go-build 2>/dev/null || mkdir -p /tmp/go-build
  export GOCACHE=/tmp/go-build
fi

say() { printf 'reload: %s\n' "$*" >&2; }
# Signature of the source: every .go file, go.mod and go.sum with its change time and size. ctime, not mtime:
# a sync (tar, docker cp) sets mtime to whole seconds, so two same-size edits in one second would look equal.
signature() {
  find "$SRC" -path "$SRC/.git" -prune -o -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) \
    -printf '%p %C@ %s\n' | sort | md5sum
}
build() {
  t0=$(date +%s.%N)
  if (cd "$SRC" && go build -o "$BIN.new" .); then
    mv "$BIN.new" "$BIN"
    say "built in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')s"
    return 0
  fi
  say "build failed; the previous server keeps running"
  return 1
}
pid=""
start() {
  "$BIN" "$@" &
  pid=$!
}
stop() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=""
  fi
}
trap 'stop; exit 0' TERM INT

[ $# -gt 0 ] || set -- serve
last="$(signature)"
build || say "waiting for a source that compiles"
[ -x "$BIN" ] && start "$@"
while :; do
  sleep "$POLL"
  now="$(signature)"
  [ "$now" = "$last" ] && continue
  last="$now"
  say "change seen; rebuilding"
  if build; then
    stop
    start "$@"
  fi
done
