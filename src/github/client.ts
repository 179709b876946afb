/**
 * The REST client the reporting uses: Octokit with the API version GitHub asks for, a per-request timeout,
 * the one retry policy of every call (below), and errors worded for a workflow author.
 */
import { getOctokit } from '@actions/github';

/** Sent as X-GitHub-Api-Version on every request (GitHub: "we recommend that you specify an API version"). */
export const API_VERSION = '2022-11-28';

export type Octokit = ReturnType<typeof getOctokit>;

export interface RequestPolicy {
  /** Per-attempt timeout. */
  timeoutMs: number;
  /** Attempts per request, the first included. */
  attempts: number;
  /** The longest single wait; a rate limit that asks for longer is given up on at once. */
  maxWaitMs: number;
  /**
   * Time this client may spend on failed attempts and waits, over all its requests: a GitHub outage costs a
   * run this much, then every request gets one attempt.
   */
  budgetMs: number;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
}

/** Parameters every repository call takes. */
export interface RepoParams {
  owner: string;
  repo: string;
}

/**
 * How a POST (GitHub's create calls) may be retried, given as `request: { retry }`. After a 5xx or no answer
 * GitHub may have done the write, so a plain POST is not sent again: `repeatable` says sending it twice is
 * harmless (a deployment status); `recover` looks for what the lost attempt made and returns it as that
 * request's answer (undefined: nothing was made, send it again). 429 and rate-limit 403s are always retried:
 * GitHub refused those before doing anything.
 */
export interface RetryOptions {
  repeatable?: boolean;
  recover?: () => Promise<{ status: number; data: unknown } | undefined>;
}

/** Why an attempt failed, as the retry policy sees it. */
type Failure =
  | { kind: 'rate-limit'; waitMs: number; until?: number }
  | { kind: 'secondary'; retryAfterMs?: number }
  /** 5xx, no answer (timeout, connection refused or reset): GitHub may or may not have acted. */
  | { kind: 'transient' }
  | { kind: 'final' };

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE']);
/** Backoff after a 5xx or no answer: 1 s, 2 s, 4 s…, each with jitter (half fixed, half random). */
const BACKOFF_BASE_MS = 1_000;
/** GitHub on a secondary rate limit without retry-after: "wait for at least one minute before retrying". */
const SECONDARY_WAIT_MS = 60_000;

/** The policy every client of ours uses unless a caller (a test) says otherwise. */
export function requestPolicy(over: Partial<RequestPolicy> = {}): RequestPolicy {
  return {
    timeoutMs: 30_000,
    attempts: 4,
    maxWaitMs: 60_000,
    budgetMs: 180_000,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => Date.now(),
    ...Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined)),
  };
}

export function createClient(token: string, baseUrl: string, policy: RequestPolicy): Octokit {
  const octokit = getOctokit(token, { baseUrl, userAgent: 'jetscale-stack' });
  let spentMs = 0;
  let exhausted = false;
  octokit.hook.wrap('request', async (request, options) => {
    options.headers = { ...options.headers, 'x-github-api-version': API_VERSION };
    const retry = (options.request?.retry ?? {}) as RetryOptions;
    const repeatable = IDEMPOTENT.has(options.method) || retry.repeatable === true;
    for (let attempt = 1; ; attempt++) {
      const t0 = policy.now();
      let lastError: unknown;
      try {
        // A wrap hook cannot hand the next hook new options (before-after-hook binds the originals), so the
        // per-attempt signal goes into this request's own options object.
        options.request = { ...options.request, signal: AbortSignal.timeout(policy.timeoutMs) };
        return await request(options);
      } catch (error) {
        lastError = error;
      }
      spentMs += policy.now() - t0;
      const failure = classify(lastError, policy.now());
      const giveUp = (why: string) => {
        annotate(lastError, attempt, why);
        return lastError;
      };
      if (failure.kind === 'final') throw giveUp('');
      if (failure.kind === 'transient' && !repeatable && !retry.recover)
        throw giveUp('not sent again: GitHub may have done it');
      const waitMs = waitFor(failure, attempt, policy);
      if (failure.kind === 'rate-limit' && waitMs > policy.maxWaitMs)
        throw giveUp(
          `rate limited until ${new Date(failure.until ?? policy.now() + waitMs).toISOString()}, ` +
            `longer than the ${policy.maxWaitMs / 1000} s this run waits`,
        );
      if (attempt >= policy.attempts) throw giveUp(`after ${attempt} attempts`);
      // once the budget has run out, it stays out: every later request gets its one attempt
      if (exhausted || spentMs + waitMs > policy.budgetMs) {
        exhausted = true;
        throw giveUp(`after ${attempt} attempts; the ${policy.budgetMs / 1000} s retry budget is spent`);
      }
      spentMs += waitMs;
      await policy.sleep(waitMs);
      if (failure.kind === 'transient' && !repeatable && retry.recover) {
        // Did the lost attempt do the write? When that cannot be told, nothing is sent again.
        let found: Awaited<ReturnType<NonNullable<RetryOptions['recover']>>>;
        try {
          found = await retry.recover();
        } catch {
          throw giveUp('not sent again: whether GitHub did it could not be checked');
        }
        if (found) return { ...found, url: options.url, headers: {} };
      }
    }
  });
  return octokit;
}

function classify(error: unknown, now: number): Failure {
  const status = errorStatus(error);
  if (status === undefined) return { kind: 'transient' };
  if (status >= 500) return { kind: 'transient' };
  if (status !== 403 && status !== 429) return { kind: 'final' };
  const headers = ((error as { response?: { headers?: Record<string, string | undefined> } }).response
    ?.headers ?? {}) as Record<string, string | undefined>;
  const retryAfter = parseRetryAfter(headers['retry-after'], now);
  const reset = Number(headers['x-ratelimit-reset']);
  if (headers['x-ratelimit-remaining'] === '0' && Number.isFinite(reset) && retryAfter === undefined) {
    // Not before the reset (UTC epoch seconds); a second more for the clocks between us and GitHub.
    const until = reset * 1000 + 1000;
    return { kind: 'rate-limit', waitMs: Math.max(0, until - now), until };
  }
  if (retryAfter !== undefined) return { kind: 'rate-limit', waitMs: retryAfter };
  // A 403 is a rate limit only when GitHub says so; else it is a refusal (a fork's read-only token).
  if (status === 429 || /rate limit/i.test(errorMessage(error))) return { kind: 'secondary' };
  return { kind: 'final' };
}

function waitFor(
  failure: Exclude<Failure, { kind: 'final' }>,
  attempt: number,
  policy: RequestPolicy,
): number {
  if (failure.kind === 'rate-limit') return failure.waitMs;
  if (failure.kind === 'secondary')
    // "wait for an exponentially increasing amount of time between retries"
    return Math.min(policy.maxWaitMs, SECONDARY_WAIT_MS * 2 ** (attempt - 1));
  const backoff = Math.min(policy.maxWaitMs, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  return Math.round(backoff / 2 + (Math.random() * backoff) / 2);
}

/** Retry-After in seconds (what GitHub sends) or as an HTTP date, in ms from now. */
function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Records on the error how many attempts were made and why the client stopped (see describeError). */
function annotate(error: unknown, attempts: number, why: string): void {
  if (error && typeof error === 'object') Object.assign(error, { attempts, gaveUp: why || undefined });
}

/** The HTTP status of an Octokit error, when there was a response. */
export function errorStatus(error: unknown): number | undefined {
  const e = error as { status?: unknown; response?: unknown };
  return e?.response && typeof e.status === 'number' ? e.status : undefined;
}

/** GitHub's message of an Octokit error (its JSON body's message), else the error's own. */
export function errorMessage(error: unknown): string {
  const data = (error as { response?: { data?: { message?: unknown } } })?.response?.data;
  if (typeof data?.message === 'string') return data.message;
  return error instanceof Error ? error.message : String(error);
}

/** An API error as a workflow author can act on it. */
export function describeError(error: unknown): string {
  const { gaveUp } = (error ?? {}) as { gaveUp?: string };
  return gaveUp ? `${describeAnswer(error)} (${gaveUp})` : describeAnswer(error);
}

function describeAnswer(error: unknown): string {
  const status = errorStatus(error);
  const message = errorMessage(error);
  if (!(error as { response?: unknown })?.response) return `${message} (no response from the API)`;
  if (status === 403 && /not accessible by integration/i.test(message)) {
    return (
      `403 ${message}. The token cannot write here: a pull request from a fork gets a read-only token, ` +
      'and the workflow needs "permissions: pull-requests: write, deployments: write" (or set comment: false).'
    );
  }
  if (status === 401) return `401 ${message}. Check the github-token input.`;
  if (status === 404) {
    return `404 ${message}. Check the repository and pull-request number, and that the token can read them.`;
  }
  return `${status ?? 'error'} ${message}`;
}
