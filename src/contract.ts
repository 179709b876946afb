/**
 * Contract checks: prove that a deployed stack answers the example services contract (backend health and
 * readiness, an API round trip, the frontend page, and /api reached through the frontend's URL).
 * Every loop runs them: ci-kind and preview in `full` mode, live in `smoke` mode (GET requests only).
 *
 * HTTP goes through node:http/node:https directly so `resolve` (like `curl --resolve`) can send a request
 * for `pr-101.app.jetscale.ai` to 127.0.0.1 while the Host header and TLS SNI stay the URL's host.
 */
import { randomUUID } from 'node:crypto';
import * as dns from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';

export const CONTRACT_MODES = ['full', 'smoke'] as const;
export type ContractMode = (typeof CONTRACT_MODES)[number];

export const CHECK_NAMES = [
  'backend-health',
  'backend-ready',
  'api-round-trip',
  'frontend-page',
  'frontend-api',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export interface ContractOptions {
  /** Base URL of the frontend (e.g. https://pr-101.app.jetscale.ai). */
  frontendUrl: string;
  /** Base URL of the backend; defaults to frontendUrl (through an ingress, /api goes to the backend). */
  backendUrl?: string;
  /** `full` also writes (the API round trip); `smoke` sends GET requests only. */
  mode: ContractMode;
  /** How long each check keeps retrying before it fails, in milliseconds. */
  deadlineMs: number;
  /** Pause between attempts of one check (default 1000 ms; never past the deadline). */
  intervalMs?: number;
  /** When set, the frontend's /api/version must report exactly this SHA. */
  expectedSha?: string;
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
  name: CheckName;
  ok: boolean;
  /** The URL the check is about (for the round trip: the items collection). */
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

export type HttpMethod = 'GET' | 'POST';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Raised before any connection is opened when something other than GET is asked for in smoke mode. */
export class SmokeModeWriteError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
  ) {
    super(`smoke mode sends GET requests only; refused ${method} ${url}`);
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
 * The only way contract checks talk HTTP. In smoke mode it refuses every method but GET before
 * opening a connection, so a live check cannot write.
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
    options: { timeoutMs: number; json?: unknown },
  ): Promise<HttpResponse> {
    if (this.mode === 'smoke' && method !== 'GET') {
      return Promise.reject(new SmokeModeWriteError(method, url));
    }
    const target = new URL(url);
    const isHttps = target.protocol === 'https:';
    const body = options.json === undefined ? undefined : Buffer.from(JSON.stringify(options.json));
    const headers: Record<string, string> = {
      accept: 'application/json, text/html;q=0.9, */*;q=0.1',
      'user-agent': 'jetscale-stack-contract',
      connection: 'close',
      ...this.headers,
    };
    if (body) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(body.length);
    }
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
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  return url.href;
}

// ---------------------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------------------

type Outcome = { ok: true; detail: string } | { ok: false; detail: string };

interface CheckDefinition {
  name: CheckName;
  url: string;
  modes: readonly ContractMode[];
  /** One attempt; may keep state across attempts through its closure. */
  attempt: (timeoutMs: number) => Promise<Outcome>;
}

/** Runs the checks in order; each retries until its own deadline. Never throws for a failing check. */
export async function runContractChecks(opts: ContractOptions): Promise<CheckResult[]> {
  validateMode(opts.mode);
  const frontend = validateBaseUrl('frontendUrl', opts.frontendUrl);
  const backend = opts.backendUrl === undefined ? frontend : validateBaseUrl('backendUrl', opts.backendUrl);
  const deadlineMs = validateDuration('deadlineMs', opts.deadlineMs, 0);
  const intervalMs = validateDuration('intervalMs', opts.intervalMs ?? DEFAULT_INTERVAL_MS, 1);
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
    resolve: opts.resolve,
    insecureTls: opts.insecureTls,
    headers: opts.headers,
  });
  const log = opts.log ?? (() => {});

  const checks = defineChecks(client, frontend, backend, opts.expectedSha);
  const results: CheckResult[] = [];
  for (const check of checks) {
    if (!check.modes.includes(opts.mode)) continue;
    const result = await runCheck(check, deadlineMs, intervalMs, log);
    log(
      `${result.name}: ${result.ok ? 'ok' : 'FAILED'} after ${result.attempts} attempt(s), ${formatSeconds(result.durationMs)}`,
    );
    results.push(result);
  }
  return results;
}

function defineChecks(
  client: ContractHttpClient,
  frontend: URL,
  backend: URL,
  expectedSha?: string,
): CheckDefinition[] {
  const healthUrl = joinUrl(backend, '/api/healthz');
  const readyUrl = joinUrl(backend, '/api/readyz');
  const itemsUrl = joinUrl(backend, '/api/items');
  const pageUrl = joinUrl(frontend, '/');
  const versionUrl = joinUrl(frontend, '/api/version');
  const both = CONTRACT_MODES;

  return [
    {
      name: 'backend-health',
      url: healthUrl,
      modes: both,
      attempt: async (timeoutMs) => {
        const res = await client.get(healthUrl, timeoutMs);
        const json = parseJson(res.body);
        if (res.status === 200 && isRecord(json) && json.status === 'ok') return pass('200 status ok');
        return fail('GET', healthUrl, res, 'expected 200 {"status":"ok"}');
      },
    },
    {
      name: 'backend-ready',
      url: readyUrl,
      modes: both,
      attempt: async (timeoutMs) => {
        const res = await client.get(readyUrl, timeoutMs);
        const json = parseJson(res.body);
        if (res.status === 200 && isRecord(json) && json.postgres === 'ok' && json.redis === 'ok') {
          return pass('200 postgres ok, redis ok');
        }
        return fail('GET', readyUrl, res, 'expected 200 with "postgres":"ok" and "redis":"ok"');
      },
    },
    roundTripCheck(client, itemsUrl),
    {
      name: 'frontend-page',
      url: pageUrl,
      modes: both,
      attempt: async (timeoutMs) => {
        const res = await client.get(pageUrl, timeoutMs);
        const type = String(res.headers['content-type'] ?? '');
        if (res.status === 200 && type.includes('text/html') && res.body.includes('id="app"')) {
          return pass('200 text/html with id="app"');
        }
        return fail('GET', pageUrl, res, 'expected 200 text/html containing id="app"');
      },
    },
    {
      name: 'frontend-api',
      url: versionUrl,
      modes: both,
      attempt: async (timeoutMs) => {
        const res = await client.get(versionUrl, timeoutMs);
        const json = parseJson(res.body);
        const sha = isRecord(json) && typeof json.sha === 'string' && json.sha !== '' ? json.sha : undefined;
        if (res.status !== 200 || sha === undefined) {
          return fail('GET', versionUrl, res, 'expected 200 JSON with a "sha"');
        }
        if (expectedSha !== undefined && sha !== expectedSha) {
          return fail('GET', versionUrl, res, `expected sha ${expectedSha}, got sha ${sha}`);
        }
        return pass(expectedSha === undefined ? `200 sha ${sha}` : `200 sha ${sha} (as expected)`);
      },
    },
  ];
}

/** POST an item with a unique name once, then GET the list until it holds that item with the same id. */
function roundTripCheck(client: ContractHttpClient, itemsUrl: string): CheckDefinition {
  const name = `contract-check-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
  let created: { id: number; name: string } | undefined;
  return {
    name: 'api-round-trip',
    url: itemsUrl,
    modes: ['full'],
    attempt: async (timeoutMs) => {
      if (!created) {
        const res = await client.post(itemsUrl, { name }, timeoutMs);
        const json = parseJson(res.body);
        if (res.status !== 201 || !isRecord(json) || typeof json.id !== 'number' || json.name !== name) {
          return fail('POST', itemsUrl, res, `expected 201 {"id": number, "name": "${name}", …}`);
        }
        created = { id: json.id, name };
      }
      const res = await client.get(itemsUrl, timeoutMs);
      const json = parseJson(res.body);
      if (res.status !== 200 || !isRecord(json) || !Array.isArray(json.items)) {
        return fail('GET', itemsUrl, res, 'expected 200 {"items": [...]}');
      }
      const item = json.items.find((i: unknown) => isRecord(i) && i.id === created?.id);
      if (!isRecord(item)) {
        return fail('GET', itemsUrl, res, `created item id ${created.id} ("${name}") is not in the list`);
      }
      if (item.name !== name) {
        return fail(
          'GET',
          itemsUrl,
          res,
          `item id ${created.id} has name ${JSON.stringify(item.name)}, expected "${name}"`,
        );
      }
      return pass(`created item id ${created.id} and read it back`);
    },
  };
}

async function runCheck(
  check: CheckDefinition,
  deadlineMs: number,
  intervalMs: number,
  log: (line: string) => void,
): Promise<CheckResult> {
  const started = performance.now();
  const deadline = started + deadlineMs;
  let attempts = 0;
  let outcome: Outcome;
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
    const left = deadline - performance.now();
    if (left <= 0) break;
    await sleep(Math.min(intervalMs, left));
  }
  const durationMs = Math.round(performance.now() - started);
  const detail = outcome.ok
    ? outcome.detail
    : `${check.name} failed after ${attempts} attempt(s) in ${formatSeconds(durationMs)}: ${outcome.detail}`;
  return { name: check.name, ok: outcome.ok, url: check.url, durationMs, attempts, detail };
}

function pass(detail: string): Outcome {
  return { ok: true, detail };
}

function fail(method: HttpMethod, url: string, res: HttpResponse, expected: string): Outcome {
  const type = res.headers['content-type'] ? ` (${res.headers['content-type']})` : '';
  return { ok: false, detail: `${method} ${url} → ${res.status}${type}: ${snippet(res.body)} — ${expected}` };
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
