#!/usr/bin/env bash
# Proves the test services (test/services/*) without Kubernetes: each rig image (jetscale-rig/<name>:rig, built
# or reused by `test/rig/images/build.sh services`) runs as the chart runs it (non-root, read-only root
# filesystem, /tmp and its writable paths as volumes) next to a throwaway Postgres and Redis on a Docker network,
# and its endpoints are asked. Needs Docker, curl and jq. Exit 0 when every check passes.
#   bash test/services/check.sh [--no-build]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "${1:-}" = --no-build ] || bash "$RIG_DIR/images/build.sh" services
RO=(--read-only --tmpfs "/tmp:uid=10001,gid=10001")

start_network
start_postgres
start_redis

echo "== go-api migrate"
migrate() { docker run --rm --network "$NET" -e GOAPI_DB="$PG_URL?sslmode=disable" "${RO[@]}" "$@" jetscale-rig/go-api:rig migrate 2>&1; }
# Two at once on an empty database: the advisory lock lets one create the table and the other find it.
migrate >"/tmp/$RUN_ID-m1.log" &
m1=$!
migrate >"/tmp/$RUN_ID-m2.log" &
m2=$!
rc1=0 rc2=0
wait "$m1" || rc1=$?
wait "$m2" || rc2=$?
both="$(cat "/tmp/$RUN_ID-m1.log" "/tmp/$RUN_ID-m2.log")"
rm -f "/tmp/$RUN_ID-m1.log" "/tmp/$RUN_ID-m2.log"
sed 's/^/    | /' <<<"$both"
if [ "$rc1$rc2" = 00 ] && [ "$(grep -c 'created table notes' <<<"$both")" = 1 ] &&
  [ "$(grep -c 'already exists, nothing to do' <<<"$both")" = 1 ]; then
  pass "two concurrent migrates: exit 0 both, one creates the table, the other finds it"
else
  fail "two concurrent migrates (exit $rc1 and $rc2)"
fi
out="$(migrate)" && [[ "$out" == *"already exists, nothing to do"* ]] &&
  pass "migrate again: exit 0, nothing to do" || fail "migrate again: $out"
rc=0
out="$(migrate -e GOAPI_MIGRATE_FAIL=1)" || rc=$?
sed 's/^/    | /' <<<"$out"
if [ "$rc" = 1 ] && [[ "$(tail -n1 <<<"$out")" == "go-api: error: migration failed on purpose"* ]]; then
  pass "GOAPI_MIGRATE_FAIL=1: exit 1 with a clear last line"
else
  fail "GOAPI_MIGRATE_FAIL=1: exit $rc (expected 1)"
fi

echo "== go-api serve (the image's own command, as the Go-only stack runs it)"
run_detached go-api "${RO[@]}" -e GOAPI_DB="$PG_URL?sslmode=disable" -e PORT=9000 -e GIT_SHA=abc123 jetscale-rig/go-api:rig
GO="http://$(ip_of go-api):9000"
wait_for "go-api /health answers 200" 20 curl -fs "$GO/health" || logs_of go-api
http GET "$GO/health" && expect "go-api GET /health" 200 '.status == "ok" and .db == "ok"'
http GET "$GO/v1/version" && expect "go-api GET /v1/version" 200 '.service == "go-api" and .sha == "abc123"'
http POST "$GO/v1/notes" -H 'content-type: application/json' -d '{"text":"check note"}'
expect "go-api POST /v1/notes" 201 '(.id | type) == "number" and .text == "check note"'
NOTE_ID="$(jq -r .id <<<"$BODY" 2>/dev/null || true)"
http GET "$GO/v1/notes" && expect "go-api GET /v1/notes includes the new id" 200 "[.notes[].id] | index($NOTE_ID // -1) != null"
http POST "$GO/v1/notes" -d '{"nope":1}' && expect "go-api POST /v1/notes without text: 400" 400 '.error | test("text")'
[ "$(docker exec "$RUN_ID-go-api" id -u)" = 10001 ] && pass "go-api runs as uid 10001" || fail "go-api uid"
run_detached go-api-nodb "${RO[@]}" -e GOAPI_DB="postgres://app:wrong@postgres:5432/app?sslmode=disable" jetscale-rig/go-api:rig
wait_for "go-api without its database starts" 20 curl -s "http://$(ip_of go-api-nodb):9000/v1/version"
http GET "http://$(ip_of go-api-nodb):9000/health" && expect "go-api /health is 503 when the database refuses it" 503 '.status == "error"'

echo "== py-api (python3 -m pyapi in /srv, as four.yaml runs it)"
run_detached py-api "${RO[@]}" -w /srv -e DATABASE_URL="$PG_URL" -e PORT=8000 -e 'GREETING=costs $(5) today' \
  jetscale-rig/py-api:rig python3 -m pyapi
PY="http://$(ip_of py-api):8000"
wait_for "py-api /-/ready answers 200" 20 curl -fs "$PY/-/ready" || logs_of py-api
http GET "$PY/-/ready" && expect "py-api GET /-/ready" 200 '.postgres == "ok"'
http GET "$PY/hello" && expect "py-api GET /hello (the route /py with its prefix stripped)" 200 '.message == "hello from py-api"'
http GET "$PY/" && expect "py-api GET /" 200 '.service == "py-api" and .greeting == "costs $(5) today"'
http GET "$PY/py/hello" && expect "py-api knows nothing of /py: 404" 404
run_detached py-api-nodb "${RO[@]}" -w /srv -e DATABASE_URL="postgres://app:wrong@postgres:5432/app" jetscale-rig/py-api:rig python3 -m pyapi
wait_for "py-api without its database starts" 20 curl -s "http://$(ip_of py-api-nodb):8000/"
http GET "http://$(ip_of py-api-nodb):8000/-/ready" && expect "py-api /-/ready is 503 when the database refuses it" 503 '.postgres == "error"'
# liveness is a TCP probe: the port accepts connections
(exec 3<>"/dev/tcp/$(ip_of py-api)/8000") 2>/dev/null && pass "py-api accepts TCP on 8000 (liveness)" || fail "py-api TCP 8000"

echo "== spa (read-only root; writable: /tmp, /var/lib/nginx, /run/nginx, /etc/nginx/conf.d)"
# Anonymous volumes start as copies of the image's directories, as the chart's writablePaths do.
run_detached spa "${RO[@]}" -v /var/lib/nginx -v /run/nginx -v /etc/nginx/conf.d -e API_UPSTREAM=http://go-api:9000 \
  jetscale-rig/spa:rig
SPA="http://$(ip_of spa):8080"
wait_for "spa answers on 8080" 20 curl -fs "$SPA/" || logs_of spa
http GET "$SPA/" && expect_body 'spa GET / has id="root"' 200 'id="root"'
http GET "$SPA/some/client/route" && expect_body "spa serves index.html for client routes" 200 'id="root"'
http GET "$SPA/api/version" && expect "spa GET /api/version → go-api /v1/version" 200 '.service == "go-api" and .sha == "abc123"'
http GET "$SPA/api/notes" && expect "spa GET /api/notes → go-api, with the saved note" 200 "[.notes[].id] | index($NOTE_ID // -1) != null"
[ "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$RUN_ID-spa")" = true ] && [ "$(docker exec "$RUN_ID-spa" id -u)" = 10001 ] &&
  ! docker exec "$RUN_ID-spa" sh -c 'touch /usr/share/spa/x' 2>/dev/null &&
  pass "spa: uid 10001, root filesystem read-only (writing under /usr/share/spa fails)" || fail "spa read-only/non-root"
rc=0
out="$(docker run --rm "${RO[@]}" -e API_UPSTREAM=http://go-api:9000 jetscale-rig/spa:rig 2>&1)" || rc=$?
[ "$rc" != 0 ] && [[ "$out" == *"Read-only file system"* ]] &&
  pass "spa without its writable paths fails at start, naming the read-only file system" ||
  fail "spa without writable paths: exit $rc, $out"
out="$(docker run --rm "${RO[@]}" -v /var/lib/nginx -v /run/nginx -v /etc/nginx/conf.d -e API_UPSTREAM=go-api jetscale-rig/spa:rig 2>&1)" &&
  fail "spa with API_UPSTREAM=go-api started" || { [[ "$out" == *"API_UPSTREAM='go-api' must be"* ]] && pass "spa refuses an API_UPSTREAM that is not a URL" || fail "spa bad API_UPSTREAM: $out"; }

echo "== worker (no port; BLPOP jobs → results)"
run_detached worker "${RO[@]}" -e REDIS_URL="$REDIS_URL" jetscale-rig/worker:rig python3 /srv/worker.py
rcli() { docker exec "$RUN_ID-redis" redis-cli -a "$REDIS_PASSWORD" --no-auth-warning "$@"; }
rcli RPUSH jobs '{"id":"j1","text":"hello worker"}' >/dev/null
rcli RPUSH jobs 'not json' >/dev/null
r1="$(rcli BLPOP results 10 | tail -n1)"
r2="$(rcli BLPOP results 10 | tail -n1)"
jq -e '.id == "j1" and .text == "HELLO WORKER"' >/dev/null 2>&1 <<<"$r1" && pass "worker: job j1 → results $r1" || { fail "worker result: '$r1'"; logs_of worker; }
jq -e '.error and .job == "not json"' >/dev/null 2>&1 <<<"$r2" && pass "worker: a bad job → an error result" || fail "worker bad job result: '$r2'"
[ "$(docker inspect -f '{{len .Config.ExposedPorts}}' jetscale-rig/worker:rig)" = 0 ] && pass "worker image exposes no port" || fail "worker exposes a port"
docker exec "$RUN_ID-worker" python3 /srv/worker.py --check && pass "worker --check: exit 0 (exec liveness)" || fail "worker --check"
rc=0
out="$(docker run --rm --network "$NET" "${RO[@]}" -e REDIS_URL="redis://:wrong@redis:6379/0" jetscale-rig/worker:rig python3 /srv/worker.py --check 2>&1)" || rc=$?
[ "$rc" = 1 ] && [[ "$out" == *"Redis does not answer"* ]] && pass "worker --check: exit 1 when Redis refuses it" || fail "worker --check, wrong password: exit $rc, $out"

summary
