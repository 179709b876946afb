// The GitHub double held to GitHub's own description: its validation catches what it should (negative
// controls), its answers are GitHub's (complete objects, /repositories/{id} links, 202/409, GET /user), and
// the pull_request payloads the tests use are valid webhook payloads.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pullRequestEvent } from '../support/act.js';
import { type PullRequestAction, pullRequestEventPayload } from '../support/github-objects.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { API_VERSION, restDescription, webhookDescription } from '../support/openapi.js';

const TOKEN = 'ghs_doubleTestToken';
const API = '/repos/jetscale/stack';
let server: GitHubServer;

beforeEach(async () => {
  server = await startGitHubServer({ token: TOKEN, pulls: { 12: 'open' } });
});

afterEach(async () => {
  await server.close();
});

/** A request as a client would send it (with the API version unless told otherwise). */
async function send(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = { 'x-github-api-version': API_VERSION },
) {
  const res = await fetch(new URL(path, server.url), {
    method,
    headers: {
      authorization: `token ${TOKEN}`,
      accept: 'application/vnd.github+json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, link: res.headers.get('link'), json: (await res.json()) as unknown };
}

describe('validation against GitHub’s OpenAPI description', () => {
  it('negative control: an invalid request is caught (wrong body type, unknown query parameter, no API version)', async () => {
    await send('POST', `${API}/deployments`, { ref: 5 }, {});
    await send('GET', `${API}/issues/12/comments?per_page=100&colour=red`);

    const violations = server.takeViolations();
    expect(violations).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^request POST .*repos\/create-deployment: no X-GitHub-Api-Version header/),
        expect.stringMatching(/^request POST .*repos\/create-deployment: request body: \/ref must be string/),
        expect.stringMatching(
          /^request GET .*issues\/list-comments: query parameter colour is not one GitHub/,
        ),
      ]),
    );
  });

  it('negative control: an invalid response is caught (a pull request without its required fields)', async () => {
    // failNext answers with an error body; with status 200 that is no pull request at all.
    server.failNext({ method: 'GET', path: /\/pulls\/12$/, status: 200, times: 1 });
    await send('GET', `${API}/pulls/12`);

    const violations = server.takeViolations();
    expect(violations).toEqual([
      expect.stringMatching(/^response GET .*pulls\/get 200 response: \(root\) must have required property/),
    ]);
  });

  it('negative control: a request for an operation GitHub does not have is caught', async () => {
    await send('POST', `${API}/issues/12/comments/reactions-of-nothing`, { body: 'x' });
    expect(server.takeViolations()).toEqual([expect.stringContaining('no such operation')]);
  });

  it('violations fail loudly: assertValid() throws and close() rejects, listing them', async () => {
    const other = await startGitHubServer({ token: TOKEN });
    await fetch(new URL(`${API}/deployments`, other.url), {
      method: 'POST',
      headers: { authorization: `token ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ref: 'main', environment: 7 }),
    });
    expect(() => other.assertValid()).toThrow(
      /OpenAPI description does not allow:\n.*\/environment must be string/s,
    );
    await expect(other.close()).rejects.toThrow(/no X-GitHub-Api-Version header/);
  });

  it('an unsupported X-GitHub-Api-Version is answered 400, as GitHub does', async () => {
    const res = await send('GET', `${API}/pulls/12`, undefined, { 'x-github-api-version': '2099-01-01' });
    expect(res.status).toBe(400);
    expect(server.takeViolations()).toEqual([expect.stringContaining('X-GitHub-Api-Version "2099-01-01"')]);
  });

  it('success responses are complete: a pull request, a comment, a deployment, its status, all valid', async () => {
    const pull = await send('GET', `${API}/pulls/12`);
    const comment = await send('POST', `${API}/issues/12/comments`, { body: 'hello' });
    const deployment = await send('POST', `${API}/deployments`, {
      ref: 'a'.repeat(40),
      environment: 'preview/pr-12',
    });
    const id = (deployment.json as { id: number }).id;
    const status = await send('POST', `${API}/deployments/${id}/statuses`, { state: 'success' });

    expect([pull.status, comment.status, deployment.status, status.status]).toEqual([200, 201, 201, 201]);
    const rest = restDescription();
    expect(rest.checkSchema('pull-request', pull.json)).toEqual([]);
    expect(rest.checkSchema('issue-comment', comment.json)).toEqual([]);
    expect(rest.checkSchema('deployment', deployment.json)).toEqual([]);
    expect(rest.checkSchema('deployment-status', status.json)).toEqual([]);
    expect(Object.keys((comment.json as { user: object }).user)).toHaveLength(19);
    expect(Object.keys(pull.json as object).length).toBeGreaterThanOrEqual(42);
  });
});

describe('answers as GitHub gives them', () => {
  it('pagination Link headers use GitHub’s /repositories/{id} form, and that form is answered', async () => {
    server.seedComments(
      12,
      Array.from({ length: 150 }, (_, i) => `comment ${i}`),
    );

    const first = await send('GET', `${API}/issues/12/comments?per_page=100`);
    const next = /<([^>]+)>; rel="next"/.exec(first.link ?? '')?.[1] ?? '';
    expect(new URL(next).pathname).toBe(`/repositories/${server.repositoryId}/issues/12/comments`);
    const second = await send('GET', new URL(next).pathname + new URL(next).search);

    expect(second.status).toBe(200);
    expect((second.json as unknown[]).length).toBe(50);
    expect(second.link).toContain(
      `/repositories/${server.repositoryId}/issues/12/comments?per_page=100&page=1>; rel="prev"`,
    );
    // Another repository id is not this repository (nor a URL GitHub's description has).
    const other = await send('GET', `/repositories/${server.repositoryId + 1}/issues/12/comments`);
    expect(other.status).toBe(404);
    expect(server.takeViolations()).toEqual([expect.stringContaining('no such operation')]);
  });

  it('GET /user: 403 for an installation token (GITHUB_TOKEN), the private user for a personal token', async () => {
    const installation = await send('GET', '/user');
    expect(installation).toMatchObject({
      status: 403,
      json: { message: 'Resource not accessible by integration' },
    });

    const pat = await startGitHubServer({ login: 'octocat' });
    try {
      const res = await fetch(new URL('/user', pat.url), {
        headers: { authorization: 'token ghp_x', 'x-github-api-version': API_VERSION },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ login: 'octocat', type: 'User', user_view_type: 'private' });
    } finally {
      await pat.close();
    }
  });

  it.each([
    { outcome: 'merged' as const, status: 202, message: /^Auto-merged main into feature on deployment\.$/ },
    { outcome: 'conflict' as const, status: 409, message: /^Conflict merging main into feature\.$/ },
  ])(
    'create-deployment can answer $status ($outcome), as GitHub describes',
    async ({ outcome, status, message }) => {
      server.answerCreateDeployment(outcome);
      const res = await send('POST', `${API}/deployments`, { ref: 'feature' });
      expect(res.status).toBe(status);
      expect((res.json as { message: string }).message).toMatch(message);
      expect(server.state.deployments).toEqual([]);
      // The next one is created again.
      expect((await send('POST', `${API}/deployments`, { ref: 'feature' })).status).toBe(201);
    },
  );
});

describe('pull_request event payloads are valid webhook payloads', () => {
  const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
  const actions: PullRequestAction[] = ['opened', 'synchronize', 'reopened', 'closed'];

  it.each(
    actions.flatMap((action) => [
      { action, head: 'jetscale/demo' },
      { action, head: 'someone/demo' },
    ]),
  )('$action from $head (test/support/act.ts pullRequestEvent)', ({ action, head }) => {
    const payload = pullRequestEvent(action, head, 101, SHA);
    expect(webhookDescription().check(`pull-request-${action}`, payload)).toEqual([]);
    // What the workflows and the action read from it.
    expect(payload).toMatchObject({
      action,
      number: 101,
      pull_request: {
        number: 101,
        state: action === 'closed' ? 'closed' : 'open',
        head: { sha: SHA, ref: 'feature', repo: { full_name: head } },
        base: { ref: 'main', repo: { full_name: 'jetscale/demo' } },
      },
      repository: { full_name: 'jetscale/demo' },
    });
  });

  it('negative control: a payload without its sender, or of another action, is caught', () => {
    const payload = pullRequestEventPayload({
      action: 'opened',
      repository: 'jetscale/app',
      number: 7,
      headSha: SHA,
    });
    const { sender: _sender, ...withoutSender } = payload;
    expect(webhookDescription().check('pull-request-opened', withoutSender)).toEqual([
      expect.stringContaining("must have required property 'sender'"),
    ]);
    expect(webhookDescription().check('pull-request-closed', payload)).toEqual([
      expect.stringContaining('/action must be equal to one of the allowed values'),
    ]);
  });
});
