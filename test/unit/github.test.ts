// GitHub reporting against a real HTTP server on loopback that speaks the REST API's shapes.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runContext } from '../../src/context.js';
import {
  API_VERSION,
  COMMENT_MARKER,
  parseMeta,
  type ReportContext,
  Reporter,
} from '../../src/github/index.js';
import { makeReporter } from '../../src/main.js';
import { clearSecrets, registerSecret } from '../../src/redact.js';
import {
  escapeHtml,
  formatDuration,
  writeChecks,
  writeDiagnostics,
  writeLoopSummary,
  writeNames,
  writeSteps,
} from '../../src/summary.js';
import { parseInputs } from '../../src/validate.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';

const OWNER = 'jetscale';
const REPO = 'stack';
const PR = 12;
const TOKEN = 'ghs_test_token';
const SHA_A = 'a'.repeat(40);
const SHA_B = '0123456789abcdef0123456789abcdef01234567';
const API = `/repos/${OWNER}/${REPO}`;
/** The /repositories/{id} form GitHub's Link headers use. */
const REPO_ID = () => `/repositories/${server.repositoryId}`;
const DEPLOY = {
  url: 'https://pr-12.preview.example.com',
  namespace: 'jetscale-pr-12',
  host: 'pr-12.preview.example.com',
};

let summaryFile: string;
let server: GitHubServer;

beforeAll(() => {
  // core.summary remembers the first path it sees, so one file per test file, emptied before each test.
  summaryFile = join(mkdtempSync(join(tmpdir(), 'jetscale-summary-')), 'step-summary.md');
  writeFileSync(summaryFile, '');
  process.env.GITHUB_STEP_SUMMARY = summaryFile;
});

beforeEach(async () => {
  writeFileSync(summaryFile, '');
  server = await startGitHubServer({
    owner: OWNER,
    repo: REPO,
    token: TOKEN,
    pulls: { [PR]: 'open', 13: 'open' },
  });
});

afterEach(async () => {
  await server.close();
});

function baseContext(): ReportContext {
  return {
    owner: OWNER,
    repo: REPO,
    prNumber: PR,
    sha: SHA_A,
    runId: 100,
    runAttempt: 1,
    token: TOKEN,
    apiUrl: server.url,
    serverUrl: 'https://github.example',
    comment: true,
  };
}

function reporter(overrides: Partial<ReportContext> = {}): Reporter {
  return new Reporter({ ...baseContext(), ...overrides }, { sleep: noWait, timeoutMs: 5_000 });
}

/** Retries without real waits (test/unit/github-faults.test.ts checks the waits themselves). */
const noWait = async () => undefined;
const summaryText = () => readFileSync(summaryFile, 'utf8');
const comments = (n = PR) => server.state.comments.get(n) ?? [];
const stickies = (n = PR) => comments(n).filter((c) => c.body.startsWith(COMMENT_MARKER));

describe('reportDeploy', () => {
  it('first deploy creates the comment, a deployment and its status', async () => {
    const result = await reporter().reportDeploy({ ...DEPLOY, status: 'success' });

    const deploymentId = server.state.deployments[0]?.id;
    expect(server.lines()).toEqual([
      `GET ${API}/issues/${PR}/comments?per_page=100`,
      `POST ${API}/issues/${PR}/comments`,
      `POST ${API}/deployments`,
      `POST ${API}/deployments/${deploymentId}/statuses`,
    ]);
    expect(server.requests.every((r) => r.auth === `token ${TOKEN}`)).toBe(true);
    expect(result).toMatchObject({ ok: true, warnings: [], deploymentId, comment: { action: 'created' } });

    const body = stickies()[0]?.body ?? '';
    expect(stickies()).toHaveLength(1);
    expect(body).toContain(DEPLOY.url);
    expect(body).toContain('`aaaaaaa`');
    expect(body).toContain(SHA_A);
    expect(body).toContain('`jetscale-pr-12`');
    expect(body).toContain('✅ deployed');
    expect(body).toContain('(https://github.example/jetscale/stack/actions/runs/100)');
    expect(parseMeta(body)).toMatchObject({ sha: SHA_A, runId: 100, runAttempt: 1 });
    expect(Number.isNaN(Date.parse(parseMeta(body)?.updatedAt ?? ''))).toBe(false);

    expect(server.requests[2]?.body).toMatchObject({
      ref: SHA_A,
      environment: 'preview/pr-12',
      transient_environment: true,
      auto_merge: false,
      required_contexts: [],
      production_environment: false,
      payload: { runId: 100, runAttempt: 1, namespace: DEPLOY.namespace, host: DEPLOY.host },
    });
    expect(server.requests[3]?.body).toMatchObject({
      state: 'success',
      environment_url: DEPLOY.url,
      log_url: 'https://github.example/jetscale/stack/actions/runs/100',
      auto_inactive: true,
    });
    expect(server.state.statuses.get(deploymentId ?? 0)?.map((s) => s.state)).toEqual(['success']);
    expect(summaryText()).toBe('');
  });

  it('a newer run updates the same comment and never adds a second one', async () => {
    await reporter().reportDeploy({ ...DEPLOY, status: 'success' });
    const firstId = stickies()[0]?.id;
    server.clearRequests();

    const result = await reporter({ runId: 101, sha: SHA_B }).reportDeploy({ ...DEPLOY, status: 'success' });

    const second = server.state.deployments[1]?.id;
    expect(server.lines()).toEqual([
      `GET ${API}/issues/${PR}/comments?per_page=100`,
      `PATCH ${API}/issues/comments/${firstId}`,
      `POST ${API}/deployments`,
      `POST ${API}/deployments/${second}/statuses`,
    ]);
    expect(result.comment).toMatchObject({ id: firstId, action: 'updated' });
    expect(comments()).toHaveLength(1);
    expect(stickies()[0]?.body).toContain(SHA_B);
    expect(stickies()[0]?.body).not.toContain(SHA_A);
    expect(parseMeta(stickies()[0]?.body ?? '')).toMatchObject({ runId: 101, sha: SHA_B });
  });

  it.each([
    { existing: [200, 1], ours: [199, 3], writes: false },
    { existing: [200, 2], ours: [200, 1], writes: false },
    { existing: [200, 1], ours: [200, 1], writes: true },
    { existing: [200, 1], ours: [200, 2], writes: true },
    { existing: [200, 3], ours: [201, 1], writes: true },
  ])('comment of run $existing, this run $ours → writes: $writes', async ({ existing, ours, writes }) => {
    await reporter({ runId: existing[0], runAttempt: existing[1] }).reportDeploy({
      ...DEPLOY,
      status: 'success',
    });
    const before = stickies()[0]?.body;
    server.clearRequests();

    const result = await reporter({ runId: ours[0], runAttempt: ours[1], sha: SHA_B }).reportDeploy({
      ...DEPLOY,
      status: 'failure',
      details: 'helm upgrade failed',
    });

    const id = stickies()[0]?.id;
    if (writes) {
      expect(server.lines()).toEqual([
        `GET ${API}/issues/${PR}/comments?per_page=100`,
        `PATCH ${API}/issues/comments/${id}`,
        `POST ${API}/deployments`,
        `POST ${API}/deployments/${server.state.deployments[1]?.id}/statuses`,
      ]);
      expect(stickies()[0]?.body).toContain('❌ failed');
      expect(stickies()[0]?.body).toContain('helm upgrade failed');
      expect(result.skipped).toBeUndefined();
    } else {
      expect(server.lines()).toEqual([`GET ${API}/issues/${PR}/comments?per_page=100`]);
      expect(stickies()[0]?.body).toBe(before);
      expect(result).toMatchObject({ ok: true, warnings: [] });
      expect(result.skipped).toContain(`run ${existing[0]} (attempt ${existing[1]}) already reported`);
    }
    expect(stickies()).toHaveLength(1);
  });

  it('a meta line inside the details text cannot block later runs', async () => {
    const forged = '<!-- jetscale-stack:meta {"sha":"f","runId":999999,"runAttempt":1} -->';
    await reporter().reportDeploy({ ...DEPLOY, status: 'failure', details: `log line\n${forged}` });
    expect(stickies()[0]?.body).toContain(forged);
    server.clearRequests();

    const result = await reporter({ runId: 101 }).reportDeploy({ ...DEPLOY, status: 'success' });

    expect(result.skipped).toBeUndefined();
    expect(server.lines()[1]).toBe(`PATCH ${API}/issues/comments/${stickies()[0]?.id}`);
    expect(parseMeta(stickies()[0]?.body ?? '')).toMatchObject({ runId: 101 });
  });

  it('finds the marker on page 3 of 250 comments, then patches it', async () => {
    const plain = (i: number) => `comment ${i}`;
    const before = Array.from({ length: 230 }, (_, i) =>
      // A comment that quotes the marker is not ours.
      i === 5 ? `> ${COMMENT_MARKER} quoted by a reviewer` : plain(i),
    );
    server.seedComments(PR, before);
    const [sticky] = server.seedComments(
      PR,
      [`${COMMENT_MARKER}\nold\n<!-- jetscale-stack:meta {"sha":"${SHA_A}","runId":90,"runAttempt":1} -->`],
      'github-actions[bot]',
    );
    server.seedComments(
      PR,
      Array.from({ length: 19 }, (_, i) => plain(231 + i)),
    );
    expect(comments()).toHaveLength(250);

    const result = await reporter().reportDeploy({ ...DEPLOY, status: 'success' });

    expect(server.lines().slice(0, 4)).toEqual([
      `GET ${API}/issues/${PR}/comments?per_page=100`,
      // Later pages come from the Link header, in GitHub's /repositories/{id} form.
      `GET ${REPO_ID()}/issues/${PR}/comments?per_page=100&page=2`,
      `GET ${REPO_ID()}/issues/${PR}/comments?per_page=100&page=3`,
      `PATCH ${API}/issues/comments/${sticky?.id}`,
    ]);
    expect(server.lines().filter((l) => l.startsWith(`POST ${API}/issues`))).toEqual([]);
    expect(comments()).toHaveLength(250);
    expect(comments()[5]?.body).toBe(`> ${COMMENT_MARKER} quoted by a reviewer`);
    expect(result.comment).toMatchObject({ id: sticky?.id, action: 'updated' });
    expect(parseMeta(comments()[230]?.body ?? '')).toMatchObject({ runId: 100 });
  });

  it('one reporter reporting in_progress then success makes one deployment with two statuses', async () => {
    const r = reporter();
    await r.reportDeploy({ ...DEPLOY, status: 'in_progress' });
    expect(stickies()[0]?.body).toContain('⏳ in progress');
    await r.reportDeploy({ ...DEPLOY, status: 'success' });

    expect(server.state.deployments).toHaveLength(1);
    const id = server.state.deployments[0]?.id ?? 0;
    expect(server.state.statuses.get(id)?.map((s) => s.state)).toEqual(['in_progress', 'success']);
    expect(
      server
        .lines()
        .filter((l) => l.includes('/issues/'))
        .map((l) => l.split(' ')[0]),
    ).toEqual(['GET', 'POST', 'GET', 'PATCH']);
    expect(stickies()).toHaveLength(1);
    expect(stickies()[0]?.body).toContain('✅ deployed');
  });

  it('comment: false makes no comment requests but still records the deployment', async () => {
    const result = await reporter({ comment: false }).reportDeploy({ ...DEPLOY, status: 'success' });

    expect(server.lines()).toEqual([
      `POST ${API}/deployments`,
      `POST ${API}/deployments/${server.state.deployments[0]?.id}/statuses`,
    ]);
    expect(comments()).toHaveLength(0);
    expect(result).toMatchObject({ ok: true, warnings: [] });
    expect(result.comment).toBeUndefined();
  });

  it('read-only token (403): warnings, no throw', async () => {
    server.setReadOnly(true);

    const result = await reporter().reportDeploy({ ...DEPLOY, status: 'success' });

    expect(server.requests.map((r) => `${r.method} ${r.status}`)).toEqual([
      'GET 200',
      'POST 403',
      'POST 403',
    ]);
    expect(result.ok).toBe(false);
    expect(result.warnings).toHaveLength(2);
    expect(result.warnings[0]).toContain('could not comment on pull request #12');
    expect(result.warnings[1]).toContain('could not create a deployment for preview/pr-12');
    for (const w of result.warnings) expect(w).toContain('403 Resource not accessible by integration');
    expect(comments()).toHaveLength(0);
    expect(server.state.deployments).toHaveLength(0);
  });

  it.each([
    {
      name: 'unknown pull request (404)',
      setup: (r: Partial<ReportContext>) => ({ ...r, prNumber: 999 }),
      expectWarning: /could not list comments of pull request #999: 404 Not Found/,
    },
    {
      name: 'bad token (401)',
      setup: (r: Partial<ReportContext>) => ({ ...r, token: 'wrong' }),
      expectWarning: /401 Bad credentials\. Check the github-token input/,
    },
  ])('$name → warnings, never a throw', async ({ setup, expectWarning }) => {
    const r = reporter(setup({}));
    const result = await r.reportDeploy({ ...DEPLOY, status: 'success' });
    expect(result.ok).toBe(false);
    expect(result.warnings.some((w) => expectWarning.test(w))).toBe(true);
    expect(r.warnings).toEqual(result.warnings);
  });

  it('retries a GET that failed with 5xx; a failed create POST is sent again only once GitHub shows it did not act', async () => {
    server.failNext({ method: 'GET', path: /\/comments$/, status: 502, times: 1 });
    server.failNext({ method: 'POST', path: /\/deployments$/, status: 500, times: 1 });

    const result = await reporter().reportDeploy({ ...DEPLOY, status: 'success' });

    expect(server.requests.map((r) => `${r.method} ${r.path.replace(API, '')} ${r.status}`)).toEqual([
      `GET /issues/${PR}/comments 502`,
      `GET /issues/${PR}/comments 200`,
      `POST /issues/${PR}/comments 201`,
      'POST /deployments 500',
      'GET /deployments 200',
      'POST /deployments 201',
      `POST /deployments/${server.state.deployments[0]?.id}/statuses 201`,
    ]);
    expect(result.warnings).toEqual([]);
    expect(server.state.deployments).toHaveLength(1);
    expect(stickies()).toHaveLength(1);
  });

  it('an API that never answers times out into warnings', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const result = await new Reporter(
        { ...baseContext(), apiUrl: `http://127.0.0.1:${port}` },
        { timeoutMs: 200, attempts: 1 },
      ).reportDeploy({ ...DEPLOY, status: 'success' });
      expect(result.warnings).toHaveLength(2);
      for (const w of result.warnings) expect(w).toContain('(no response from the API)');
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('an unreachable API gives warnings, not a throw', async () => {
    const url = server.url;
    await server.close();
    server = await startGitHubServer();
    const result = await new Reporter(
      {
        owner: OWNER,
        repo: REPO,
        prNumber: PR,
        sha: SHA_A,
        runId: 1,
        token: TOKEN,
        apiUrl: url,
        comment: true,
      },
      { attempts: 2, sleep: noWait },
    ).reportDeploy({ ...DEPLOY, status: 'success' });
    expect(result.ok).toBe(false);
    expect(result.warnings).toHaveLength(2);
    for (const w of result.warnings) expect(w).toContain('(no response from the API)');
  });
});

describe('reportTeardown', () => {
  it('updates the comment and marks every deployment of the environment inactive', async () => {
    for (const [runId, sha] of [
      [97, SHA_A],
      [98, SHA_B],
      [99, SHA_A],
    ] as const) {
      await reporter({ runId, sha }).reportDeploy({ ...DEPLOY, status: 'success' });
    }
    await reporter({ prNumber: 13, runId: 99 }).reportDeploy({ ...DEPLOY, status: 'success' });
    const ours = server.state.deployments.filter((d) => d.environment === 'preview/pr-12').map((d) => d.id);
    const other = server.state.deployments.find((d) => d.environment === 'preview/pr-13')?.id ?? 0;
    const sticky = stickies()[0]?.id;
    server.clearRequests();

    const result = await reporter({ runId: 120, sha: SHA_B }).reportTeardown();

    expect(server.lines()).toEqual([
      `GET ${API}/issues/${PR}/comments?per_page=100`,
      `PATCH ${API}/issues/comments/${sticky}`,
      `GET ${API}/deployments?environment=preview%2Fpr-12&per_page=100`,
      ...[...ours]
        .reverse()
        .flatMap((id) => [
          `GET ${API}/deployments/${id}/statuses?per_page=1`,
          `POST ${API}/deployments/${id}/statuses`,
        ]),
    ]);
    expect(result).toMatchObject({ ok: true, deactivated: [...ours].reverse() });
    for (const id of ours) expect(server.state.statuses.get(id)?.at(-1)?.state).toBe('inactive');
    expect(server.state.statuses.get(other)?.at(-1)?.state).toBe('success');
    const body = stickies()[0]?.body ?? '';
    expect(body).toContain('Preview environment removed');
    expect(body).toContain('run [120](https://github.example/jetscale/stack/actions/runs/120)');
    expect(body).toContain(SHA_B);
    expect(body).toContain(`It last served commit [\`aaaaaaa\`]`);
    expect(parseMeta(body)).toMatchObject({ runId: 120, sha: SHA_B, state: 'removed' });
    expect(comments()).toHaveLength(1);
  });

  it('pages through more than 100 deployments', async () => {
    for (let i = 0; i < 105; i++) {
      await reporter({ comment: false, runId: 1 + i }).reportDeploy({ ...DEPLOY, status: 'success' });
    }
    server.clearRequests();

    const result = await reporter({ comment: false, runId: 500 }).reportTeardown();

    const lists = server.lines().filter((l) => /^GET \/repos(itories)?\/.*\/deployments\?/.test(l));
    expect(lists).toEqual([
      `GET ${API}/deployments?environment=preview%2Fpr-12&per_page=100`,
      `GET ${REPO_ID()}/deployments?environment=preview%2Fpr-12&per_page=100&page=2`,
    ]);
    expect(result.deactivated).toHaveLength(105);
    expect(
      server.state.deployments.every((d) => server.state.statuses.get(d.id)?.at(-1)?.state === 'inactive'),
    ).toBe(true);
    expect(result.warnings).toEqual([]);
  });

  it('a second teardown changes nothing: no new status on a deployment already inactive', async () => {
    await reporter({ runId: 110 }).reportDeploy({ ...DEPLOY, status: 'success' });
    await reporter({ runId: 120 }).reportTeardown();
    const [id] = server.state.deployments.map((d) => d.id);
    const statuses = server.state.statuses.get(id ?? 0)?.length;
    server.clearRequests();

    const result = await reporter({ runId: 121 }).reportTeardown();

    expect(server.lines().filter((l) => l.startsWith('POST'))).toEqual([]);
    expect(server.state.statuses.get(id ?? 0)?.length).toBe(statuses);
    expect(result).toMatchObject({ ok: true, deactivated: [] });
    expect(comments()).toHaveLength(1);
  });

  it('leaves a short note when there was no comment', async () => {
    const result = await reporter({ runId: 120 }).reportTeardown();
    expect(server.lines()).toEqual([
      `GET ${API}/issues/${PR}/comments?per_page=100`,
      `POST ${API}/issues/${PR}/comments`,
      `GET ${API}/deployments?environment=preview%2Fpr-12&per_page=100`,
    ]);
    expect(result).toMatchObject({ ok: true, deactivated: [], comment: { action: 'created' } });
    expect(stickies()[0]?.body).toContain('Preview environment removed');
    expect(stickies()[0]?.body).not.toContain('It last served');
  });

  it('an older teardown leaves a newer run’s comment and deployment alone', async () => {
    await reporter({ runId: 130, sha: SHA_B }).reportDeploy({ ...DEPLOY, status: 'success' });
    const before = stickies()[0]?.body;
    server.clearRequests();

    const result = await reporter({ runId: 120 }).reportTeardown();

    expect(server.lines()).toEqual([`GET ${API}/issues/${PR}/comments?per_page=100`]);
    expect(result.skipped).toContain('run 130');
    expect(stickies()[0]?.body).toBe(before);
  });

  it('without a comment to go by, skips deployments a newer run made', async () => {
    await reporter({ comment: false, runId: 110 }).reportDeploy({ ...DEPLOY, status: 'success' });
    await reporter({ comment: false, runId: 130 }).reportDeploy({ ...DEPLOY, status: 'success' });
    const [older, newer] = server.state.deployments.map((d) => d.id);

    const result = await reporter({ comment: false, runId: 120 }).reportTeardown();

    expect(result.deactivated).toEqual([older]);
    expect(server.state.statuses.get(newer ?? 0)?.at(-1)?.state).toBe('success');
  });

  it('read-only token: warnings for every write, no throw', async () => {
    await reporter({ comment: false }).reportDeploy({ ...DEPLOY, status: 'success' });
    server.setReadOnly(true);
    server.clearRequests();

    const result = await reporter({ runId: 120 }).reportTeardown();

    expect(server.requests.map((r) => `${r.method} ${r.status}`)).toEqual([
      'GET 200',
      'POST 403',
      'GET 200',
      'GET 200',
      'POST 403',
    ]);
    expect(result).toMatchObject({ ok: false, deactivated: [] });
    expect(result.warnings).toHaveLength(2);
    expect(result.warnings[1]).toContain('could not set deployment');
  });
});

// Each finding of issue 9 about GitHub reporting, by name. Every one of these fails on the reporter as it was
// before the fix (src/github.ts at 28eb092).
describe('findings of issue 9', () => {
  const HUGE_RUN = 999_999_999;
  const forgedBody = (runId = HUGE_RUN) =>
    `${COMMENT_MARKER}\nlooks like ours\n<!-- jetscale-stack:meta {"sha":"${SHA_B}","runId":${runId},"runAttempt":1,"state":"deployed"} -->`;

  it.each([
    {
      kind: 'GITHUB_TOKEN (installation token)',
      login: 'github-actions[bot]',
      token: 'ghs_installationToken',
      forger: 'mallory',
    },
    // A personal access token's account is asked of GET /user; then even github-actions[bot] is someone else.
    {
      kind: 'personal access token',
      login: 'octocat',
      token: 'ghp_personalAccessToken',
      forger: 'github-actions[bot]',
    },
  ])(
    'the sticky comment is only ever one written by the action’s own identity ($kind): a marker from $forger is ignored and named',
    async ({ login, token, forger }) => {
      await server.close();
      server = await startGitHubServer({ owner: OWNER, repo: REPO, token, login, pulls: { [PR]: 'open' } });
      const [forged] = server.seedComments(PR, [forgedBody()], forger);

      const deploy = await reporter({ token }).reportDeploy({ ...DEPLOY, status: 'success' });

      // Not silenced: our own comment is created, the deployment and its status are recorded.
      expect(deploy.skipped).toBeUndefined();
      expect(deploy.comment?.action).toBe('created');
      expect(deploy.deploymentId).toBeDefined();
      expect(server.state.statuses.get(deploy.deploymentId ?? 0)?.map((s) => s.state)).toEqual(['success']);
      expect(comments().find((c) => c.id === forged?.id)?.body).toBe(forgedBody());
      const ours = comments().find((c) => c.id === deploy.comment?.id);
      expect(ours?.user.login).toBe(login);
      expect(parseMeta(ours?.body ?? '')).toMatchObject({ runId: 100 });
      expect(deploy.warnings).toEqual([
        expect.stringMatching(
          new RegExp(`ignored comment ${forged?.id} by ${forger.replace(/[[\]]/g, '\\$&')}`),
        ),
      ]);
      expect(deploy.warnings[0]).toContain(`not written by ${login}`);

      // Teardown is not silenced either: our comment is updated, the deployment set inactive.
      const teardown = await reporter({ token, runId: 120 }).reportTeardown();
      expect(teardown.skipped).toBeUndefined();
      expect(teardown.comment).toMatchObject({ id: deploy.comment?.id, action: 'updated' });
      expect(teardown.deactivated).toEqual([deploy.deploymentId]);
      expect(comments().find((c) => c.id === forged?.id)?.body).toBe(forgedBody());
    },
  );

  it('the sticky comment is only ever one written by the action’s own identity: when the token’s account cannot be told, no comment is taken or written', async () => {
    await server.close();
    server = await startGitHubServer({
      owner: OWNER,
      repo: REPO,
      token: 'ghp_pat',
      login: 'octocat',
      pulls: { [PR]: 'open' },
    });
    server.seedComments(PR, [forgedBody()], 'mallory');
    server.failNext({ method: 'GET', path: /^\/user$/, status: 503, times: 4 });

    const result = await reporter({ token: 'ghp_pat' }).reportDeploy({ ...DEPLOY, status: 'success' });

    expect(server.lines().filter((l) => l.includes('/comments'))).toEqual([]);
    expect(result.comment).toBeUndefined();
    expect(result.skipped).toBeUndefined();
    expect(result.deploymentId).toBeDefined();
    expect(result.warnings).toEqual([
      expect.stringContaining('could not tell which account the github-token is'),
    ]);

    // Teardown asks again (once), and without an identity no deployment's claim of a newer run counts.
    server.seedDeployment({
      environment: 'preview/pr-12',
      payload: { runId: HUGE_RUN },
      states: ['success'],
    });
    server.clearRequests();
    server.failNext({ method: 'GET', path: /^\/user$/, status: 503, times: 4 });
    const teardown = await reporter({ token: 'ghp_pat', runId: 120 }).reportTeardown();
    expect(server.lines().filter((l) => l === 'GET /user')).toHaveLength(4);
    expect(server.lines().filter((l) => l.includes('/comments'))).toEqual([]);
    expect(teardown.deactivated).toHaveLength(2);
    expect(teardown.warnings[0]).toContain('could not tell which account the github-token is');
    expect(teardown.warnings.slice(1)).toEqual([expect.stringContaining(`names run ${HUGE_RUN}`)]);
  });

  it('another GitHub App’s token with bot-login: that App’s sticky comment is found again and updated, github-actions[bot]’s is not taken', async () => {
    const app = 'jetscale-preview[bot]';
    const token = 'ghs_anotherAppsInstallationToken';
    await server.close();
    server = await startGitHubServer({
      owner: OWNER,
      repo: REPO,
      token,
      login: app,
      pulls: { [PR]: 'open' },
    });
    // A sticky comment of the workflow's own GITHUB_TOKEN (another account) is on the PR already.
    const [actions] = server.seedComments(PR, [forgedBody(50)], 'github-actions[bot]');

    // The first run as the action wires it: the bot-login input reaches the reporter.
    const inputs = parseInputs({
      loop: 'preview',
      'pr-number': String(PR),
      'git-sha': SHA_A,
      'github-token': token,
      'bot-login': app,
    });
    const env = { GITHUB_RUN_ID: '100', GITHUB_REPOSITORY: `${OWNER}/${REPO}`, GITHUB_API_URL: server.url };
    const first = await (makeReporter(inputs, runContext(env)) as Reporter).reportDeploy({
      ...DEPLOY,
      status: 'success',
    });
    const second = await reporter({ token, identity: app, runId: 101, sha: SHA_B }).reportDeploy({
      ...DEPLOY,
      status: 'success',
    });

    expect(first.comment?.action).toBe('created');
    expect(second.comment).toMatchObject({ id: first.comment?.id, action: 'updated' });
    const ours = comments().filter((c) => c.user.login === app);
    expect(ours).toHaveLength(1);
    expect(parseMeta(ours[0]?.body ?? '')).toMatchObject({ runId: 101, sha: SHA_B });
    expect(comments().find((c) => c.id === actions?.id)?.body).toBe(forgedBody(50));
  });

  it('a deployment not created by the action’s identity does not count as a newer run at teardown', async () => {
    const own = await reporter({ comment: false, runId: 110 }).reportDeploy({ ...DEPLOY, status: 'success' });
    const forged = server.seedDeployment({
      environment: 'preview/pr-12',
      payload: { runId: HUGE_RUN, runAttempt: 1, namespace: DEPLOY.namespace, host: DEPLOY.host },
      creator: 'mallory',
      states: ['success'],
    });
    const newerOwn = server.seedDeployment({
      environment: 'preview/pr-12',
      payload: { runId: 130, runAttempt: 1 },
      states: ['success'],
    });

    const result = await reporter({ comment: false, runId: 120 }).reportTeardown();

    expect([...(result.deactivated ?? [])].sort()).toEqual([own.deploymentId, forged.id].sort());
    expect(server.state.statuses.get(forged.id)?.at(-1)?.state).toBe('inactive');
    expect(server.state.statuses.get(newerOwn.id)?.at(-1)?.state).toBe('success');
    expect(result.warnings).toEqual([
      expect.stringMatching(
        new RegExp(`deployment ${forged.id} .*names run ${HUGE_RUN}.*created by mallory`),
      ),
    ]);
  });

  it('warnings once: the reporter never writes the job summary, it only collects its warnings', async () => {
    server.setReadOnly(true);
    const r = reporter();

    const deploy = await r.reportDeploy({ ...DEPLOY, status: 'success' });
    const teardown = await r.reportTeardown();
    await r.isPullRequestOpen();

    expect(deploy.warnings.length).toBeGreaterThan(0);
    expect(r.warnings).toEqual([...deploy.warnings, ...teardown.warnings]);
    expect(summaryText()).toBe('');
  });

  it('nothing secret leaves: failure details and descriptions posted to GitHub are redacted', async () => {
    const KUBE_SECRET = 'kube-credential-7f3a9c1e';
    registerSecret(KUBE_SECRET);
    try {
      const details = [
        'Error: UPGRADE FAILED: context deadline exceeded',
        `helm upgrade --kube-token ${KUBE_SECRET} failed`,
        `curl -H "Authorization: Bearer ${KUBE_SECRET}x" https://example.com`,
        // A test command that prints its environment.
        'HOME=/home/runner',
        `GITHUB_TOKEN=${TOKEN}`,
        'JETSCALE_URL=https://pr-12.preview.example.com',
        'PATH=/usr/bin:/bin',
        `INPUT_GITHUB-TOKEN=${TOKEN}`,
        `token leaked in a log line: ${TOKEN}`,
        'ghp_0123456789abcdefghijABCDEFGHIJ0123',
      ].join('\n');

      const r = reporter();
      await r.reportDeploy({ ...DEPLOY, status: 'failure', details });
      const body = comments()[0]?.body ?? '';
      await r.reportTeardown();

      const sent = JSON.stringify(server.requests.map((q) => q.body));
      for (const secret of [TOKEN, KUBE_SECRET, 'ghp_0123456789abcdefghijABCDEFGHIJ0123'])
        expect(sent).not.toContain(secret);
      expect(body).toContain('UPGRADE FAILED');
      expect(body).toContain('[5 environment variables omitted]');
      expect(body).toContain('token leaked in a log line: ***');
    } finally {
      clearSecrets();
    }
  });

  it.each([
    {
      url: 'https://user:hunter22@pr-12.preview.example.com/a?b=<script>alert(1)</script>|x',
      shown: '<https://pr-12.preview.example.com/a?b=%3Cscript%3Ealert(1)%3C/script%3E%7Cx>',
      sent: 'https://pr-12.preview.example.com/a?b=%3Cscript%3Ealert(1)%3C/script%3E%7Cx',
    },
    { url: 'javascript:alert(1)', shown: '_not shown: not an http(s) URL_', sent: undefined },
    { url: '<img src=x onerror=alert(1)>', shown: '_not shown: not an http(s) URL_', sent: undefined },
    {
      url: 'https://pr-12.preview.example.com',
      shown: '<https://pr-12.preview.example.com>',
      sent: 'https://pr-12.preview.example.com',
    },
  ])(
    'url is parsed: only a plain http(s) URL reaches the comment and environment_url ($url)',
    async ({ url, shown, sent }) => {
      await reporter().reportDeploy({ ...DEPLOY, url, status: 'success' });

      const body = stickies()[0]?.body ?? '';
      expect(body).toContain(`| URL | ${shown} |`);
      expect(body).toContain(`**${shown}**`);
      expect(body).not.toContain('<script>');
      expect(body).not.toContain('<img');
      expect(body).not.toContain('hunter22');
      const status = server.requests.find((q) => q.path.endsWith('/statuses'))?.body as Record<
        string,
        unknown
      >;
      expect(status.environment_url).toBe(sent);
    },
  );

  it('sends X-GitHub-Api-Version: 2022-11-28 on every request', async () => {
    const r = reporter();
    await r.reportDeploy({ ...DEPLOY, status: 'in_progress' });
    await r.reportDeploy({ ...DEPLOY, status: 'success' });
    await r.isPullRequestOpen();
    await reporter({ runId: 120 }).reportTeardown();

    expect(server.requests.length).toBeGreaterThan(6);
    expect(server.requests.map((q) => q.apiVersion)).toEqual(server.requests.map(() => API_VERSION));
  });

  it.each([
    { outcome: 'merged' as const, status: 202, message: 'Auto-merged main into' },
    { outcome: 'conflict' as const, status: 409, message: 'Conflict merging main into' },
  ])('create-deployment $status is a warning, never a throw', async ({ outcome, status, message }) => {
    server.answerCreateDeployment(outcome);

    const result = await reporter().reportDeploy({ ...DEPLOY, status: 'success' });

    expect(server.requests.map((q) => `${q.method} ${q.path.replace(API, '')} ${q.status}`)).toEqual([
      `GET /issues/${PR}/comments 200`,
      `POST /issues/${PR}/comments 201`,
      `POST /deployments ${status}`,
    ]);
    expect(result.ok).toBe(false);
    expect(result.deploymentId).toBeUndefined();
    expect(result.comment?.action).toBe('created');
    expect(result.warnings).toEqual([
      expect.stringMatching(
        new RegExp(`did not create a deployment for preview/pr-12: ${status} ${message}`),
      ),
    ]);
  });
});

describe('isPullRequestOpen', () => {
  it.each([
    { state: 'open' as const, pr: PR, expected: true, warned: false },
    { state: 'closed' as const, pr: PR, expected: false, warned: false },
    // Cannot tell: answer "open" so a failed lookup never tears a preview down.
    { state: undefined, pr: 404, expected: true, warned: true },
  ])('PR state $state (#$pr) → $expected', async ({ state, pr, expected, warned }) => {
    if (state) server.setPullState(pr, state);
    const r = reporter({ prNumber: pr });
    expect(await r.isPullRequestOpen()).toBe(expected);
    expect(server.lines()).toEqual([`GET ${API}/pulls/${pr}`]);
    expect(r.warnings.length > 0).toBe(warned);
  });
});

describe('Reporter input validation', () => {
  it.each([
    { field: { prNumber: 0 }, message: 'Invalid pr-number: 0; expected a positive integer' },
    { field: { sha: 'main' }, message: 'Invalid git-sha: "main"; expected a hexadecimal commit SHA' },
    { field: { runId: 1.5 }, message: 'Invalid run id: 1.5; expected a positive integer' },
    { field: { owner: 'a b' }, message: 'Invalid owner: "a b"' },
    { field: { token: '' }, message: 'Invalid github-token: empty' },
  ])('$field → $message', ({ field, message }) => {
    expect(() => reporter(field)).toThrow(message);
  });
});

describe('job summary', () => {
  it('writes names, steps, checks and diagnostics, escaped', async () => {
    await writeLoopSummary({
      title: 'JetScale Stack: preview',
      names: {
        namespace: 'jetscale-pr-12',
        host: 'pr-12.example.com',
        url: 'https://pr-12.example.com',
        sha: SHA_A,
      },
      steps: [
        { name: 'deploy', ok: true, startMs: 0, ms: 12_300 },
        { name: '<checks>', ok: false, startMs: 12_300, ms: 850 },
      ],
      checks: [
        { name: 'backend-health', ok: true, durationMs: 40, detail: '200' },
        { name: 'backend-ready', ok: false, durationMs: 125_000, detail: 'postgres "down" & redis ok' },
      ],
      diagnostics: { dir: '/tmp/diag', artifact: 'diagnostics-pr-12' },
    });
    const text = summaryText();
    const order = [
      '<h2>JetScale Stack: preview</h2>',
      'jetscale-pr-12',
      '<h3>Steps</h3>',
      '<h3>Contract checks</h3>',
    ];
    const positions = order.map((s) => text.indexOf(s));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(text).toContain('<a href="https://pr-12.example.com">https://pr-12.example.com</a>');
    expect(text).toContain('<td>deploy</td><td>✅ success</td><td>12.3 s</td>');
    expect(text).toContain('<td>&lt;checks&gt;</td><td>❌ failure</td>');
    expect(text).toContain('<td><b>Total</b></td><td> </td><td>13.2 s</td></tr></table>');
    expect(text).toContain('<p>1 of 2 passed</p>');
    expect(text).toContain(
      '<td>❌ failed</td><td>2 m 5 s</td><td>postgres &quot;down&quot; &amp; redis ok</td>',
    );
    expect(text).toContain(
      'written to <code>/tmp/diag</code>; uploaded as artifact <code>diagnostics-pr-12</code>',
    );
    expect(text).not.toContain('<checks>');
    expect(text.split('<td>').length).toBe(text.split('</td>').length);
  });

  it('shows parallel steps in the order they started, totals the wall-clock time, and draws them overlapping', async () => {
    // Recorded as they ended: 'images' ended first, though 'cluster' started first and ran alongside it.
    await writeSteps([
      { name: 'images', ok: true, startMs: 1_000, ms: 20_000 },
      { name: 'cluster', ok: true, startMs: 500, ms: 30_000 },
      { name: 'deploy', ok: false, startMs: 30_500, ms: 4_500 },
    ]);
    const text = summaryText();
    expect(text.indexOf('<td>cluster</td>')).toBeLessThan(text.indexOf('<td>images</td>'));
    expect(text).toContain('<td><b>Total</b></td><td> </td><td>34.5 s</td></tr></table>');
    expect(text).toContain(
      [
        '</table>',
        '',
        '```mermaid',
        'gantt',
        '    dateFormat x',
        '    axisFormat %M:%S',
        '    todayMarker off',
        '    section steps',
        '    cluster :500, 30500',
        '    images :1000, 21000',
        '    deploy :crit, 30500, 35000',
        '```',
        '',
      ].join('\n'),
    );
  });

  it.each([
    [0, '0 ms'],
    [999, '999 ms'],
    [1000, '1.0 s'],
    [59_949, '59.9 s'],
    [60_000, '1 m 0 s'],
    [-1, '–'],
  ])('formatDuration(%d) = %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('writes nothing without $GITHUB_STEP_SUMMARY', async () => {
    delete process.env.GITHUB_STEP_SUMMARY;
    try {
      const wrote = await Promise.all([
        writeNames({ namespace: 'x' }),
        writeSteps([{ name: 's', ok: true, startMs: 0, ms: 1 }]),
        writeChecks([{ name: 'backend-health', ok: true, durationMs: 1, detail: '200' }]),
        writeDiagnostics({ dir: '/d' }),
      ]);
      expect(wrote).toEqual([false, false, false, false]);
    } finally {
      process.env.GITHUB_STEP_SUMMARY = summaryFile;
    }
    expect(summaryText()).toBe('');
    await writeNames({ namespace: 'x' });
    expect(summaryText()).toContain('<code>x</code>');
  });

  it('escapes HTML', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
