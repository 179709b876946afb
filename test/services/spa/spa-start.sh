#!/bin/sh
# Writes the server block from API_UPSTREAM (a URL such as http://go-api:80) and runs nginx in the foreground.
set -eu
case "${API_UPSTREAM:-}" in
  http://* | https://*) ;;
  *)
    echo "spa: API_UPSTREAM='${API_UPSTREAM:-}' must be the API's URL, e.g. http://go-api:80" >&2
    exit 1
    ;;
esac
API_UPSTREAM="${API_UPSTREAM%/}"
export API_UPSTREAM
envsubst '${API_UPSTREAM}' </etc/nginx/spa/default.conf.template >/etc/nginx/conf.d/default.conf
exec nginx -e stderr -g 'daemon off;'
