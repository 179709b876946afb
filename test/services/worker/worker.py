"""worker: a test service with no port and no route (issue 11). Takes jobs from the Redis list `jobs` (BLPOP),
pushes one result per job onto `results`. A job is JSON {"id": ..., "text": "..."}; its result is
{"id": ..., "text": "<TEXT>", "worker": "<hostname>"}, or {"error": "..."} for a job that is not such JSON.

  python3 worker.py           run (REDIS_URL, e.g. redis://:password@host:6379/0)
  python3 worker.py --check   liveness: exit 0 when Redis answers and the loop beat in the last 60 s
"""

import json
import os
import signal
import socket
import sys
import time

import redis

HEARTBEAT = os.environ.get("WORKER_HEARTBEAT", "/tmp/worker-heartbeat")
MAX_SILENCE = 60


def connect():
    url = os.environ.get("REDIS_URL", "")
    if not url:
        sys.exit("worker: REDIS_URL is empty; set it to a Redis URL such as redis://:password@host:6379/0")
    return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10, decode_responses=True)


def handle(raw):
    try:
        job = json.loads(raw)
        if not isinstance(job, dict) or not isinstance(job.get("text"), str):
            raise ValueError('a job is JSON {"id": ..., "text": "..."}')
    except ValueError as e:
        return {"error": str(e), "job": raw}
    return {"id": job.get("id"), "text": job["text"].upper(), "worker": socket.gethostname()}


def check():
    try:
        connect().ping()
    except redis.RedisError as e:
        sys.exit(f"worker check: Redis does not answer: {e}")
    try:
        age = time.time() - os.stat(HEARTBEAT).st_mtime
    except FileNotFoundError:
        sys.exit(f"worker check: no heartbeat at {HEARTBEAT}: the loop has not started")
    if age > MAX_SILENCE:
        sys.exit(f"worker check: the loop has been silent for {age:.0f}s")
    print("worker check: ok")


def run():
    r = connect()
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    print("worker: waiting for jobs on list 'jobs'", flush=True)
    while not stopping:
        with open(HEARTBEAT, "w"):
            pass
        try:
            item = r.blpop(["jobs"], timeout=5)
        except redis.RedisError as e:
            print(f"worker: Redis error: {e}; retrying", flush=True)
            time.sleep(2)
            continue
        if item is None:
            continue
        result = handle(item[1])
        r.rpush("results", json.dumps(result))
        print(f"worker: job done: {json.dumps(result)}", flush=True)
    print("worker: stopped", flush=True)


if __name__ == "__main__":
    check() if "--check" in sys.argv[1:] else run()
