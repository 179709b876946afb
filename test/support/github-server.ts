/**
 * A real HTTP server on loopback that speaks the slice of GitHub's REST API the action's reporting uses:
 *
 *   GET    /repos/{owner}/{repo}/issues/{n}/comments        (per_page, page; Link rel="next"/"last")
 *   POST   /repos/{owner}/{repo}/issues/{n}/comments        201
 *   PATCH  /repos/{owner}/{repo}/issues/comments/{id}
 *   GET    /repos/{owner}/{repo}/pulls/{n}
 *   POST   /repos/{owner}/{repo}/deployments                201
 *   GET    /repos/{owner}/{repo}/deployments                (environment, sha, ref, task; paginated, newest first)
 *   POST   /repos/{owner}/{repo}/deployments/{id}/statuses  201 (auto_inactive as GitHub documents it)
 *   GET    /repos/{owner}/{repo}/deployments/{id}/statuses  (per_page, page; newest first)
 *   GET    /user                                             (403 for an installation token, as GitHub)
 *   GET    /repos/{owner}/{repo}/issues/{n}/events          (labeled, unlabeled, head_ref_force_pushed; paginated)
 *   DELETE /repos/{owner}/{repo}/issues/{n}/labels/{name}   (records the unlabeled event; 404 when not there)
 *   GET    /repos/{owner}/{repo}/collaborators/{user}/permission  (role_name; read for anyone not given a role)
 *   GET    /repos/{owner}/{repo}/actions/runs               (event, head_sha; paginated)
 *   GET    /repos/{owner}/{repo}/actions/runs/{id}/artifacts  (name)
 *   GET    /repos/{owner}/{repo}/actions/artifacts/{id}/zip  302 to a short-lived URL on this server, as GitHub
 *
 * Every /repos/{owner}/{repo}/… route also answers GitHub's /repositories/{id}/… form, which is what its
 * pagination `Link` headers use (and so do ours).
 *
 * Held to GitHub's own description (test/support/openapi.ts): every request is checked against the REST
 * description (operation, parameters, body, X-GitHub-Api-Version) and every response the double sends
 * against the schema of its status, and every problem is recorded in `violations`. `assertValid()` throws
 * when there is any, and so does `close()`: a test that ends with its server closed fails loudly. Responses
 * are complete objects (full users, repositories, pull requests; test/support/github-objects.ts).
 *
 * State lives in memory; every request is logged (method, path, query, JSON body, Authorization header,
 * API version, response status). `setReadOnly(true)` answers every write with GitHub's 403 for a token
 * without write access (what a pull request from a fork gets). `failNext` makes it misbehave per route: a
 * status (5xx, 429, GitHub's rate-limit answers with their headers: primaryRateLimit, secondaryRateLimit),
 * no answer at all, or the answer lost after the write was done.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  artifact,
  collaboratorPermission,
  type GitHubHosts,
  issueEvent,
  label as labelObject,
  privateUser,
  pullRequest,
  type RepositoryRef,
  repositoryId,
  simpleUser,
  type WorkflowRunFacts,
  workflowRun,
} from './github-objects.js';
import { API_VERSION, type RestDescription, restDescription } from './openapi.js';

export interface GitHubServerOptions {
  owner?: string;
  repo?: string;
  /** When set, any other token is answered with 401 Bad credentials. */
  token?: string;
  /** Pull requests that exist, with their state. Comments can only be made on these. */
  pulls?: Record<number, PullState>;
  readOnly?: boolean;
  /**
   * Login of the account the token belongs to (author of comments, creator of deployments). Default
   * github-actions[bot], as for GITHUB_TOKEN: GET /user then answers 403, as GitHub does for an installation
   * token; any other login is a user whose token GET /user describes.
   */
  login?: string;
  /** The repository's numeric id, used in /repositories/{id}/… URLs. Default: derived from owner/repo. */
  repositoryId?: number;
  /** Check requests and responses against GitHub's REST description (default true). */
  validate?: boolean;
  /** Repository roles (role_name) by login; anyone else reads (a public repository's outsider). */
  roles?: Record<string, string>;
}

/** A pull request's state; merged is closed by a merge (GitHub: state closed, merged true). */
export type PullState = 'open' | 'closed' | 'merged';

/** A user as GitHub shows it (simple-user: all 18 fields). */
export type User = ReturnType<typeof simpleUser>;

export interface IssueComment {
  id: number;
  node_id: string;
  url: string;
  html_url: string;
  issue_url: string;
  body: string;
  user: User;
  created_at: string;
  updated_at: string;
  author_association: string;
}

export interface Deployment {
  id: number;
  node_id: string;
  url: string;
  sha: string;
  ref: string;
  task: string;
  payload: unknown;
  original_environment: string;
  environment: string;
  description: string | null;
  creator: User;
  created_at: string;
  updated_at: string;
  statuses_url: string;
  repository_url: string;
  transient_environment: boolean;
  production_environment: boolean;
  /** Not part of GitHub's response; kept so tests can assert what was asked for. */
  requested: { auto_merge: unknown; required_contexts: unknown };
}

export interface DeploymentStatus {
  id: number;
  node_id: string;
  url: string;
  state: string;
  description: string;
  environment: string;
  target_url: string;
  log_url: string;
  environment_url: string;
  created_at: string;
  updated_at: string;
  deployment_url: string;
  repository_url: string;
  creator: User;
  /** Not part of GitHub's response: the value of auto_inactive in the request that created it. */
  auto_inactive: boolean;
}

/** What GET /pulls/{n} shows of a pull request. */
export interface PullFacts {
  state: PullState;
  /** The head commit (default ffff…). */
  headSha?: string;
  /** The head repository (owner/name): a fork, or the repository itself (the default). */
  headRepo?: string;
  /** The head branch (default feature-<n>). */
  headRef?: string;
  labels?: string[];
}

export interface GitHubState {
  pulls: Map<number, PullFacts>;
  /** Issue events by pull request, oldest first. */
  issueEvents: Map<number, ReturnType<typeof issueEvent>[]>;
  runs: WorkflowRunFacts[];
  /** zip: the bytes, or the path of a file holding them (large artifacts stay on disk). */
  artifacts: { id: number; name: string; runId: number; zip: Buffer | string; createdAt: string }[];
  comments: Map<number, IssueComment[]>;
  deployments: Deployment[];
  statuses: Map<number, DeploymentStatus[]>;
}

export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  auth: string | undefined;
  /** The X-GitHub-Api-Version header the client sent. */
  apiVersion?: string;
  status: number;
}

export interface Failure {
  /** The request method it applies to; any method when unset. */
  method?: string;
  /** Matched against the request path (without query). */
  path: RegExp;
  /** The status answered, with GitHub's JSON error body. Unused with `hang`. */
  status?: number;
  /** How many matching requests fail; then the rule is used up (Infinity: an outage). */
  times: number;
  /** Matching requests let through before the first failure. */
  skip?: number;
  message?: string;
  documentation?: string;
  /** Headers sent with the error, overriding the usual ones (retry-after, x-ratelimit-remaining, -reset). */
  headers?: Record<string, string | number>;
  /** Never answer: the client's timeout is what ends the request. */
  hang?: boolean;
  /**
   * The request is carried out first (a comment is made), and only its answer is lost: replaced by `status`,
   * or by no answer with `hang`. What a 502 or a timeout after GitHub did the write looks like to a client.
   */
  processed?: boolean;
}

const RATE_LIMIT_DOCS = 'https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api';

/**
 * GitHub's answer when the primary rate limit is spent: 403 (or 429), x-ratelimit-remaining 0 and the reset
 * time in UTC epoch seconds.
 */
export function primaryRateLimit(
  resetEpochSeconds: number,
  status: 403 | 429 = 403,
): Pick<Failure, 'status' | 'message' | 'documentation' | 'headers'> {
  return {
    status,
    message: 'API rate limit exceeded for installation ID 4242.',
    documentation: `${RATE_LIMIT_DOCS}#about-primary-rate-limits`,
    headers: { 'x-ratelimit-remaining': 0, 'x-ratelimit-used': 5000, 'x-ratelimit-reset': resetEpochSeconds },
  };
}

/**
 * GitHub's answer when a secondary rate limit is hit: 403 (or 429), its message, and a retry-after header
 * only sometimes (GitHub: "If the retry-after response header is present…").
 */
export function secondaryRateLimit(
  options: { status?: 403 | 429; retryAfter?: number } = {},
): Pick<Failure, 'status' | 'message' | 'documentation' | 'headers'> {
  return {
    status: options.status ?? 403,
    message:
      'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach ' +
      'out to GitHub Support for help, please include the request ID 0000:1111:2222:3333:44444444.',
    documentation: `${RATE_LIMIT_DOCS}#about-secondary-rate-limits`,
    headers: options.retryAfter === undefined ? {} : { 'retry-after': options.retryAfter },
  };
}

export interface GitHubServer {
  /** Base URL to give Octokit as baseUrl. */
  url: string;
  state: GitHubState;
  requests: LoggedRequest[];
  setReadOnly(readOnly: boolean): void;
  setPullState(n: number, state: PullState): void;
  /**
   * Answer the next `times` matching requests with `status` (GitHub's JSON error body and the given headers),
   * or not at all (`hang`); with `processed`, after carrying the request out.
   */
  failNext(failure: Failure): void;
  /** Seed an issue with comments, as if written earlier by `login` (not logged as requests). */
  seedComments(issue: number, bodies: string[], login?: string): IssueComment[];
  /** Seed a deployment, as if created earlier by `creator` (default: the token's account). */
  seedDeployment(deployment: {
    environment: string;
    ref?: string;
    payload?: unknown;
    creator?: string;
    /** Statuses it already has, oldest first. */
    states?: string[];
  }): Deployment;
  /**
   * The next `times` create-deployment requests get GitHub's other answers: 'merged' is 202 ("Auto-merged
   * main into <ref> on deployment.", no deployment), 'conflict' is 409 (merge conflict or failed checks).
   */
  answerCreateDeployment(outcome: 'merged' | 'conflict', times?: number): void;
  /** The repository's numeric id (GitHub's /repositories/{id} form). */
  repositoryId: number;
  /** Every request or response that does not match GitHub's description, one line each. */
  violations: string[];
  /** Throws, listing them, when there are violations. */
  assertValid(): void;
  /** Returns the violations recorded so far and forgets them (for tests that provoke them on purpose). */
  takeViolations(): string[];
  /** Requests rendered as "METHOD /path?query" lines, for sequence assertions. */
  lines(): string[];
  clearRequests(): void;
  /** Changes what GET /pulls/{n} shows (head commit, head repository and branch, labels). */
  updatePull(n: number, facts: Partial<PullFacts>): void;
  /** `actor` applies `label` to pull request `n` (the label, and its labeled event at `at`, default now). */
  labelPull(n: number, label: string, actor: string, at?: string): void;
  /** Records a head_ref_force_pushed event on pull request `n`. */
  forcePushed(n: number, actor: string, at?: string): void;
  setRole(login: string, role: string): void;
  /** A workflow run of this repository (created_at default now); returns its facts, with its id. */
  addRun(run: {
    headRepo: string;
    headBranch: string;
    headSha: string;
    event?: string;
    conclusion?: string | null;
    createdAt?: string;
  }): WorkflowRunFacts;
  /** An artifact of run `runId` whose download is `zip` (bytes, or the path of a file holding them). */
  addArtifact(runId: number, name: string, zip: Buffer | string): void;
  /** The run as GitHub shows it (the workflow_run event's workflow_run). */
  runObject(run: WorkflowRunFacts): ReturnType<typeof workflowRun>;
  /** Stops the server; rejects when requests or responses violated GitHub's description (see assertValid). */
  close(): Promise<void>;
}

const DOCS = 'https://docs.github.com/rest';
const DEPLOYMENT_STATES = ['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'];

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly documentation = DOCS,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export async function startGitHubServer(options: GitHubServerOptions = {}): Promise<GitHubServer> {
  const owner = options.owner ?? 'jetscale';
  const repo = options.repo ?? 'stack';
  const login = options.login ?? 'github-actions[bot]';
  const repoId = options.repositoryId ?? repositoryId(`${owner}/${repo}`);
  const description: RestDescription | undefined = options.validate === false ? undefined : restDescription();
  let readOnly = options.readOnly ?? false;
  const failures: Failure[] = [];
  const deploymentAnswers: Array<'merged' | 'conflict'> = [];
  const requests: LoggedRequest[] = [];
  const violations: string[] = [];
  const state: GitHubState = {
    pulls: new Map(),
    comments: new Map(),
    deployments: [],
    statuses: new Map(),
    issueEvents: new Map(),
    runs: [],
    artifacts: [],
  };
  const roles = new Map(Object.entries(options.roles ?? {}));
  const baseRef: RepositoryRef = { owner, name: repo, id: repoId };
  const refOf = (fullName: string): RepositoryRef => {
    const [o, n] = fullName.split('/') as [string, string];
    return fullName === `${owner}/${repo}` ? baseRef : { owner: o, name: n, id: repositoryId(fullName) };
  };
  /** Where a 302 for an artifact's zip points (GitHub: a short-lived storage URL). */
  const BLOBS = '/_artifact-blobs/';
  for (const [n, s] of Object.entries(options.pulls ?? {})) state.pulls.set(Number(n), { state: s });
  let nextId = 1000;
  const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

  let base = '';
  const hosts = (): GitHubHosts => ({ api: base, web: 'https://github.example' });
  const user = (name: string): User => simpleUser(name, hosts());
  const repoApi = () => `${base}/repos/${owner}/${repo}`;
  const webUrl = `https://github.example/${owner}/${repo}`;

  function makeComment(issue: number, body: string, author: string): IssueComment {
    const id = nextId++;
    const at = now();
    return {
      id,
      node_id: `IC_${id}`,
      url: `${repoApi()}/issues/comments/${id}`,
      html_url: `${webUrl}/pull/${issue}#issuecomment-${id}`,
      issue_url: `${repoApi()}/issues/${issue}`,
      body,
      user: user(author),
      created_at: at,
      updated_at: at,
      author_association: 'NONE',
    };
  }

  function paginate<T>(req: URL, items: T[]): { page: T[]; link?: string } {
    const perPage = Math.min(100, Math.max(1, intParam(req, 'per_page') ?? 30));
    const pageNo = Math.max(1, intParam(req, 'page') ?? 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const page = items.slice((pageNo - 1) * perPage, pageNo * perPage);
    // GitHub's Link headers name the repository by id: /repositories/{id}/… whatever form was asked.
    const rest = req.pathname.replace(/^\/repos\/[^/]+\/[^/]+\//, `/repositories/${repoId}/`);
    const rel = (p: number, name: string) => {
      const u = new URL(rest + req.search, base);
      u.searchParams.set('per_page', String(perPage));
      u.searchParams.set('page', String(p));
      return `<${u.toString()}>; rel="${name}"`;
    };
    const links: string[] = [];
    if (pageNo > 1) links.push(rel(pageNo - 1, 'prev'));
    if (pageNo < last) links.push(rel(pageNo + 1, 'next'), rel(last, 'last'));
    if (pageNo > 1) links.push(rel(1, 'first'));
    return { page, link: links.length ? links.join(', ') : undefined };
  }

  function makeDeployment(b: Record<string, unknown>, ref: string, creator: string): Deployment {
    const environment = typeof b.environment === 'string' ? b.environment : 'production';
    const id = nextId++;
    const at = now();
    return {
      id,
      node_id: `DE_${id}`,
      url: `${repoApi()}/deployments/${id}`,
      sha: /^[0-9a-f]{40}$/.test(ref) ? ref : '0'.repeat(40),
      ref,
      task: typeof b.task === 'string' ? b.task : 'deploy',
      payload: b.payload ?? {},
      original_environment: environment,
      environment,
      description: typeof b.description === 'string' ? b.description : null,
      creator: user(creator),
      created_at: at,
      updated_at: at,
      statuses_url: `${repoApi()}/deployments/${id}/statuses`,
      repository_url: repoApi(),
      transient_environment: b.transient_environment === true,
      production_environment:
        b.production_environment === undefined
          ? environment === 'production'
          : b.production_environment === true,
      requested: { auto_merge: b.auto_merge, required_contexts: b.required_contexts },
    };
  }

  function requirePull(n: number): void {
    if (!state.pulls.has(n)) throw new HttpError(404, 'Not Found', `${DOCS}/issues/comments`);
  }

  function requireWrite(docs: string): void {
    if (readOnly) throw new HttpError(403, 'Resource not accessible by integration', docs);
  }

  function addEvent(n: number, event: string, actor: string, at: string, label?: string): void {
    const list = state.issueEvents.get(n) ?? [];
    list.push(issueEvent({ id: nextId++, event, actor, createdAt: at, label, base: baseRef }, hosts()));
    state.issueEvents.set(n, list);
  }

  type Handler = (
    m: RegExpMatchArray,
    url: URL,
    body: unknown,
  ) => { status: number; json: unknown; link?: string; location?: string };
  const routes: Array<{ method: string; pattern: RegExp; handler: Handler }> = [
    {
      method: 'GET',
      pattern: /^\/issues\/(\d+)\/comments$/,
      handler: (m, url) => {
        const n = Number(m[1]);
        requirePull(n);
        const { page, link } = paginate(url, state.comments.get(n) ?? []);
        return { status: 200, json: page, link };
      },
    },
    {
      method: 'POST',
      pattern: /^\/issues\/(\d+)\/comments$/,
      handler: (m, _url, body) => {
        const docs = `${DOCS}/issues/comments#create-an-issue-comment`;
        requireWrite(docs);
        const n = Number(m[1]);
        requirePull(n);
        const text = field(body, 'body', docs);
        const comment = makeComment(n, text, login);
        const list = state.comments.get(n) ?? [];
        list.push(comment);
        state.comments.set(n, list);
        return { status: 201, json: comment };
      },
    },
    {
      method: 'PATCH',
      pattern: /^\/issues\/comments\/(\d+)$/,
      handler: (m, _url, body) => {
        const docs = `${DOCS}/issues/comments#update-an-issue-comment`;
        requireWrite(docs);
        const id = Number(m[1]);
        const comment = [...state.comments.values()].flat().find((c) => c.id === id);
        if (!comment) throw new HttpError(404, 'Not Found', docs);
        comment.body = field(body, 'body', docs);
        comment.updated_at = now();
        return { status: 200, json: comment };
      },
    },
    {
      method: 'GET',
      pattern: /^\/pulls\/(\d+)$/,
      handler: (m) => {
        const n = Number(m[1]);
        const pull = state.pulls.get(n);
        if (!pull) throw new HttpError(404, 'Not Found', `${DOCS}/pulls/pulls#get-a-pull-request`);
        const json = pullRequest(
          {
            base: baseRef,
            head: pull.headRepo ? refOf(pull.headRepo) : undefined,
            number: n,
            state: pull.state === 'merged' ? 'closed' : pull.state,
            merged: pull.state === 'merged',
            headSha: pull.headSha ?? 'f'.repeat(40),
            headRef: pull.headRef ?? `feature-${n}`,
          },
          hosts(),
        );
        return {
          status: 200,
          json: { ...json, labels: (pull.labels ?? []).map((l) => labelObject(l, baseRef, hosts())) },
        };
      },
    },
    {
      method: 'GET',
      pattern: /^\/issues\/(\d+)\/events$/,
      handler: (m, url) => {
        const n = Number(m[1]);
        requirePull(n);
        const { page, link } = paginate(url, state.issueEvents.get(n) ?? []);
        return { status: 200, json: page, link };
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/issues\/(\d+)\/labels\/([^/]+)$/,
      handler: (m) => {
        const docs = `${DOCS}/issues/labels#remove-a-label-from-an-issue`;
        requireWrite(docs);
        const n = Number(m[1]);
        const name = decodeURIComponent(m[2] as string);
        const pull = state.pulls.get(n);
        if (!pull?.labels?.includes(name)) throw new HttpError(404, 'Label does not exist', docs);
        pull.labels = pull.labels.filter((l) => l !== name);
        addEvent(n, 'unlabeled', login, now(), name);
        return { status: 200, json: pull.labels.map((l) => labelObject(l, baseRef, hosts())) };
      },
    },
    {
      method: 'GET',
      pattern: /^\/collaborators\/([^/]+)\/permission$/,
      handler: (m) => {
        const who = decodeURIComponent(m[1] as string);
        return { status: 200, json: collaboratorPermission(who, roles.get(who) ?? 'read', hosts()) };
      },
    },
    {
      method: 'GET',
      pattern: /^\/actions\/runs$/,
      handler: (_m, url) => {
        const event = url.searchParams.get('event');
        const sha = url.searchParams.get('head_sha');
        const list = state.runs
          .filter((r) => (!event || r.event === event) && (!sha || r.headSha === sha))
          .slice()
          .reverse();
        const { page, link } = paginate(url, list);
        return {
          status: 200,
          json: { total_count: list.length, workflow_runs: page.map((r) => workflowRun(r, hosts())) },
          link,
        };
      },
    },
    {
      method: 'GET',
      pattern: /^\/actions\/runs\/(\d+)\/artifacts$/,
      handler: (m, url) => {
        const id = Number(m[1]);
        const run = state.runs.find((r) => r.id === id);
        if (!run)
          throw new HttpError(404, 'Not Found', `${DOCS}/actions/artifacts#list-workflow-run-artifacts`);
        const name = url.searchParams.get('name');
        const list = state.artifacts.filter((a) => a.runId === id && (!name || a.name === name));
        return {
          status: 200,
          json: {
            total_count: list.length,
            artifacts: list.map((a) =>
              artifact({ id: a.id, name: a.name, size: sizeOf(a.zip), run, createdAt: a.createdAt }, hosts()),
            ),
          },
        };
      },
    },
    {
      method: 'GET',
      pattern: /^\/actions\/artifacts\/(\d+)\/zip$/,
      handler: (m) => {
        const id = Number(m[1]);
        if (!state.artifacts.some((a) => a.id === id))
          throw new HttpError(404, 'Not Found', `${DOCS}/actions/artifacts#download-an-artifact`);
        return { status: 302, json: undefined, location: `${base}${BLOBS}${id}.zip?sig=${nextId++}` };
      },
    },
    {
      method: 'POST',
      pattern: /^\/deployments$/,
      handler: (_m, _url, body) => {
        const docs = `${DOCS}/deployments/deployments#create-a-deployment`;
        requireWrite(docs);
        const ref = field(body, 'ref', docs);
        const answer = deploymentAnswers.shift();
        if (answer === 'merged')
          return { status: 202, json: { message: `Auto-merged main into ${ref} on deployment.` } };
        if (answer === 'conflict') throw new HttpError(409, `Conflict merging main into ${ref}.`, docs);
        const deployment = makeDeployment(body as Record<string, unknown>, ref, login);
        state.deployments.push(deployment);
        return { status: 201, json: publicDeployment(deployment) };
      },
    },
    {
      method: 'GET',
      pattern: /^\/deployments$/,
      handler: (_m, url) => {
        const filters = ['environment', 'sha', 'ref', 'task'] as const;
        const list = state.deployments
          .filter((d) => filters.every((f) => !url.searchParams.has(f) || d[f] === url.searchParams.get(f)))
          .slice()
          .reverse();
        const { page, link } = paginate(url, list);
        return { status: 200, json: page.map(publicDeployment), link };
      },
    },
    {
      method: 'GET',
      pattern: /^\/deployments\/(\d+)\/statuses$/,
      handler: (m, url) => {
        const id = Number(m[1]);
        if (!state.deployments.some((d) => d.id === id))
          throw new HttpError(404, 'Not Found', `${DOCS}/deployments/statuses#list-deployment-statuses`);
        const list = (state.statuses.get(id) ?? []).slice().reverse();
        const { page, link } = paginate(url, list);
        return { status: 200, json: page, link };
      },
    },
    {
      method: 'POST',
      pattern: /^\/deployments\/(\d+)\/statuses$/,
      handler: (m, _url, body) => {
        const docs = `${DOCS}/deployments/statuses#create-a-deployment-status`;
        requireWrite(docs);
        const id = Number(m[1]);
        const deployment = state.deployments.find((d) => d.id === id);
        if (!deployment) throw new HttpError(404, 'Not Found', docs);
        const stateName = field(body, 'state', docs);
        if (!DEPLOYMENT_STATES.includes(stateName)) {
          throw new HttpError(422, 'Validation Failed', docs, {
            errors: [{ resource: 'DeploymentStatus', code: 'invalid', field: 'state' }],
          });
        }
        const b = body as Record<string, unknown>;
        const str = (k: string) => (typeof b[k] === 'string' ? (b[k] as string) : '');
        if (typeof b.environment === 'string') deployment.environment = b.environment;
        const autoInactive = b.auto_inactive !== false;
        const status = addStatus(deployment, stateName, {
          description: str('description'),
          log_url: str('log_url') || str('target_url'),
          environment_url: str('environment_url'),
          auto_inactive: autoInactive,
        });
        // GitHub: "Adds a new inactive status to all prior non-transient, non-production environment
        // deployments with the same repository and environment name as the created status's deployment.
        // An inactive status is only added to deployments that had a success state."
        if (stateName === 'success' && autoInactive) {
          for (const prior of state.deployments) {
            if (prior.id >= deployment.id || prior.environment !== deployment.environment) continue;
            if (prior.transient_environment || prior.production_environment) continue;
            if (state.statuses.get(prior.id)?.at(-1)?.state !== 'success') continue;
            addStatus(prior, 'inactive', {
              description: '',
              log_url: '',
              environment_url: '',
              auto_inactive: false,
            });
          }
        }
        return { status: 201, json: status };
      },
    },
  ];

  function addStatus(
    deployment: Deployment,
    stateName: string,
    fields: { description: string; log_url: string; environment_url: string; auto_inactive: boolean },
  ): DeploymentStatus {
    const id = nextId++;
    const at = now();
    const status: DeploymentStatus = {
      id,
      node_id: `DES_${id}`,
      url: `${deployment.url}/statuses/${id}`,
      state: stateName,
      description: fields.description,
      environment: deployment.environment,
      target_url: fields.log_url,
      log_url: fields.log_url,
      environment_url: fields.environment_url,
      created_at: at,
      updated_at: at,
      deployment_url: deployment.url,
      repository_url: repoApi(),
      creator: user(login),
      auto_inactive: fields.auto_inactive,
    };
    const list = state.statuses.get(deployment.id) ?? [];
    list.push(status);
    state.statuses.set(deployment.id, list);
    deployment.updated_at = at;
    return status;
  }

  /** The path in GitHub's /repos/{owner}/{repo} form (what the description names), from either form. */
  function repoPath(pathname: string): string {
    const m = /^\/repositories\/(\d+)(\/.*)?$/.exec(pathname);
    return m && Number(m[1]) === repoId ? `/repos/${owner}/${repo}${m[2] ?? ''}` : pathname;
  }

  function record(kind: 'request' | 'response', entry: LoggedRequest, problems: string[]): void {
    const q = new URLSearchParams(entry.query).toString();
    for (const p of problems)
      violations.push(
        `${kind} ${entry.method} ${entry.path}${q ? `?${q}` : ''} (${entry.status || '-'}): ${p}`,
      );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base);
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    let body: unknown;
    const version = req.headers['x-github-api-version'];
    const entry: LoggedRequest = {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: undefined,
      auth: req.headers.authorization,
      apiVersion: typeof version === 'string' ? version : undefined,
      status: 0,
    };
    requests.push(entry);
    if (method === 'GET' && url.pathname.startsWith(BLOBS)) {
      // the storage a download redirects to: no GitHub API, no token (the URL is the credential)
      const blob = state.artifacts.find((a) => `${BLOBS}${a.id}.zip` === url.pathname);
      entry.status = blob ? 200 : 404;
      res.writeHead(entry.status, { 'content-type': 'application/zip', 'content-length': sizeOf(blob?.zip) });
      if (typeof blob?.zip === 'string') createReadStream(blob.zip).pipe(res);
      else res.end(blob?.zip ?? Buffer.alloc(0));
      return;
    }
    const path = repoPath(url.pathname);
    let status: number;
    let json: unknown;
    let link: string | undefined;
    let location: string | undefined;
    let failure: Failure | undefined;
    try {
      if (raw.length) {
        try {
          body = JSON.parse(raw);
        } catch {
          violations.push(`request ${method} ${url.pathname}: body is not JSON: ${raw.slice(0, 200)}`);
          throw new HttpError(400, 'Problems parsing JSON');
        }
      }
      entry.body = body;
      if (description) {
        record(
          'request',
          entry,
          description.checkRequest({ method, path, query: entry.query, headers: req.headers, body }),
        );
      }
      if (entry.apiVersion !== undefined && entry.apiVersion !== API_VERSION) {
        throw new HttpError(
          400,
          `Unsupported 'X-GitHub-Api-Version' header: ${entry.apiVersion}`,
          'https://docs.github.com/rest/about-the-rest-api/api-versions',
        );
      }
      const auth = req.headers.authorization ?? '';
      const given = auth.replace(/^(token|bearer)\s+/i, '');
      if (!auth || (options.token !== undefined && given !== options.token)) {
        throw new HttpError(401, auth ? 'Bad credentials' : 'Requires authentication');
      }
      failure = failures.find((f) => (f.method ?? method) === method && f.path.test(url.pathname));
      if (failure?.skip) {
        failure.skip -= 1;
        failure = undefined;
      }
      if (failure) {
        failure.times -= 1;
        if (failure.times <= 0) failures.splice(failures.indexOf(failure), 1);
        if (!failure.processed) {
          if (failure.hang) return;
          throw failureError(failure);
        }
      }
      if (method === 'GET' && path === '/user') {
        // An installation token (GITHUB_TOKEN) is no user: GitHub answers 403.
        if (login.endsWith('[bot]')) {
          throw new HttpError(
            403,
            'Resource not accessible by integration',
            `${DOCS}/users/users#get-the-authenticated-user`,
          );
        }
        ({ status, json } = { status: 200, json: privateUser(login, hosts()) });
      } else {
        const prefix = `/repos/${owner}/${repo}`;
        if (!path.startsWith(`${prefix}/`)) throw new HttpError(404, 'Not Found');
        const rest = path.slice(prefix.length);
        const route = routes
          .map((r) => ({ r, m: r.method === method ? rest.match(r.pattern) : null }))
          .find((x) => x.m);
        if (!route?.m) throw new HttpError(404, 'Not Found');
        ({ status, json, link, location } = route.r.handler(route.m, url, body));
      }
      if (failure?.processed) {
        // Carried out; the answer is what is lost.
        if (failure.hang) return;
        throw failureError(failure);
      }
    } catch (error) {
      const e = error instanceof HttpError ? error : new HttpError(500, String(error));
      status = e.status;
      json = { message: e.message, documentation_url: e.documentation, ...e.extra, status: String(e.status) };
    }
    entry.status = status;
    if (description)
      record('response', entry, description.checkResponse({ method, path, status, body: json }));
    if (location) {
      res.writeHead(status, { location, 'content-length': 0, 'x-github-request-id': `R${requests.length}` });
      res.end();
      return;
    }
    const text = JSON.stringify(json);
    const headers: Record<string, string | number> = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'x-github-media-type': 'github.v3; format=json',
      'x-github-api-version-selected': API_VERSION,
      'x-ratelimit-limit': 5000,
      'x-ratelimit-remaining': 4999,
      'x-github-request-id': `R${requests.length}`,
    };
    if (link) headers.link = link;
    if (failure && !failure.hang) Object.assign(headers, failure.headers);
    res.writeHead(status, headers);
    res.end(text);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: String(error) }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function assertValid(): void {
    if (!violations.length) return;
    throw new Error(
      `The GitHub double saw ${violations.length} request(s) or response(s) that GitHub's OpenAPI description ` +
        `does not allow:\n${violations.map((v) => `  - ${v}`).join('\n')}`,
    );
  }

  return {
    url: base,
    state,
    requests,
    repositoryId: repoId,
    violations,
    setReadOnly: (value) => {
      readOnly = value;
    },
    setPullState: (n, s) => {
      state.pulls.set(n, { ...state.pulls.get(n), state: s });
    },
    failNext: (failure) => {
      failures.push({ ...failure });
    },
    seedComments: (issue, bodies, author = 'someone') => {
      const list = state.comments.get(issue) ?? [];
      const made = bodies.map((b) => makeComment(issue, b, author));
      list.push(...made);
      state.comments.set(issue, list);
      return made;
    },
    seedDeployment: ({ environment, ref = 'f'.repeat(40), payload, creator = login, states = [] }) => {
      const deployment = makeDeployment({ environment, payload, transient_environment: true }, ref, creator);
      deployment.production_environment = false;
      state.deployments.push(deployment);
      for (const s of states)
        addStatus(deployment, s, { description: '', log_url: '', environment_url: '', auto_inactive: false });
      return deployment;
    },
    updatePull: (n, facts) => {
      const pull = state.pulls.get(n);
      if (!pull) throw new Error(`no pull request ${n} on the GitHub double`);
      Object.assign(pull, facts);
    },
    labelPull: (n, name, actor, at = now()) => {
      const pull = state.pulls.get(n);
      if (!pull) throw new Error(`no pull request ${n} on the GitHub double`);
      pull.labels = [...new Set([...(pull.labels ?? []), name])];
      addEvent(n, 'labeled', actor, at, name);
    },
    forcePushed: (n, actor, at = now()) => addEvent(n, 'head_ref_force_pushed', actor, at),
    setRole: (who, role) => {
      roles.set(who, role);
    },
    addRun: ({
      headRepo,
      headBranch,
      headSha,
      event = 'pull_request',
      conclusion = 'success',
      createdAt = now(),
    }) => {
      const run: WorkflowRunFacts = {
        id: nextId++,
        base: baseRef,
        head: refOf(headRepo),
        headBranch,
        headSha,
        event,
        conclusion,
        createdAt,
      };
      state.runs.push(run);
      return run;
    },
    addArtifact: (runId, name, zip) => {
      state.artifacts.push({ id: nextId++, name, runId, zip, createdAt: now() });
    },
    runObject: (run) => workflowRun(run, hosts()),
    answerCreateDeployment: (outcome, times = 1) => {
      for (let i = 0; i < times; i++) deploymentAnswers.push(outcome);
    },
    assertValid,
    takeViolations: () => violations.splice(0, violations.length),
    lines: () =>
      requests.map((r) => {
        const q = new URLSearchParams(r.query).toString();
        return `${r.method} ${r.path}${q ? `?${q}` : ''}`;
      }),
    clearRequests: () => {
      requests.length = 0;
    },
    close: async () => {
      await new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      });
      assertValid();
    },
  };
}

function sizeOf(zip: Buffer | string | undefined): number {
  if (zip === undefined) return 0;
  return typeof zip === 'string' ? statSync(zip).size : zip.length;
}

function failureError(failure: Failure): HttpError {
  return new HttpError(failure.status ?? 500, failure.message ?? 'Server Error', failure.documentation);
}

function publicDeployment(d: Deployment): Omit<Deployment, 'requested'> {
  const { requested: _requested, ...rest } = d;
  return rest;
}

function field(body: unknown, name: string, docs: string): string {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  if (typeof value !== 'string') {
    throw new HttpError(422, `Invalid request.\n\n"${name}" wasn't supplied.`, docs);
  }
  return value;
}

function intParam(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
