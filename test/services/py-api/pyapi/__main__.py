"""python3 -m pyapi: serve on $PORT (default 8000). Routes: / and /hello; /-/ready checks Postgres (DATABASE_URL).

Served behind the route /py with the prefix stripped, so it knows nothing of /py.
"""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

# What GET /hello answers (check-dev.sh edits it to time the reloader).
HELLO = "hello from py-api"


def db_ready():
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return "DATABASE_URL is empty; set it to a postgres URL"
    try:
        conn = psycopg2.connect(url, connect_timeout=2)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
        finally:
            conn.close()
    except psycopg2.Error as e:
        return str(e).strip()
    return None


class Handler(BaseHTTPRequestHandler):
    server_version = "py-api"

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/":
            self.send_json(200, {"service": "py-api", "greeting": os.environ.get("GREETING", "")})
        elif path == "/hello":
            self.send_json(200, {"message": HELLO})
        elif path == "/-/ready":
            problem = db_ready()
            if problem:
                self.send_json(503, {"postgres": "error", "error": problem})
            else:
                self.send_json(200, {"postgres": "ok"})
        else:
            self.send_json(404, {"error": f"no route {path}"})

    def log_message(self, fmt, *args):
        if not self.path.startswith("/-/"):
            sys.stdout.write("py-api: %s %s\n" % (self.address_string(), fmt % args))
            sys.stdout.flush()


def main():
    port = int(os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer(("", port), Handler)
    server.daemon_threads = True
    # SIGTERM (Kubernetes, the reloader) ends serve_forever cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"py-api: serving on :{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
