/**
 * Contract checks: the checks the team declares next to its services (services.<service>.checks, parsed by
 * src/declaration.ts), run against a deployed stack. Every loop runs those of its stage: ci-kind and preview
 * in `full` mode, live in `smoke` mode, where the HTTP client refuses anything but GET, HEAD and OPTIONS before
 * a connection opens (the declaration already refuses a writing check that would run in live).
 *
 * HTTP goes through node:http/node:https directly so `resolve` (like `curl --resolve`) can send a request
 * for `pr-101.app.jetscale.ai` to 127.0.0.1 while the Host header and TLS SNI stay the URL's host.
 */
import { randomUUID } from 'node:crypto';
import * as dns from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import {
  type DeclaredCheck,
  type JsonAssertion,
  type Method,
  READ_ONLY_METHODS,
  type Stage,
  type TextMatch,
} from './declaration.js';

export const CONTRACT_MODES = ['full', 'smoke'] as const;
export type ContractMode = (typeof CONTRACT_MODES)[number];

/**
 * Where a check's request goes: one public URL for every check (preview and live through the ingress, or a URL
 * given to the CLI), or each service's own forward (ci-kind, the CLI's test:ci).
 */
export type ContractTarget = { url: string } | { services: Record<string, string> };

export interface ContractOptions {
  /** The declared checks, each after those it uses (src/declaration.ts orders them). */
  checks: readonly DeclaredCheck[];
  /** Only the checks declared for this stage run. */
  stage: Stage;
  target: ContractTarget;
  /** `full` may write; `smoke` sends only GET, HEAD and OPTIONS. */
  mode: ContractMode;
  /** How long each check keeps retrying before it fails, in milliseconds. */
  deadlineMs: number;
  /** Pause between attempts of one check (default 1000 ms; never past the deadline). */
  intervalMs?: number;
  /**
   * For a settled target (ci-kind: a fresh cluster, every workload ready, nothing rolling out): a check that gets
   * the same failing answer (an HTTP status below 500 and the same unmet expectation) this many times in a row has
   * failed for certain, and fails then instead of at its deadline. Unset: every check retries until its deadline.
   */
  settledAfter?: number;
  /** The git SHA of the deployment: ${git.sha} in a check (assertions `when: git.sha` run only when it is set). */
  expectedSha?: string;
  /** The Helm release: ${release} in a check. */
  release?: string;
  /** Host name → IP address to connect to, like `curl --resolve`; Host header and SNI keep the URL's host. */
  resolve?: Record<string, string>;
  /** Accept any TLS certificate (self-signed preview certificates). */
  insecureTls?: boolean;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
  /** Called with one line per failed attempt and per finished check. */
  log?: (line: string) => void;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  /** The URL the check requested. */
  url: string;
  durationMs: number;
  attempts: number;
  /** On success what was seen; on failure the check, the URL and what came back. */
  detail: string;
}

export const DEFAULT_INTERVAL_MS = 1000;
/** Upper bound for one request; a check's deadline bounds it further. */
const MAX_REQUEST_TIMEOUT_MS = 15_000;
/** Lower bound for one request, so an attempt near the deadline can still complete. */
const MIN_REQUEST_TIMEOUT_MS = 1000;
const MAX_BODY_BYTES = 1024 * 1024;
const SNIPPET_CHARS = 300;

// ---------------------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------------------

export type HttpMethod = Method;

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Raised before any connection is opened when a writing method is asked for in smoke mode. */
export class SmokeModeWriteError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
  ) {
    super(`smoke mode sends GET, HEAD and OPTIONS requests only; refused ${method} ${url}`);
    this.name = 'SmokeModeWriteError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** A request that got no HTTP response: the network error code (ECONNREFUSED, ETIMEDOUT, …) and message. */
export class NetworkError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'NetworkError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export interface HttpClientOptions {
  mode: ContractMode;
  resolve?: Record<string, string>;
  insecureTls?: boolean;
  headers?: Record<string, string>;
}

/**
 * The only way contract checks talk HTTP. In smoke mode it refuses every method but GET, HEAD and OPTIONS
 * before opening a connection, so a live check cannot write.
 */
export class ContractHttpClient {
  private readonly mode: ContractMode;
  private readonly resolve: Map<string, string>;
  private readonly insecureTls: boolean;
  private readonly headers: Record<string, string>;

  constructor(options: HttpClientOptions) {
    validateMode(options.mode);
    this.mode = options.mode;
    this.resolve = validateResolve(options.resolve);
    this.insecureTls = options.insecureTls ?? false;
    this.headers = { ...(options.headers ?? {}) };
  }

  get(url: string, timeoutMs: number): Promise<HttpResponse> {
    return this.request('GET', url, { timeoutMs });
  }

  post(url: string, json: unknown, timeoutMs: number): Promise<HttpResponse> {
    return this.request('POST', url, { timeoutMs, json });
  }

  request(
    method: HttpMethod,
    url: string,
    options: { timeoutMs: number; json?: unknown; body?: string; headers?: Record<string, string> },
  ): Promise<HttpResponse> {
    if (this.mode === 'smoke') {
      if (!READ_ONLY_METHODS.includes(method)) return Promise.reject(new SmokeModeWriteError(method, url));
      // A server may take the method from a header instead: none of those is sent when only reading.
      const override = Object.keys({ ...this.headers, ...(options.headers ?? {}) }).find((h) =>
        /^x-(http-)?method(-override)?$/i.test(h),
      );
      if (override) return Promise.reject(new SmokeModeWriteError(`${method} with ${override}`, url));
    }
    const target = new URL(url);
    const isHttps = target.protocol === 'https:';
    const body =
      options.json !== undefined
        ? Buffer.from(JSON.stringify(options.json))
        : options.body !== undefined
          ? Buffer.from(options.body)
          : undefined;
    const headers: Record<string, string> = {
      accept: 'application/json, text/html;q=0.9, */*;q=0.1',
      'user-agent': 'jetscale-stack-contract',
      connection: 'close',
      ...this.headers,
    };
    if (body) {
      headers['content-type'] = options.json !== undefined ? 'application/json' : 'text/plain';
      headers['content-length'] = String(body.length);
    }
    Object.assign(headers, options.headers ?? {});
    const requestOptions: https.RequestOptions = {
      method,
      protocol: target.protocol,
      // URL keeps brackets around IPv6 literals; the request options want the bare address.
      hostname: target.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: target.port || (isHttps ? 443 : 80),
      path: `${target.pathname}${target.search}`,
      headers,
      agent: false,
      timeout: options.timeoutMs,
      lookup: this.lookup,
    };
    if (isHttps && this.insecureTls) requestOptions.rejectUnauthorized = false;
    const send = isHttps ? https.request : http.request;

    return new Promise<HttpResponse>((resolvePromise, reject) => {
      const req = send(requestOptions, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size >= MAX_BODY_BYTES) return;
          chunks.push(chunk);
          size += chunk.length;
        });
        res.on('end', () => {
          resolvePromise({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8'),
          });
        });
        res.on('error', (error) => reject(toNetworkError(error)));
      });
      req.on('timeout', () => {
        req.destroy(new NetworkError('ETIMEDOUT', `no response within ${options.timeoutMs} ms`));
      });
      req.on('error', (error) => reject(toNetworkError(error)));
      req.end(body);
    });
  }

  /** dns.lookup, except for hosts named in `resolve`. Handles both callback shapes (`all` or not). */
  private readonly lookup: LookupFunction = (hostname, options, callback) => {
    const address = this.resolve.get(hostname.toLowerCase());
    if (address === undefined) {
      dns.lookup(hostname, { ...options, all: options.all ?? false }, callback as never);
      return;
    }
    const family = isIP(address);
    if (options.all) {
      (callback as (err: null, addresses: dns.LookupAddress[]) => void)(null, [{ address, family }]);
    } else {
      callback(null, address, family);
    }
  };
}

function toNetworkError(error: unknown): NetworkError {
  if (error instanceof NetworkError) return error;
  const err = error as NodeJS.ErrnoException & { errors?: unknown[] };
  let code = err.code;
  // Happy-eyeballs connects (autoSelectFamily) fail with an AggregateError carrying one error per address.
  if (!code && Array.isArray(err.errors)) {
    code = (err.errors.find((e) => (e as NodeJS.ErrnoException).code) as NodeJS.ErrnoException | undefined)
      ?.code;
  }
  const message =
    err.message || (Array.isArray(err.errors) ? err.errors.map(String).join('; ') : String(error));
  return new NetworkError(code ?? 'EUNKNOWN', message);
}

// ---------------------------------------------------------------------------------------------------------
// Option validation
// ---------------------------------------------------------------------------------------------------------

function validateMode(mode: unknown): asserts mode is ContractMode {
  if (!CONTRACT_MODES.includes(mode as ContractMode)) {
    throw new TypeError(
      `contract mode: got ${JSON.stringify(mode)}; accepted: ${CONTRACT_MODES.join(' or ')}`,
    );
  }
}

function validateResolve(resolve: Record<string, string> | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const [host, address] of Object.entries(resolve ?? {})) {
    if (!host || /[\s:/]/.test(host)) {
      throw new TypeError(
        `contract resolve: host ${JSON.stringify(host)} is not a host name; accepted: a host name like pr-101.app.jetscale.ai mapped to an IP address`,
      );
    }
    if (isIP(address) === 0) {
      throw new TypeError(
        `contract resolve: ${host} → ${JSON.stringify(address)} is not an IP address; accepted: an IPv4 or IPv6 address like 127.0.0.1`,
      );
    }
    map.set(host.toLowerCase(), address);
  }
  return map;
}

function validateBaseUrl(name: string, value: unknown): URL {
  let url: URL | undefined;
  if (typeof value === 'string') {
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash) {
    throw new TypeError(
      `contract ${name}: got ${JSON.stringify(value)}; accepted: an absolute http:// or https:// URL without query or fragment, like https://pr-101.app.jetscale.ai`,
    );
  }
  return url;
}

function validateDuration(name: string, value: unknown, minimum: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < minimum) {
    throw new TypeError(
      `contract ${name}: got ${JSON.stringify(value)}; accepted: a number of milliseconds ≥ ${minimum}`,
    );
  }
  return value;
}

/** base + path, keeping any path prefix the base URL has (https://host/prefix + /api/x). */
export function joinUrl(base: URL, path: string): string {
  const url = new URL(base.href);
  const rel = new URL(path, 'http://path.invalid');
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${rel.pathname}`;
  url.search = rel.search;
  return url.href;
}

// ---------------------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------------------

/** `final`: do not try again (a write that got an answer: another attempt would write again). */
/** `answer`: on an HTTP answer below 500, what was answered and expected (the same answer again is no progress). */
type Outcome = { ok: true; detail: string } | { ok: false; detail: string; final?: boolean; answer?: string };

interface CheckDefinition {
  name: string;
  url: string;
  /** One attempt; may keep state across attempts through its closure. */
  attempt: (timeoutMs: number) => Promise<Outcome>;
}

/**
 * Runs the stage's checks in order; each retries until its own deadline. A check whose used check did not pass is
 * reported failed without a request. Never throws for a failing check.
 */
export async function runContractChecks(opts: ContractOptions): Promise<CheckResult[]> {
  validateMode(opts.mode);
  const bases = validateTarget(opts.target);
  const deadlineMs = validateDuration('deadlineMs', opts.deadlineMs, 0);
  const intervalMs = validateDuration('intervalMs', opts.intervalMs ?? DEFAULT_INTERVAL_MS, 1);
  const settledAfter = opts.settledAfter;
  if (settledAfter !== undefined && (!Number.isInteger(settledAfter) || settledAfter < 2))
    throw new Error(`settledAfter is ${settledAfter}; accepted: a whole number of answers, at least 2`);
  if (
    opts.expectedSha !== undefined &&
    (typeof opts.expectedSha !== 'string' || opts.expectedSha.trim() === '')
  ) {
    throw new TypeError(
      `contract expectedSha: got ${JSON.stringify(opts.expectedSha)}; accepted: a non-empty git SHA`,
    );
  }
  const client = new ContractHttpClient({
    mode: opts.mode,
    resolve: { ...routeHostsResolve(opts.checks, bases.url, opts.resolve), ...opts.resolve },
    insecureTls: opts.insecureTls,
    headers: opts.headers,
  });
  const log = opts.log ?? (() => {});
  const vars: Vars = new Map<string, unknown>([
    ['run.id', `${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`],
  ]);
  if (opts.expectedSha) vars.set('git.sha', opts.expectedSha);
  if (opts.release) vars.set('release', opts.release);

  const results: CheckResult[] = [];
  const passed = new Set<string>();
  for (const check of opts.checks) {
    if (!check.stages.includes(opts.stage)) continue;
    const blocker = check.uses.find((u) => !passed.has(u));
    let url: string;
    try {
      url = checkUrl(check, bases, vars);
    } catch (error) {
      results.push({
        name: check.name,
        ok: false,
        url: check.path,
        durationMs: 0,
        attempts: 0,
        detail: `${check.name}: ${(error as Error).message}`,
      });
      continue;
    }
    const result = blocker
      ? {
          name: check.name,
          ok: false,
          url,
          durationMs: 0,
          attempts: 0,
          detail: `${check.name} not run: it uses ${blocker}, which did not pass`,
        }
      : await runCheck(declaredCheck(client, check, url, vars), deadlineMs, intervalMs, log, settledAfter);
    if (result.ok) passed.add(check.id);
    log(
      `${result.name}: ${result.ok ? 'ok' : 'FAILED'} after ${result.attempts} attempt(s), ${formatSeconds(result.durationMs)}`,
    );
    results.push(result);
  }
  return results;
}

function validateTarget(target: ContractTarget): { url?: URL; services: Map<string, URL> } {
  if ('url' in target) return { url: validateBaseUrl('url', target.url), services: new Map() };
  return {
    services: new Map(
      Object.entries(target.services).map(([s, u]) => [s, validateBaseUrl(`url of ${s}`, u)] as const),
    ),
  };
}

/** ${run.id}, ${git.sha}, ${release}, ${<service>/<check>.<saved>} → their values (saved ones as JSON values). */
type Vars = Map<string, unknown>;

const textOf = (v: unknown) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v));

/** Text with each ${name} replaced (a saved object or list as JSON); an unknown one is left as written. */
function substitute(text: string, vars: Vars): string {
  return text.replace(/\$\{([^}]+)\}/g, (whole, name: string) =>
    vars.has(name) ? textOf(vars.get(name)) : whole,
  );
}

/** In JSON, a string that is exactly one ${name} becomes that value itself (a saved 7 stays the number 7). */
function substituteJson(value: unknown, vars: Vars): unknown {
  if (typeof value === 'string') {
    const only = /^\$\{([^}]+)\}$/.exec(value);
    if (only && vars.has(only[1] as string)) return vars.get(only[1] as string);
    return substitute(value, vars);
  }
  if (Array.isArray(value)) return value.map((v) => substituteJson(v, vars));
  if (isRecord(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteJson(v, vars)]));
  return value;
}

/**
 * A route with a host of its own is still reached where the stage's URL goes (its address, or its resolve entry):
 * only the Host header and SNI change. Never a lookup of the route host elsewhere (that may be production).
 */
function routeHostsResolve(
  checks: readonly DeclaredCheck[],
  url: URL | undefined,
  resolve: Record<string, string> | undefined,
): Record<string, string> {
  if (!url) return {};
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const address =
    isIP(host) !== 0 ? host : (resolve?.[host] ?? (host === 'localhost' ? '127.0.0.1' : undefined));
  const out: Record<string, string> = {};
  for (const c of checks)
    if (c.target.host && c.target.host !== host) {
      if (!address)
        throw new TypeError(
          `contract: check ${c.id} goes to host ${c.target.host}, which the URL ${url.href} cannot reach by address; give resolve for ${host}`,
        );
      out[c.target.host] = address;
    }
  return out;
}

/** The public URL (or the route's own host on it), or the forward of the check's service. */
function checkUrl(
  check: DeclaredCheck,
  bases: { url?: URL; services: Map<string, URL> },
  vars: Vars,
): string {
  const path = substitute(check.path, vars);
  if (bases.url) {
    const base = new URL(bases.url.href);
    if (check.target.host) base.hostname = check.target.host;
    return joinUrl(base, path);
  }
  const forward = bases.services.get(check.target.service);
  if (!forward)
    throw new TypeError(`contract: no URL for service ${check.target.service} (check ${check.id})`);
  return joinUrl(forward, check.target.stripPrefix ? stripPrefix(check.target.stripPrefix, path) : path);
}

/**
 * What a route with stripPrefix hands its service, as the ingress does (test/rig/ingress): the route's path off
 * the front, element-wise, query kept ("/py" and "/py/x?q=1" → "/x?q=1", "/py" → "/"). A path the route does not
 * match is left alone.
 */
export function stripPrefix(prefix: string, path: string): string {
  const p = prefix.length > 1 ? prefix.replace(/\/+$/, '') : prefix;
  const q = path.search(/[?#]/);
  const [pathname, rest] = q < 0 ? [path, ''] : [path.slice(0, q), path.slice(q)];
  if (pathname !== p && !pathname.startsWith(`${p}/`)) return path;
  return `${pathname.slice(p.length) || '/'}${rest}`;
}

function declaredCheck(
  client: ContractHttpClient,
  check: DeclaredCheck,
  url: string,
  vars: Vars,
): CheckDefinition {
  const writes = !READ_ONLY_METHODS.includes(check.method);
  const json = check.json === undefined ? undefined : substituteJson(check.json, vars);
  const body = check.body === undefined ? undefined : substitute(check.body, vars);
  const headers = Object.fromEntries(Object.entries(check.headers).map(([h, v]) => [h, substitute(v, vars)]));
  return {
    name: check.name,
    url,
    attempt: async (timeoutMs) => {
      const res = await client.request(check.method, url, { timeoutMs, json, body, headers });
      const parsed = parseJson(res.body);
      const problem = firstUnmet(check, res, parsed, vars);
      // A write that got an answer is not sent again (it may have written), unless the answer says "not reached".
      if (problem)
        return {
          ...fail(check.method, url, res, problem),
          final: writes && ![502, 503, 504].includes(res.status),
        };
      for (const [name, path] of Object.entries(check.save)) {
        const found = evaluatePath(parsed, path);
        if (found.length !== 1) return fail(check.method, url, res, `a value at ${path} to save as ${name}`);
        vars.set(`${check.id}.${name}`, found[0]);
      }
      return pass(describeMet(check, res, vars));
    },
  };
}

/** The first expectation the response does not meet, in words ("expected 200", "expected sha = abc, got …"). */
function firstUnmet(check: DeclaredCheck, res: HttpResponse, json: unknown, vars: Vars): string | undefined {
  const e = check.expect;
  if (!e.status.includes(res.status)) return `expected ${e.status.join(' or ')}`;
  for (const [h, m] of Object.entries(e.headers)) {
    const value = String(res.headers[h] ?? '');
    if (!textMatches(value, m, vars))
      return `expected header ${h} ${describeText(m, vars)}, got ${JSON.stringify(value)}`;
  }
  if (e.body && !textMatches(res.body, e.body, vars))
    return `expected a body that ${describeText(e.body, vars)}`;
  for (const a of e.json) {
    if (a.when && !vars.has(a.when)) continue;
    const problem = unmetJson(a, json, vars);
    if (problem) return problem;
  }
  return undefined;
}

function textMatches(value: string, m: TextMatch, vars: Vars): boolean {
  if (m.equals !== undefined) return value === substitute(m.equals, vars);
  if (m.contains !== undefined) return value.includes(substitute(m.contains, vars));
  return new RegExp(substitute(m.matches ?? '', vars)).test(value);
}

function describeText(m: TextMatch, vars: Vars): string {
  if (m.equals !== undefined) return `= ${JSON.stringify(substitute(m.equals, vars))}`;
  if (m.contains !== undefined) return `containing ${substitute(m.contains, vars)}`;
  return `matching /${substitute(m.matches ?? '', vars)}/`;
}

/** Equal as JSON values; a number and its text count as equal ("7" from a variable, 7 in the body). */
const same = (a: unknown, b: unknown): boolean =>
  a === b ||
  (a !== null && b !== null && typeof a !== 'object' && typeof b !== 'object'
    ? String(a) === String(b)
    : canonical(a) === canonical(b));

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isRecord(v))
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'undefined';
}

function unmetJson(a: JsonAssertion, json: unknown, vars: Vars): string | undefined {
  if (json === undefined) return `expected a JSON body with ${a.path}`;
  const found = evaluatePath(json, a.path);
  const expected = substituteJson('equals' in a ? a.equals : a.includes, vars);
  const got = found.length === 1 ? JSON.stringify(found[0]) : `${found.length} values`;
  if ('includes' in a) {
    const pool = found.flatMap((v) => (Array.isArray(v) ? v : [v]));
    return pool.some((v) => same(v, expected))
      ? undefined
      : `expected ${a.path} to include ${JSON.stringify(expected)}`;
  }
  if (found.length === 0) return `expected a value at ${a.path}`;
  if ('equals' in a)
    return found.length === 1 && same(found[0], expected)
      ? undefined
      : `expected ${a.path} ${JSON.stringify(expected)}, got ${got}`;
  if (a.matches !== undefined)
    return found.every((v) => new RegExp(substitute(a.matches as string, vars)).test(String(v)))
      ? undefined
      : `expected ${a.path} matching /${a.matches}/, got ${got}`;
  if (a.type !== undefined)
    return found.every((v) => typeOf(v) === a.type)
      ? undefined
      : `expected ${a.path} of type ${a.type}, got ${got}`;
  return found.every((v) => !isEmpty(v)) ? undefined : `expected ${a.path} not empty, got ${got}`;
}

function typeOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function isEmpty(v: unknown): boolean {
  return (
    v === null ||
    v === '' ||
    (Array.isArray(v) && v.length === 0) ||
    (isRecord(v) && Object.keys(v).length === 0)
  );
}

/** What passed, for the log and the comment: the status and each JSON value asserted or saved. */
function describeMet(check: DeclaredCheck, res: HttpResponse, vars: Vars): string {
  const parts = [String(res.status)];
  for (const a of check.expect.json) {
    if (a.when && !vars.has(a.when)) continue;
    if ('equals' in a) parts.push(`${a.path} ${JSON.stringify(substituteJson(a.equals, vars))}`);
    else if (a.includes !== undefined)
      parts.push(`${a.path} includes ${JSON.stringify(substituteJson(a.includes, vars))}`);
  }
  for (const name of Object.keys(check.save)) parts.push(`saved ${name} ${vars.get(`${check.id}.${name}`)}`);
  return parts.join(', ');
}

/**
 * A small path language over parsed JSON: names separated by dots, [n] for an index, [*] for every element
 * (a.b[0].c, items[*].id). Returns every value found (none when the path leads nowhere).
 */
export function evaluatePath(json: unknown, path: string): unknown[] {
  let current: unknown[] = [json];
  for (const token of path.match(/[^.[\]]+|\[[^\]]*\]/g) ?? []) {
    const next: unknown[] = [];
    for (const v of current) {
      if (token === '[*]') {
        if (Array.isArray(v)) next.push(...v);
      } else if (/^\[\d+\]$/.test(token)) {
        const i = Number(token.slice(1, -1));
        if (Array.isArray(v) && i < v.length) next.push(v[i]);
      } else if (isRecord(v) && Object.hasOwn(v, token)) next.push(v[token]);
    }
    current = next;
  }
  return current;
}

async function runCheck(
  check: CheckDefinition,
  deadlineMs: number,
  intervalMs: number,
  log: (line: string) => void,
  settledAfter?: number,
): Promise<CheckResult> {
  const started = performance.now();
  const deadline = started + deadlineMs;
  let attempts = 0;
  let outcome: Outcome;
  let same = 0;
  let last: string | undefined;
  let certain = false;
  for (;;) {
    attempts++;
    const remaining = deadline - performance.now();
    const timeoutMs = Math.round(
      Math.min(MAX_REQUEST_TIMEOUT_MS, Math.max(MIN_REQUEST_TIMEOUT_MS, remaining)),
    );
    try {
      outcome = await check.attempt(timeoutMs);
    } catch (error) {
      if (error instanceof SmokeModeWriteError) throw error;
      outcome = { ok: false, detail: describeNetworkError(error, check.url) };
    }
    if (outcome.ok) break;
    log(`${check.name}: attempt ${attempts}: ${outcome.detail}`);
    if (outcome.final) break;
    same = outcome.answer !== undefined && outcome.answer === last ? same + 1 : 1;
    last = outcome.answer;
    if (settledAfter !== undefined && last !== undefined && same >= settledAfter) {
      certain = true;
      break;
    }
    const left = deadline - performance.now();
    if (left <= 0) break;
    await sleep(Math.min(intervalMs, left));
  }
  const durationMs = Math.round(performance.now() - started);
  const detail = outcome.ok
    ? outcome.detail
    : `${check.name} failed after ${attempts} attempt(s) in ${formatSeconds(durationMs)}${certain ? ` (the same answer ${same} times in a row from a settled target: not retried until the deadline)` : ''}: ${outcome.detail}`;
  return { name: check.name, ok: outcome.ok, url: check.url, durationMs, attempts, detail };
}

function pass(detail: string): Outcome {
  return { ok: true, detail };
}

function fail(method: HttpMethod, url: string, res: HttpResponse, expected: string): Outcome {
  const type = res.headers['content-type'] ? ` (${res.headers['content-type']})` : '';
  return {
    ok: false,
    detail: `${method} ${url} → ${res.status}${type}: ${snippet(res.body)} — ${expected}`,
    answer: res.status < 500 ? `${res.status} — ${expected}` : undefined,
  };
}

function describeNetworkError(error: unknown, url: string): string {
  const err = toNetworkError(error);
  return `${url} → ${err.code}: ${err.message}`;
}

function snippet(body: string): string {
  if (body === '') return '(empty body)';
  const head = body.slice(0, SNIPPET_CHARS).replace(/\s+/g, ' ');
  return body.length > SNIPPET_CHARS ? `${head}…` : head;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}

// ---------------------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------------------

/** A plain-text table of the results, then one line per failure with what came back. */
export function formatReport(results: readonly CheckResult[]): string {
  const header = ['CHECK', 'RESULT', 'ATTEMPTS', 'TIME', 'URL'];
  const rows = results.map((r) => [
    r.name,
    r.ok ? 'ok' : 'FAIL',
    String(r.attempts),
    formatSeconds(r.durationMs),
    r.url,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const failed = results.filter((r) => !r.ok);
  const out = [line(header), ...rows.map(line)];
  out.push(`${results.length} check(s): ${results.length - failed.length} passed, ${failed.length} failed`);
  for (const r of failed) out.push(`FAIL ${r.detail}`);
  return out.join('\n');
}

/** The contract was not met: names every failed check, its URL and what came back. */
export class ContractFailure extends Error {
  constructor(readonly failed: readonly CheckResult[]) {
    super(
      `Contract checks failed: ${failed.map((c) => `${c.name} (${c.url}): ${c.detail || 'failed'}`).join('; ')}`,
    );
    this.name = 'ContractFailure';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** Throws ContractFailure when any check failed. */
export function assertContract(results: readonly CheckResult[]): void {
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) throw new ContractFailure(failed);
}
