"""The dev target's reloader: runs `python -m pyapi` (or the given args) and restarts it when a .py file under
$SRC (default /srv) changes. Polling, not inotify: it works the same on bind mounts and synced volumes. It
compares change times (ctime), not mtimes: a sync (tar, docker cp) sets mtime to whole seconds, so two same-size
edits within one second would look equal."""

import os
import subprocess
import sys
import time

SRC = os.environ.get("SRC", "/srv")
POLL = float(os.environ.get("RELOAD_POLL_SECONDS", "0.2"))


def signature():
    sig = []
    for root, dirs, files in os.walk(SRC):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", ".git", ".venv")]
        for f in files:
            if f.endswith(".py"):
                p = os.path.join(root, f)
                try:
                    st = os.stat(p)
                except FileNotFoundError:
                    continue
                sig.append((p, st.st_ctime_ns, st.st_size))
    return sorted(sig)


def main():
    cmd = [sys.executable] + (sys.argv[1:] or ["-m", "pyapi"])
    last = signature()
    child = subprocess.Popen(cmd, cwd=SRC)
    try:
        while True:
            time.sleep(POLL)
            now = signature()
            if now == last:
                continue
            last = now
            print("reload: change seen; restarting", flush=True)
            child.terminate()
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            child = subprocess.Popen(cmd, cwd=SRC)
    except KeyboardInterrupt:
        pass
    finally:
        child.terminate()


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
