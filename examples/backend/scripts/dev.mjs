#!/usr/bin/env node
// Dev runner: runs a server entry and restarts it whenever a file under the watched directory changes, fast
// enough for a live-update loop (file landed -> new process serving in a few hundred milliseconds).
//   node scripts/dev.mjs <entry> [args...]     (watches the entry's directory; DEV_WATCH=dir to choose another)
// Why not `tsx watch`: it watches single files, and a file replaced by unpacking a tar (Tilt's and Skaffold's
// sync) now and then stops being noticed, so it has to poll, and it boots a fresh process per change. Here:
//  - each directory is watched (inotify), which a replaced file cannot escape; 15 ms debounce;
//  - a standby process is always warm: Node booted, the TypeScript loader and the package's runtime
//    dependencies imported, one file put through the loader. On a change the running server is killed and the standby imports the
//    entry from disk and listens; a new standby warms up behind it.
//  - package.json, package-lock.json, tsconfig.json and an `npm install` (node_modules/.package-lock.json) make
//    the standby stale: it is replaced before the restart.
// A change that lands while a restart is under way restarts again once it is done: no change is missed.
// With PORT set, the runner itself listens on PORT for the whole session and relays each connection to the
// current server, which gets a private PORT of its own (so the server must listen on PORT). A restart then never
// closes or refuses the port: a connection made while no server is up waits for the next one. Kubernetes'
// port-forward (Tilt's) drops on a refused or reset connection and takes ~1 s to come back. A connection is
// relayed only to the newest server; when the old one is killed, a connection it served carries its next request
// to the new one (a kept-alive browser or poller sees the edit without reconnecting), else it is closed (FIN).
// TypeScript: tsx's loader when the project has tsx, else Node's own type stripping.
// Keep this file identical in examples/backend and examples/frontend (a test compares them).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const STANDBY = '--jetscale-dev-standby';
const DEBOUNCE_MS = 15;
const COLD_FILES = new Set(['package.json', 'package-lock.json', 'tsconfig.json']);
const RELAY_RETRY_MS = 5; // a relayed connection tries the server this often until it listens
const RELINK_WAIT_MS = 2000; // how long a connection whose server was killed waits for its next request
const RELAY_WAIT_MS = 60_000; // and gives up (closes) after this long without a server

if (process.argv[2] === STANDBY) await standby(process.argv[3], process.argv.slice(4));
else supervise(process.argv[2], process.argv.slice(3));

function log(message) {
  console.error(`[dev] ${message}`);
}

/** In the standby process: warm up, then on "start" import the entry as if it had been run directly. */
async function standby(entry, args) {
  if (process.env.DEV_PRELOAD !== '0') {
    let deps = {};
    try {
      deps = JSON.parse(readFileSync('package.json', 'utf8')).dependencies ?? {};
    } catch {
      // no package.json: nothing to preload
    }
    // Only what a runtime import would load anyway; one that cannot be imported (CSS, types) is left alone.
    await Promise.allSettled(Object.keys(deps).map((name) => import(name)));
  }
  // The loader's first transform is slow (tsx starts esbuild, Node loads its stripper): do one now, on a file
  // no cache has seen. Without it the first changed file after a restart costs ~0.1-0.2 s more.
  const warm = join(tmpdir(), `jetscale-dev-warm-${process.pid}-${Date.now()}.ts`);
  try {
    writeFileSync(warm, `export const warm: number = ${Date.now()};\n`);
    await import(pathToFileURL(warm).href);
  } catch {
    // only slower
  } finally {
    rmSync(warm, { force: true });
  }
  process.once('message', async (message) => {
    if (message?.start !== true) return;
    if (message.port) process.env.PORT = String(message.port); // the runner relays PORT to this one
    process.channel?.unref(); // from here the server alone keeps the process alive
    // The runner gone (killed, crashed) would leave this server holding the port: stop as if it sent SIGTERM.
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
    process.argv = [process.argv[0], entry, ...args];
    await import(pathToFileURL(entry).href);
  });
  process.send('ready');
}

function supervise(entryArg, args) {
  if (!entryArg) {
    console.error('usage: node scripts/dev.mjs <entry.ts|entry.js> [args...]');
    process.exit(2);
  }
  const entry = resolve(entryArg);
  const watchDir = resolve(process.env.DEV_WATCH || dirname(entry));
  const loader = [];
  try {
    createRequire(resolve('package.json')).resolve('tsx');
    loader.push('--import', 'tsx');
  } catch {
    if (/\.[cm]?ts$/.test(entry) && !process.features.typescript) {
      console.error(
        `[dev] ${entryArg} is TypeScript, but this project has no tsx and Node ${process.version} cannot strip types: install tsx or use Node >= 22.18`,
      );
      process.exit(2);
    }
  }

  const spawnStandby = () => {
    const child = spawn(process.execPath, [...loader, import.meta.filename, STANDBY, entry, ...args], {
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      // its own process group: a terminal's Ctrl-C reaches the runner only, which passes it on once
      detached: true,
    });
    child.ready = new Promise((done) => {
      child.once('message', (m) => done(m === 'ready'));
      child.once('exit', () => done(false));
    });
    return child;
  };

  let current; // the server process
  let spare = spawnStandby();
  let stopping = false;
  let queued; // the restart waiting to run, if any: one is enough for any number of changes
  let chain = Promise.resolve();
  let busy = false; // a restart is running
  let timer;
  // The relay: PORT is ours while the runner runs; `target` is the server connections go to (none while it
  // restarts). Without PORT (a laptop's `npm run dev` may not set it) the server listens on its own.
  const publicPort = /^\d+$/.test(process.env.PORT ?? '') ? Number(process.env.PORT) : 0;
  const relay =
    publicPort > 0 && publicPort < 65536 ? createServer({ allowHalfOpen: true }, relayed) : undefined;
  let target;

  // A restart needs the port back, not a graceful drain (that can take a second or more: pools, retries), so
  // the old server is killed. Stopping the runner (SIGTERM, SIGINT) passes the signal on: that stop is graceful.
  const kill = (child) =>
    new Promise((done) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return done();
      child.restarted = true;
      child.once('exit', () => done());
      child.kill('SIGKILL');
    });

  const restart = (why, cold) => {
    if (queued) {
      queued.cold ||= cold;
      return;
    }
    const job = { cold };
    queued = job;
    chain = chain.then(async () => {
      queued = undefined; // changes from now on are not guaranteed to be read by this start: queue another
      if (stopping) return;
      busy = true;
      try {
        await restartNow(why, job);
      } catch (error) {
        log(`restart failed (${error.message}); waiting for a change`); // the chain must go on
      } finally {
        busy = false;
      }
    });
  };
  const restartNow = async (why, job) => {
    const started = performance.now();
    if (job.cold) {
      const stale = spare;
      spare = spawnStandby();
      stale.kill('SIGKILL');
    }
    const old = target;
    target = undefined; // from here no new connection reaches the old server
    await kill(current);
    if (old) for (const link of old.links) link.close();
    let next = spare;
    if (!(await next.ready)) {
      next = spawnStandby();
      if (!(await next.ready)) {
        log('the standby process failed to start; waiting for a change');
        spare = spawnStandby();
        return;
      }
    }
    const port = relay ? await freePort() : undefined;
    current = next;
    // the callback takes a send error (the standby died meanwhile): the exit handler below reports it
    current.send({ start: true, port }, () => {});
    if (relay) target = { child: next, port, links: new Set() };
    next.once('exit', (code, signal) => {
      if (!next.restarted && !stopping)
        log(`server exited (${signal ?? `code ${code}`}); waiting for a change`);
    });
    log(`${why} in ${Math.round(performance.now() - started)} ms`);
    spare = spawnStandby();
  };
  const changed = (why, cold) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      restart(why, cold);
    }, DEBOUNCE_MS);
  };

  // One inotify watch per directory, not fs.watch's `recursive`: on Linux that watches each file, and a file
  // replaced by a tar unpack is not watched any more (its next edits are missed).
  const watched = new Map();
  const watchTree = (dir) => {
    if (watched.has(dir)) return;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
      const watcher = watch(dir, (_event, file) => {
        if (file) watchTree(join(dir, file)); // a new subdirectory (readdirSync fails on a file: ignored)
        changed(`${file ? relative(watchDir, join(dir, file)) : dir} changed: restarted`, false);
      });
      watcher.on('error', () => {
        watcher.close();
        watched.delete(dir);
      });
      watched.set(dir, watcher);
    } catch {
      return; // not a directory, or gone
    }
    for (const entry of entries) if (entry.isDirectory()) watchTree(join(dir, entry.name));
  };
  watchTree(watchDir);
  watch('.', (_event, file) => {
    if (file && COLD_FILES.has(file)) changed(`${file} changed: restarted cold`, true);
  });
  try {
    watch('node_modules', (_event, file) => {
      if (file === '.package-lock.json') changed('node_modules changed: restarted cold', true);
    });
  } catch {
    // no node_modules yet: nothing installed to go stale
  }

  // One client connection: wait for a server (retrying its private port), then pipe both ways. Ends are passed
  // on as FIN (a half-closed side stays open for the other), never as a reset.
  async function relayed(client) {
    client.setNoDelay(true);
    let gone = false;
    client.on('error', () => {});
    client.once('close', () => {
      gone = true;
    });
    const deadline = Date.now() + RELAY_WAIT_MS;
    for (;;) {
      if (gone) return;
      const t = target;
      const alive = t && t.child.exitCode === null && t.child.signalCode === null;
      if (alive) {
        const upstream = await new Promise((done) => {
          const s = connect({ host: '127.0.0.1', port: t.port, allowHalfOpen: true, noDelay: true });
          s.once('connect', () => done(s));
          s.once('error', () => done(undefined));
        });
        if (upstream && target === t && !gone) return link(client, upstream, t);
        upstream?.destroy();
      } else if (!busy && !queued && !timer && !stopping) {
        client.end(); // the server exited and nothing will start another until a change
        return;
      }
      if (Date.now() > deadline || stopping) {
        if (!gone) log(`no server listened on its PORT within ${RELAY_WAIT_MS / 1000} s: connection closed`);
        client.end();
        return;
      }
      await new Promise((r) => setTimeout(r, RELAY_RETRY_MS));
    }
  }
  function link(client, upstream, t) {
    const entry = {
      // The server is gone, and what it sent has been passed on. A kept-alive client sends its next request on
      // this connection: that request goes to the next server (relayed() again). Ending the connection instead
      // leaves a port-forwarded client waiting: the port-forward keeps its local side open until the kubelet's
      // stream ends (measured through Tilt's port-forward: each edit showed ~0.8 s later). A client that sends
      // nothing within RELINK_WAIT_MS (a response cut off by the kill) gets FIN.
      close: () => {
        if (entry.closed) return;
        entry.closed = true;
        t.links.delete(entry);
        upstream.unpipe(client);
        client.unpipe(upstream);
        client.removeListener('data', entry.watch);
        client.pause(); // a next request waits in the buffer for the next server
        upstream.destroy();
        const finish = () => {
          client.end();
          client.resume();
          setTimeout(() => client.destroy(), 5000).unref();
        };
        // A request the killed server never began to answer: a GET or HEAD goes again to the next server (an edit's
        // poll or page load lands at the moment of the restart); any other method might have been carried out, so
        // the client gets the close and decides.
        if (target !== t && entry.unanswered.length) {
          if (!/^(GET|HEAD) /.test(entry.unanswered[0].toString('latin1', 0, 5))) return finish();
          client.unshift(Buffer.concat(entry.unanswered));
          return relayed(client);
        }
        // The running server ended it, or the client asked it to (its last request said Connection: close, or
        // was HTTP/1.0): no next request comes, so the client's side ends now.
        if (target === t || entry.lastRequestCloses) return finish();
        const end = () => {
          client.removeListener('readable', next);
          finish();
        };
        const timer = setTimeout(end, RELINK_WAIT_MS);
        const next = () => {
          clearTimeout(timer);
          if (client.readableEnded || client.readableLength === 0) return end();
          process.nextTick(() => relayed(client));
        };
        client.once('readable', next);
      },
    };
    t.links.add(entry);
    // the client's bytes since the server last sent any: a request it has not begun to answer
    entry.unanswered = [];
    upstream.on('data', () => {
      entry.unanswered = [];
    });
    entry.watch = (chunk) => {
      entry.unanswered.push(chunk);
      const head = chunk.toString('latin1', 0, 2048);
      const request = /^[A-Z]+ \S+ HTTP\/1\.([01])\r\n/.exec(head);
      if (request)
        entry.lastRequestCloses = request[1] === '0' || /\r\nconnection:[ \t]*close\r\n/i.test(head);
    };
    client.on('data', entry.watch);
    upstream.on('error', entry.close);
    upstream.once('end', entry.close);
    upstream.once('close', entry.close);
    client.once('close', () => {
      t.links.delete(entry);
      upstream.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client, { end: false }); // its end is entry.close's to pass on (or not)
  }

  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.once(signal, async () => {
      stopping = true;
      relay?.close(); // connections already relayed go on while the server stops
      spare.kill('SIGKILL');
      const child = current;
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        child.once('exit', (code) => process.exit(code ?? 1));
      } else process.exit(0);
    });
  }
  if (relay) {
    relay.on('error', (error) => {
      console.error(`[dev] cannot listen on PORT=${publicPort}: ${error.message}`);
      process.exit(1);
    });
    relay.listen(publicPort, () => {
      log(`listening on ${publicPort}; each server gets a private PORT and connections are relayed to it`);
    });
  }
  restart('server started', false);
}

/** A port free right now on all interfaces, as a server listening on PORT binds it. */
function freePort() {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}
