#!/usr/bin/env bash
# Proves the test services' dev targets without Kubernetes: each dev image runs with a read-only root filesystem
# and its source directory writable (as a dev deployment would), an edited file is copied in with `docker cp`
# (what a live-update sync does) and the time from the copy to the changed response is measured. No image is
# rebuilt between edits. Prints the seconds of every edit; exit 0 when every edit is seen in time.
#   bash test/services/check-dev.sh [EDITS per service, default 3]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$RIG_DIR/images/build.sh"
EDITS="${1:-3}"
GO_LIMIT=2.0 # issue 12: the Go API's edit-to-visible, compile included
RO=(--read-only --tmpfs "/tmp:uid=10001,gid=10001,exec")
TIMES=()

mkdir -p "$RIG_CACHE/tmp"
ensure_image "$BASE_IMAGE" "$(base_hash)" build_base
ensure_golang_image
for s in go-api py-api spa; do
  log "   jetscale-rig/$s:dev: docker build --target dev (layers cached by Docker)"
  build_service_target "$s" dev "jetscale-rig/$s:dev" "$(service_hash "$s" dev)"
done

start_network
start_postgres

# measure NAME FILE_IN_CONTAINER LOCAL_EDITED_FILE URL EXPECTED [LIMIT]: copies the file in, then asks URL every
# 50 ms until its body contains EXPECTED (30 s at most); prints and records the seconds.
measure() {
  local name="$1" dest="$2" file="$3" url="$4" want="$5" limit="${6:-}" t0 dt body=""
  t0=$(date +%s.%N)
  docker cp -q "$file" "$RUN_ID-$name:$dest"
  while :; do
    body="$(curl -s -m 2 "$url" || true)"
    [[ "$body" == *"$want"* ]] && break
    if awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { exit !(b - a > 30) }'; then
      fail "$name: '$want' not served 30 s after the edit (last body: ${body:0:200})"
      logs_of "$name"
      return 1
    fi
    sleep 0.05
  done
  dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  TIMES+=("$name=$dt")
  if [ -n "$limit" ] && awk -v d="$dt" -v l="$limit" 'BEGIN { exit !(d > l) }'; then
    fail "$name: edit served after ${dt}s (limit ${limit}s)"
  else
    pass "$name: edit served after ${dt}s"
  fi
}
edited() { # edited SRC SED-EXPR: a temp copy of SRC with the edit, its path printed
  local out
  out="$(mktemp "/tmp/$RUN_ID-edit.XXXXXX")"
  sed "$2" "$1" >"$out"
  chmod 0644 "$out"
  printf '%s' "$out"
}

echo "== go-api dev: dev/reload.sh rebuilds and restarts on change"
run_detached go-api "${RO[@]}" -v /src -e GOAPI_DB="$PG_URL?sslmode=disable" jetscale-rig/go-api:dev
GO="http://$(ip_of go-api):9000"
wait_for "go-api dev serves /v1/hello" 120 curl -fs "$GO/v1/hello" || logs_of go-api
for i in $(seq 1 "$EDITS"); do
  f="$(edited go-api/handlers.go "s/^const helloMessage = .*/const helloMessage = \"go edit $i\"/")"
  measure go-api /src/handlers.go "$f" "$GO/v1/hello" "go edit $i" "$GO_LIMIT"
  rm -f "$f"
done
f="$(edited go-api/handlers.go 's/^const helloMessage = .*/const helloMessage = not valid go/')"
docker cp -q "$f" "$RUN_ID-go-api:/src/handlers.go"
rm -f "$f"
wait_for "go-api dev reports the failed build" 20 sh -c "docker logs $RUN_ID-go-api 2>&1 | grep -q 'build failed; the previous server keeps running'" &&
  http GET "$GO/v1/hello" && expect "go-api dev: a broken edit keeps the previous server serving" 200 ".message == \"go edit $EDITS\""
f="$(edited go-api/handlers.go 's/^const helloMessage = .*/const helloMessage = "go fixed"/')"
measure go-api /src/handlers.go "$f" "$GO/v1/hello" "go fixed" "$GO_LIMIT"
rm -f "$f"
docker logs "$RUN_ID-go-api" 2>&1 | grep 'reload: built in' | sed 's/^/    | /'

echo "== py-api dev: the reloader restarts on a .py change"
run_detached py-api "${RO[@]}" -v /srv -e DATABASE_URL="$PG_URL" jetscale-rig/py-api:dev
PY="http://$(ip_of py-api):8000"
wait_for "py-api dev serves /hello" 30 curl -fs "$PY/hello" || logs_of py-api
for i in $(seq 1 "$EDITS"); do
  f="$(edited py-api/pyapi/__main__.py "s/^HELLO = .*/HELLO = \"py edit $i\"/")"
  measure py-api /srv/pyapi/__main__.py "$f" "$PY/hello" "py edit $i"
  rm -f "$f"
done
http GET "$PY/-/ready" && expect "py-api dev: ready after the reloads" 200 '.postgres == "ok"'
docker exec "$RUN_ID-py-api" sh -c '/opt/venv/bin/python -c "import psycopg2, sys; print(sys.prefix)"' | grep -q /opt/venv &&
  pass "py-api dev: the venv (requirements.txt) sees Debian's psycopg2" || fail "py-api dev venv"

echo "== spa dev: an edited file is served at once"
run_detached go-api-for-spa "${RO[@]}" -e GOAPI_DB="$PG_URL?sslmode=disable" --network-alias go-api-rt jetscale-rig/go-api:rig
run_detached spa "${RO[@]}" -v /var/lib/nginx -v /run/nginx -v /etc/nginx/conf.d -v /usr/share/spa \
  -e API_UPSTREAM=http://go-api-rt:9000 jetscale-rig/spa:dev
SPA="http://$(ip_of spa):8080"
wait_for "spa dev serves /" 20 curl -fs "$SPA/" || logs_of spa
http GET "$SPA/" && [[ "$(curl -sI "$SPA/")" == *"Cache-Control: no-store"* ]] && pass "spa dev: Cache-Control: no-store" || fail "spa dev cache header"
for i in $(seq 1 "$EDITS"); do
  f="$(edited spa/html/index.html "s|<p id=\"message\">.*</p>|<p id=\"message\">spa edit $i</p>|")"
  measure spa /usr/share/spa/index.html "$f" "$SPA/" "spa edit $i"
  rm -f "$f"
done

printf 'edit-to-visible seconds: %s\n' "${TIMES[*]}"
summary
