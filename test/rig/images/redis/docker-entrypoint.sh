#!/bin/sh
# Rig stand-in for the official redis image's entrypoint.
set -e
case "$1" in
  -*|*.conf) set -- redis-server "$@" ;;
esac
if [ "$1" = redis-server ]; then
  case " $* " in
    *" --requirepass "*) ;;
    *) [ -n "${REDIS_PASSWORD:-}" ] && set -- "$@" --requirepass "$REDIS_PASSWORD" ;;
  esac
  # The official image builds redis with protected mode off; do the same at run time unless a
  # config file or the flag says otherwise.
  case "$2 $*" in
    *.conf*|*--protected-mode*) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
fi
exec "$@"
