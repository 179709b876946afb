/**
 * The REST client the reporting uses: Octokit with the API version GitHub asks for, a per-request timeout,
 * retries of idempotent requests, and errors worded for a workflow author.
 */
import { getOctokit } from '@actions/github';

/** Sent as X-GitHub-Api-Version on every request (GitHub: "we recommend that you specify an API version"). */
export const API_VERSION = '2022-11-28';

export type Octokit = ReturnType<typeof getOctokit>;

export interface RequestPolicy {
  /** Per-request timeout. */
  timeoutMs: number;
  /** Extra attempts for GET/PATCH requests that fail with 5xx or a network error. */
  retries: number;
  retryDelayMs: number;
}

/** Parameters every repository call takes. */
export interface RepoParams {
  owner: string;
  repo: string;
}

export function createClient(token: string, baseUrl: string, policy: RequestPolicy): Octokit {
  const octokit = getOctokit(token, { baseUrl, userAgent: 'jetscale-stack' });
  octokit.hook.wrap('request', async (request, options) => {
    options.headers = { ...options.headers, 'x-github-api-version': API_VERSION };
    const retryable = options.method === 'GET' || options.method === 'PATCH';
    for (let attempt = 0; ; attempt++) {
      try {
        // A wrap hook cannot hand the next hook new options (before-after-hook binds the originals), so the
        // per-attempt signal goes into this request's own options object.
        options.request = { ...options.request, signal: AbortSignal.timeout(policy.timeoutMs) };
        return await request(options);
      } catch (error) {
        const e = error as { status?: number; response?: unknown };
        const transient = !e.response || (typeof e.status === 'number' && e.status >= 500);
        if (!retryable || !transient || attempt >= policy.retries) throw error;
        await new Promise((resolve) => setTimeout(resolve, policy.retryDelayMs * (attempt + 1)));
      }
    }
  });
  return octokit;
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
