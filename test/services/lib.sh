#!/usr/bin/env bash
# Shared by check.sh and check-dev.sh (sourced): a throwaway Docker network with Postgres and Redis from the
# rig's stand-in images, assertions, and cleanup of exactly what this run created.
set -euo pipefail
SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$SERVICES_DIR/../rig/lib.sh"

RUN_ID="svc-$$"
NET="jetscale-$RUN_ID"
CREATED_CONTAINERS=()
PASSES=0
FAILURES=0
# shellcheck disable=SC2034 # used by the scripts that source this file
PG_USER=app PG_PASSWORD=app-pw PG_DB=app REDIS_PASSWORD=redis-pw
# shellcheck disable=SC2034
PG_URL="postgres://$PG_USER:$PG_PASSWORD@postgres:5432/$PG_DB"
# shellcheck disable=SC2034
REDIS_URL="redis://:$REDIS_PASSWORD@redis:6379/0"

cleanup() {
  local c
  for c in "${CREATED_CONTAINERS[@]}"; do docker rm -f -v "$c" >/dev/null 2>&1 || true; done
  docker network rm "$NET" >/dev/null 2>&1 || true
}
trap cleanup EXIT

pass() {
  PASSES=$((PASSES + 1))
  printf 'PASS %s\n' "$*"
}
fail() {
  FAILURES=$((FAILURES + 1))
  printf 'FAIL %s\n' "$*"
}
summary() {
  printf '%s: %d passed, %d failed\n' "$(basename "$0")" "$PASSES" "$FAILURES"
  [ "$FAILURES" -eq 0 ]
}

# run_detached NAME [docker run args...] IMAGE [cmd...]: a container named $RUN_ID-NAME, reachable on the
# network as NAME, removed on exit.
run_detached() {
  local name="$1"
  shift
  CREATED_CONTAINERS+=("$RUN_ID-$name")
  docker run -d --name "$RUN_ID-$name" --network "$NET" --network-alias "$name" "$@" >/dev/null
}
ip_of() { docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$RUN_ID-$1"; }
logs_of() { docker logs "$RUN_ID-$1" 2>&1 | tail -n "${2:-20}" | sed 's/^/    | /'; }

# wait_for DESCRIPTION SECONDS COMMAND...: retries COMMAND every 0.2 s until it succeeds.
wait_for() {
  local what="$1" limit="$2" deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail "$what (not within ${limit}s)"
      return 1
    fi
    sleep 0.2
  done
}

start_network() { docker network create "$NET" >/dev/null; }
start_postgres() {
  run_detached postgres -e POSTGRES_USER="$PG_USER" -e POSTGRES_PASSWORD="$PG_PASSWORD" -e POSTGRES_DB="$PG_DB" \
    jetscale-rig/postgres:15
  wait_for "postgres accepts connections" 60 docker exec "$RUN_ID-postgres" pg_isready -q -h 127.0.0.1 -U "$PG_USER"
}
start_redis() {
  run_detached redis -e REDIS_PASSWORD="$REDIS_PASSWORD" jetscale-rig/redis:7
  wait_for "redis answers" 30 docker exec "$RUN_ID-redis" redis-cli -a "$REDIS_PASSWORD" --no-auth-warning ping
}

# http METHOD URL [curl args...]: sets STATUS and BODY.
http() {
  local method="$1" url="$2" out
  shift 2
  out="$(curl -s -m 5 -X "$method" -w '\n%{http_code}' "$@" "$url" || true)"
  STATUS="${out##*$'\n'}"
  BODY="${out%$'\n'*}"
}
# expect NAME STATUS [jq-filter]: the last response had STATUS and (when given) the filter is true of its body.
expect() {
  local name="$1" status="$2" filter="${3:-}"
  if [ "$STATUS" != "$status" ]; then
    fail "$name: status $STATUS, expected $status; body: ${BODY:0:300}"
  elif [ -n "$filter" ] && ! jq -e "$filter" >/dev/null 2>&1 <<<"$BODY"; then
    fail "$name: body does not satisfy $filter: ${BODY:0:300}"
  else
    pass "$name"
  fi
}
# expect_body NAME STATUS SUBSTRING
expect_body() {
  if [ "$STATUS" = "$2" ] && [[ "$BODY" == *"$3"* ]]; then pass "$1"; else fail "$1: status $STATUS (expected $2), body ${BODY:0:300} (expected to contain $3)"; fi
}
