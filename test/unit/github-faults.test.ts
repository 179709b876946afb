// GitHub misbehaving on every call the reporter makes: 5xx, 429, rate limits, timeouts, answers lost after the
// write. Real HTTP against the loopback GitHub double; only the waits between retries are recorded, not slept.
import { afterEach, beforeEach, describe, expect, it, test } from 'vitest';
import {
  COMMENT_MARKER,
  type ReportContext,
  Reporter,
  type ReporterOptions,
} from '../../src/github/index.js';
import { runLoop } from '../../src/loops/index.js';
import { parseInputs, type RawInputs } from '../../src/validate.js';
import {
  type GitHubServer,
  primaryRateLimit,
  secondaryRateLimit,
  startGitHubServer,
} from '../support/github-server.js';
import { deps, runCtx } from '../support/loop-harness.js';
import { RecordingExecutor } from '../support/recording-executor.js';

const PR = 12;
const TOKEN = 'ghs_test_token';
const SHA = 'a'.repeat(40);
const API = '/repos/jetscale/stack';
const DEPLOY = { url: 'https://pr-12.preview.example.com', namespace: 'jetscale-pr-12', host: 'pr-12.x' };

let server: GitHubServer;
/** Every wait the client asked for, in ms. */
let waits: number[];

beforeEach(async () => {
  waits = [];
  server = await startGitHubServer({ token: TOKEN, pulls: { [PR]: 'open', 101: 'open' } });
});

afterEach(async () => {
  await server.close();
});

function reporter(over: Partial<ReportContext> = {}, options: ReporterOptions = {}): Reporter {
  return new Reporter(
    {
      owner: 'jetscale',
      repo: 'stack',
      prNumber: PR,
      sha: SHA,
      runId: 100,
      token: TOKEN,
      apiUrl: server.url,
      serverUrl: 'https://github.example',
      comment: true,
      ...over,
    },
    {
      timeoutMs: 500,
      sleep: async (ms) => {
        waits.push(ms);
      },
      ...options,
    },
  );
}

const stickies = () => (server.state.comments.get(PR) ?? []).filter((c) => c.body.startsWith(COMMENT_MARKER));
/** How many requests a route got, and with which statuses (0: no answer). */
const statuses = (method: string, path: RegExp) =>
  server.requests.filter((r) => r.method === method && path.test(r.path)).map((r) => r.status);

/** Deploys once, so the next report updates the comment and a teardown has a deployment to deactivate. */
async function deployedBefore(): Promise<void> {
  await reporter({ runId: 90 }).reportDeploy({ ...DEPLOY, status: 'success' });
  server.clearRequests();
}

/** Every call the reporter makes, with a report that makes it. */
const CALLS: Array<{
  call: string;
  method: string;
  path: RegExp;
  setup?: () => Promise<void>;
  over?: Partial<ReportContext>;
  run: (r: Reporter) => Promise<unknown>;
}> = [
  {
    call: 'GET /user',
    method: 'GET',
    path: /^\/user$/,
    over: { token: 'ghp_pat' },
    run: (r) => r.reportDeploy({ ...DEPLOY, status: 'success' }),
  },
  {
    call: 'list comments',
    method: 'GET',
    path: /\/issues\/\d+\/comments$/,
    run: (r) => r.reportDeploy({ ...DEPLOY, status: 'success' }),
  },
  {
    call: 'create the comment',
    method: 'POST',
    path: /\/issues\/\d+\/comments$/,
    run: (r) => r.reportDeploy({ ...DEPLOY, status: 'success' }),
  },
  {
    call: 'update the comment',
    method: 'PATCH',
    path: /\/issues\/comments\/\d+$/,
    setup: deployedBefore,
    run: (r) => r.reportDeploy({ ...DEPLOY, status: 'success' }),
  },
  {
    call: 'create a deployment',
    method: 'POST',
    path: /\/deployments$/,
    run: (r) => r.reportDeploy({ ...DEPLOY, status: 'success' }),
  },
  {
    call: 'set a deployment status',
    method: 'POST',
    path: /\/deployments\/\d+\/statuses$/,
    run: (r) => r.reportDeploy({ ...DEPLOY, status: 'success' }),
  },
  {
    call: 'list deployments',
    method: 'GET',
    path: /\/deployments$/,
    setup: deployedBefore,
    run: (r) => r.reportTeardown(),
  },
  {
    call: 'read a deployment status',
    method: 'GET',
    path: /\/deployments\/\d+\/statuses$/,
    setup: deployedBefore,
    run: (r) => r.reportTeardown(),
  },
  {
    call: 'set a deployment inactive',
    method: 'POST',
    path: /\/deployments\/\d+\/statuses$/,
    setup: deployedBefore,
    run: (r) => r.reportTeardown(),
  },
  {
    call: 'read the pull request',
    method: 'GET',
    path: /\/pulls\/\d+$/,
    run: (r) => r.isPullRequestOpen(),
  },
];

describe('every call the reporter makes is retried', () => {
  test.each(CALLS)('$call: 502 then 200 → one retry after a backoff, no warning', async (c) => {
    if (c.call === 'GET /user') {
      await server.close();
      server = await startGitHubServer({ token: 'ghp_pat', login: 'octocat', pulls: { [PR]: 'open' } });
    }
    await c.setup?.();
    const before = server.state.deployments.length;
    server.failNext({ method: c.method, path: c.path, status: 502, times: 1 });
    const r = reporter({ ...c.over });

    const answer = await c.run(r);

    expect(statuses(c.method, c.path).slice(0, 2)).toEqual([502, expect.any(Number)]);
    expect(statuses(c.method, c.path)[1]).toBeLessThan(300);
    expect(r.warnings).toEqual([]);
    if (c.call === 'read the pull request') expect(answer).toBe(true);
    expect(waits).toHaveLength(1);
    // 1 s backoff with jitter: between half of it and all of it.
    expect(waits[0]).toBeGreaterThanOrEqual(500);
    expect(waits[0]).toBeLessThanOrEqual(1000);
    expect(stickies().length).toBeLessThanOrEqual(1);
    // Nothing made twice: one sticky comment, at most one deployment more.
    expect(server.state.deployments.length - before).toBeLessThanOrEqual(1);
  });
});

describe('rate limits, as GitHub answers them', () => {
  it('429 with Retry-After: 2 → waits 2 s, then succeeds', async () => {
    server.failNext({
      method: 'POST',
      path: /\/comments$/,
      times: 1,
      status: 429,
      headers: { 'retry-after': 2 },
    });

    const result = await reporter().reportDeploy({ ...DEPLOY, status: 'success' });

    expect(statuses('POST', /\/comments$/)).toEqual([429, 201]);
    expect(waits).toEqual([2000]);
    expect(result).toMatchObject({ ok: true, comment: { action: 'created' } });
    expect(stickies()).toHaveLength(1);
  });

  it.each([
    ['403 with retry-after: 3', secondaryRateLimit({ retryAfter: 3 }), [3000]],
    ['403 without retry-after (GitHub: wait at least a minute)', secondaryRateLimit(), [60_000]],
    ['429 without retry-after', secondaryRateLimit({ status: 429 }), [60_000]],
  ])('secondary rate limit, %s → retried', async (_name, answer, expected) => {
    server.failNext({ method: 'POST', path: /\/deployments$/, times: 1, ...answer });

    const result = await reporter().reportDeploy({ ...DEPLOY, status: 'success' });

    // Refused before GitHub did anything: sent again without looking for what it made.
    expect(server.lines().filter((l) => l.endsWith('/deployments'))).toEqual([
      `POST ${API}/deployments`,
      `POST ${API}/deployments`,
    ]);
    expect(waits).toEqual(expected);
    expect(result.warnings).toEqual([]);
    expect(server.state.deployments).toHaveLength(1);
  });

  it('secondary rate limit again and again → exponentially longer waits, capped, then a warning', async () => {
    server.failNext({ method: 'GET', path: /\/pulls\/\d+$/, times: 10, ...secondaryRateLimit() });
    const r = reporter({}, { maxWaitMs: 90_000, budgetMs: 600_000 });

    expect(await r.isPullRequestOpen()).toBe(true);

    expect(waits).toEqual([60_000, 90_000, 90_000]);
    expect(r.warnings).toEqual([
      expect.stringMatching(
        /could not read pull request #12: 403 You have exceeded a secondary rate limit.* \(after 4 attempts\)$/,
      ),
    ]);
  });

  it('primary rate limit (403, x-ratelimit-remaining: 0) → waits until x-ratelimit-reset', async () => {
    const now = new Date('2026-05-01T10:00:00Z');
    server.failNext({
      method: 'GET',
      path: /\/comments$/,
      times: 1,
      ...primaryRateLimit(now.getTime() / 1000 + 5),
    });

    const result = await reporter({}, { now: () => now }).reportDeploy({ ...DEPLOY, status: 'success' });

    // The reset, and a second for the clocks in between.
    expect(waits).toEqual([6000]);
    expect(statuses('GET', /\/comments$/)).toEqual([403, 200]);
    expect(result.warnings).toEqual([]);
  });

  it('primary rate limit resetting later than the longest wait → not retried at all, a warning saying until when', async () => {
    const now = new Date('2026-05-01T10:00:00Z');
    server.failNext({
      method: 'GET',
      path: /\/comments$/,
      times: 1,
      ...primaryRateLimit(now.getTime() / 1000 + 3600, 429),
    });

    const result = await reporter({}, { now: () => now }).reportDeploy({ ...DEPLOY, status: 'success' });

    expect(waits).toEqual([]);
    expect(statuses('GET', /\/comments$/)).toEqual([429]);
    expect(result.warnings).toEqual([
      'GitHub reporting: could not list comments of pull request #12: 429 API rate limit exceeded for ' +
        'installation ID 4242. (rate limited until 2026-05-01T11:00:01.000Z, longer than the 60 s this run waits)',
    ]);
    // The deployment is still recorded: one failed call costs that call only.
    expect(server.state.deployments).toHaveLength(1);
  });

  it('a 403 that is no rate limit (a read-only token) is not retried', async () => {
    server.setReadOnly(true);
    const result = await reporter().reportDeploy({ ...DEPLOY, status: 'success' });
    expect(waits).toEqual([]);
    expect(statuses('POST', /\/comments$/)).toEqual([403]);
    expect(result.warnings[0]).toMatch(/could not comment on pull request #12: 403 Resource not accessible/);
  });
});

describe('answers that are final', () => {
  it.each([
    [404, 'PATCH', /\/issues\/comments\/\d+$/, /could not update comment \d+: 404 Not Found/],
    [
      422,
      'POST',
      /\/deployments\/\d+\/statuses$/,
      /could not set deployment \d+ to success: 422 Validation Failed/,
    ],
  ])('%i → no retry, a warning naming the call and the status', async (status, method, path, warning) => {
    await deployedBefore();
    server.failNext({
      method,
      path,
      status,
      times: 1,
      message: status === 422 ? 'Validation Failed' : 'Not Found',
    });

    const result = await reporter().reportDeploy({ ...DEPLOY, status: 'success' });

    expect(statuses(method, path)).toEqual([status]);
    expect(waits).toEqual([]);
    expect(result.warnings).toEqual([expect.stringMatching(warning)]);
  });
});

describe('timeouts and outages', () => {
  it('a response that never comes → the attempt times out and is retried', async () => {
    server.failNext({ method: 'GET', path: /\/comments$/, hang: true, times: 1 });

    const t0 = Date.now();
    const result = await reporter({}, { timeoutMs: 300 }).reportDeploy({ ...DEPLOY, status: 'success' });

    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(statuses('GET', /\/comments$/)).toEqual([0, 200]);
    expect(waits).toHaveLength(1);
    expect(result).toMatchObject({ ok: true, warnings: [], comment: { action: 'created' } });
  });

  it('always 500 → gives up after 4 attempts with a warning, never a throw', async () => {
    server.failNext({ method: 'GET', path: /\/comments$/, status: 500, times: Number.POSITIVE_INFINITY });

    const result = await reporter().reportDeploy({ ...DEPLOY, status: 'success' });

    expect(statuses('GET', /\/comments$/)).toEqual([500, 500, 500, 500]);
    expect(waits).toHaveLength(3);
    // 1 s, 2 s, 4 s, each with jitter.
    waits.forEach((w, i) => {
      expect(w).toBeGreaterThanOrEqual(500 * 2 ** i);
      expect(w).toBeLessThanOrEqual(1000 * 2 ** i);
    });
    expect(result.warnings).toEqual([
      'GitHub reporting: could not list comments of pull request #12: 500 Server Error (after 4 attempts)',
    ]);
    expect(server.state.deployments).toHaveLength(1);
  });

  it('a whole outage costs the run at most the retry budget, then one attempt per call', async () => {
    server.failNext({ path: /./, status: 503, times: Number.POSITIVE_INFINITY });
    // 5 s: spent within the first report's calls (waits of 1, 2, 4 s with jitter), whatever the jitter
    const r = reporter({}, { budgetMs: 5_000 });

    await r.reportDeploy({ ...DEPLOY, status: 'in_progress' });
    await r.reportDeploy({ ...DEPLOY, status: 'success' });
    await r.reportTeardown();

    expect(waits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(5_000);
    expect(r.warnings.length).toBeGreaterThanOrEqual(3);
    expect(r.warnings.at(-1)).toMatch(
      /503 Server Error \(after 1 attempts; the 5 s retry budget is spent\)$/,
    );
  });
});

describe('a create whose answer was lost is not made twice', () => {
  it('comment POST carried out but timed out → the comments are listed again and that one is taken', async () => {
    server.failNext({
      method: 'POST',
      path: /\/issues\/\d+\/comments$/,
      hang: true,
      processed: true,
      times: 1,
    });

    const result = await reporter({}, { timeoutMs: 300 }).reportDeploy({ ...DEPLOY, status: 'success' });

    expect(server.lines().filter((l) => l.includes('/comments'))).toEqual([
      `GET ${API}/issues/${PR}/comments?per_page=100`,
      `POST ${API}/issues/${PR}/comments`,
      `GET ${API}/issues/${PR}/comments?per_page=100`,
    ]);
    expect(stickies()).toHaveLength(1);
    expect(result).toMatchObject({
      ok: true,
      warnings: [],
      comment: { id: stickies()[0]?.id, action: 'created' },
    });
  });

  it('comment POST answered 502 but not carried out → sent again once the list shows no comment', async () => {
    server.failNext({ method: 'POST', path: /\/issues\/\d+\/comments$/, status: 502, times: 1 });

    const result = await reporter().reportDeploy({ ...DEPLOY, status: 'success' });

    expect(statuses('POST', /\/comments$/)).toEqual([502, 201]);
    expect(stickies()).toHaveLength(1);
    expect(result.warnings).toEqual([]);
  });

  it('deployment POST carried out but answered 502 → that deployment is found and given its status', async () => {
    server.failNext({ method: 'POST', path: /\/deployments$/, status: 502, processed: true, times: 1 });

    const result = await reporter().reportDeploy({ ...DEPLOY, status: 'success' });

    expect(statuses('POST', /\/deployments$/)).toEqual([502]);
    expect(server.state.deployments).toHaveLength(1);
    const id = server.state.deployments[0]?.id ?? 0;
    expect(result).toMatchObject({ ok: true, deploymentId: id });
    expect(server.state.statuses.get(id)?.map((s) => s.state)).toEqual(['success']);
  });

  it('when the comments cannot be listed again, the POST is not sent again', async () => {
    server.failNext({ method: 'POST', path: /\/issues\/\d+\/comments$/, status: 502, times: 1 });
    server.failNext({ method: 'GET', path: /\/issues\/\d+\/comments$/, status: 500, skip: 1, times: 9 });

    const result = await reporter().reportDeploy({ ...DEPLOY, status: 'success' });

    expect(statuses('POST', /\/comments$/)).toEqual([502]);
    expect(statuses('GET', /\/comments$/)).toEqual([200, 500, 500, 500, 500]);
    expect(result.warnings).toEqual([
      'GitHub reporting: could not comment on pull request #12: 502 Server Error ' +
        '(not sent again: whether GitHub did it could not be checked)',
    ]);
  });
});

describe('a deploy or a teardown never fails because reporting failed', () => {
  const SHA_LOOP = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
  const owned = JSON.stringify({
    metadata: {
      uid: 'uid-101',
      resourceVersion: '42',
      labels: { 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/pr': '101' },
    },
  });
  const inputs = (raw: RawInputs) => parseInputs({ 'git-sha': SHA_LOOP, 'pr-number': '101', ...raw });

  async function outcome(raw: RawInputs, reporting: Reporter | undefined) {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: owned });
    // a fixed clock: the recorded deploy (and seed) times must not differ between two runs a second apart
    const now = () => new Date('2026-05-01T12:00:00Z');
    const result = await runLoop(inputs(raw), runCtx(), deps(exec, { reporter: reporting, now }).d);
    return {
      error: result.error?.message,
      steps: result.steps.map((s) => `${s.name}:${s.ok}`),
      commands: exec.lines().map((l) => l.replace(/private-\d+/g, 'private')),
    };
  }

  const loopReporter = (options: ReporterOptions = {}) =>
    reporter({ prNumber: 101, sha: SHA_LOOP, runId: 777 }, options);

  test.each([
    ['preview', { loop: 'preview', images: 'backend=r/b:2\nfrontend=r/f:2' }],
    ['teardown', { loop: 'teardown' }],
  ] as const)('%s: every GitHub call failing with 502 changes nothing but warnings', async (_name, raw) => {
    // The same loop, reporting to a GitHub that answers.
    const healthy = await outcome(raw, loopReporter());
    expect(healthy.error).toBeUndefined();
    expect(healthy.steps.filter((s) => s.startsWith('GitHub')).length).toBeGreaterThan(0);
    server.clearRequests();
    server.failNext({ path: /./, status: 502, times: Number.POSITIVE_INFINITY });
    const r = loopReporter();

    const failing = await outcome(raw, r);

    expect(failing).toEqual(healthy);
    expect(r.warnings.length).toBeGreaterThan(0);
    expect(server.requests.every((q) => q.status === 502)).toBe(true);
    if (raw.loop === 'teardown')
      expect(failing.commands).toContain('kubectl delete --raw /api/v1/namespaces/jetscale-pr-101 -f -');
  });

  it('teardown while GitHub does not answer at all still removes the preview', async () => {
    server.failNext({ path: /./, hang: true, times: Number.POSITIVE_INFINITY });
    const r = loopReporter({ timeoutMs: 100 });

    const result = await outcome({ loop: 'teardown' }, r);

    expect(result.error).toBeUndefined();
    expect(result.commands).toContain('kubectl delete --raw /api/v1/namespaces/jetscale-pr-101 -f -');
    expect(r.warnings.every((w) => w.includes('no response from the API'))).toBe(true);
    expect(r.warnings.length).toBeGreaterThan(0);
  });
});
