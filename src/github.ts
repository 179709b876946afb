/**
 * Reports a preview to GitHub: one sticky pull-request comment and a GitHub Deployment per run.
 *
 * Reporting never fails a deploy. Every API error (403 from a fork's read-only token, 404, 401, 5xx,
 * network) becomes a core.warning plus a line in the job summary, and the caller learns about it from the
 * returned {ok, warnings}.
 */
import * as core from '@actions/core';
import { getOctokit } from '@actions/github';
import { writeWarnings } from './summary.js';

export const COMMENT_MARKER = '<!-- jetscale-stack:preview -->';
const META_PREFIX = '<!-- jetscale-stack:meta ';
const META_PATTERN = /<!-- jetscale-stack:meta (\{.*?\}) -->/g;
/** Comments are limited to 65536 characters; keep details well inside that. */
const MAX_DETAILS = 20_000;

export interface ReportContext {
  owner: string;
  repo: string;
  prNumber: number;
  /** The commit deployed (or, for teardown, the commit of the run tearing down). */
  sha: string;
  runId: number;
  runAttempt?: number;
  /** Link to the run; default `<serverUrl>/<owner>/<repo>/actions/runs/<runId>[/attempts/<n>]`. */
  runUrl?: string;
  token: string;
  /** REST API base; default $GITHUB_API_URL, else https://api.github.com. */
  apiUrl?: string;
  /** Web base for links; default $GITHUB_SERVER_URL, else https://github.com. */
  serverUrl?: string;
  /** Write the sticky pull-request comment (deployments are recorded either way). */
  comment: boolean;
}

export interface ReporterOptions {
  /** Per-request timeout. */
  timeoutMs?: number;
  /** Extra attempts for GET/PATCH requests that fail with 5xx or a network error. */
  retries?: number;
  retryDelayMs?: number;
  /** Add failed-reporting warnings to the job summary ($GITHUB_STEP_SUMMARY). */
  summary?: boolean;
  now?: () => Date;
}

export type DeployStatus = 'success' | 'failure' | 'in_progress';

export interface DeployReport {
  url: string;
  namespace: string;
  host: string;
  status: DeployStatus;
  /** Free text shown folded in the comment (an error message, say). */
  details?: string;
}

export interface ReportResult {
  /** False when any warning was raised. */
  ok: boolean;
  warnings: string[];
  /** Why nothing was written, when a newer run already reported on this pull request. */
  skipped?: string;
  comment?: { id: number; url: string; action: 'created' | 'updated' };
  deploymentId?: number;
  /** Teardown: deployments that were given an inactive status. */
  deactivated?: number[];
}

/** What a run records about itself in the sticky comment. */
export interface CommentMeta {
  sha: string;
  runId: number;
  runAttempt: number;
  updatedAt: string;
  state?: 'deployed' | 'removed';
}

interface FoundComment {
  id: number;
  url: string;
  body: string;
  meta?: CommentMeta;
}

type Octokit = ReturnType<typeof getOctokit>;

export class Reporter {
  readonly environment: string;
  readonly runAttempt: number;
  readonly runUrl: string;
  /** Every warning raised by this reporter, across calls. */
  readonly warnings: string[] = [];
  private readonly octokit: Octokit;
  private readonly serverUrl: string;
  private readonly now: () => Date;
  private readonly summary: boolean;
  private deploymentId: number | undefined;

  constructor(
    readonly context: ReportContext,
    options: ReporterOptions = {},
  ) {
    validateContext(context);
    this.environment = `preview/pr-${context.prNumber}`;
    this.runAttempt = context.runAttempt ?? 1;
    this.serverUrl = trimSlash(context.serverUrl || process.env.GITHUB_SERVER_URL || 'https://github.com');
    this.runUrl =
      context.runUrl ||
      `${this.serverUrl}/${context.owner}/${context.repo}/actions/runs/${context.runId}` +
        (context.runAttempt && context.runAttempt > 1 ? `/attempts/${context.runAttempt}` : '');
    this.now = options.now ?? (() => new Date());
    this.summary = options.summary ?? true;
    const baseUrl = trimSlash(context.apiUrl || process.env.GITHUB_API_URL || 'https://api.github.com');
    this.octokit = getOctokit(context.token, { baseUrl, userAgent: 'jetscale-stack' });
    installRequestPolicy(this.octokit, {
      timeoutMs: options.timeoutMs ?? 30_000,
      retries: options.retries ?? 2,
      retryDelayMs: options.retryDelayMs ?? 1_000,
    });
  }

  private get repoParams(): { owner: string; repo: string } {
    return { owner: this.context.owner, repo: this.context.repo };
  }

  /** Upserts the sticky comment and records a deployment with the given status. */
  async reportDeploy(report: DeployReport): Promise<ReportResult> {
    const result = newResult();
    const meta = this.meta('deployed');
    if (this.context.comment) {
      const newer = await this.writeComment(result, meta, () => this.deployBody(report, meta));
      if (newer) return this.skip(result, newer);
    }
    await this.recordDeployment(result, report);
    return this.finish(result);
  }

  /** Marks the preview as gone in the sticky comment and sets the environment's deployments inactive. */
  async reportTeardown(): Promise<ReportResult> {
    const result = newResult();
    const meta = this.meta('removed');
    if (this.context.comment) {
      const newer = await this.writeComment(result, meta, (previous) => this.teardownBody(meta, previous));
      if (newer) return this.skip(result, newer);
    }
    const listed = await this.attempt(result, `list deployments of ${this.environment}`, () =>
      this.octokit.paginate(this.octokit.rest.repos.listDeployments, {
        ...this.repoParams,
        environment: this.environment,
        per_page: 100,
      }),
    );
    if (listed.ok) {
      result.deactivated = [];
      for (const deployment of listed.value) {
        const by = payloadRun(deployment.payload);
        if (by && isNewer(by, meta)) {
          core.info(
            `Deployment ${deployment.id} of ${this.environment} was made by a newer run (${by.runId}); left active.`,
          );
          continue;
        }
        // Already inactive (a second teardown, or a closed PR's retry): nothing to change.
        const latest = await this.attempt(result, `read the status of deployment ${deployment.id}`, () =>
          this.octokit.rest.repos.listDeploymentStatuses({
            ...this.repoParams,
            deployment_id: deployment.id,
            per_page: 1,
          }),
        );
        if (latest.ok && latest.value.data[0]?.state === 'inactive') continue;
        const set = await this.attempt(result, `set deployment ${deployment.id} inactive`, () =>
          this.octokit.rest.repos.createDeploymentStatus({
            ...this.repoParams,
            deployment_id: deployment.id,
            state: 'inactive',
            description: 'Preview removed',
            log_url: this.runUrl,
          }),
        );
        if (set.ok) result.deactivated.push(deployment.id);
      }
    }
    return this.finish(result);
  }

  /**
   * Whether the pull request is still open. When that cannot be told (an API error), warns and answers
   * true: a failed lookup must never tear a preview down.
   */
  async isPullRequestOpen(): Promise<boolean> {
    const result = newResult();
    const pull = await this.attempt(result, `read pull request #${this.context.prNumber}`, () =>
      this.octokit.rest.pulls.get({ ...this.repoParams, pull_number: this.context.prNumber }),
    );
    await this.finish(result);
    return pull.ok ? pull.value.data.state === 'open' : true;
  }

  /**
   * Writes the sticky comment (updating the one found, else creating it), unless it records a newer run:
   * then writes nothing and returns that run's metadata.
   */
  private async writeComment(
    result: ReportResult,
    meta: CommentMeta,
    render: (previous: CommentMeta | undefined) => string,
  ): Promise<CommentMeta | undefined> {
    const found = await this.attempt(result, `list comments of pull request #${this.context.prNumber}`, () =>
      this.findComment(),
    );
    if (!found.ok) return undefined;
    const previous = found.value?.meta;
    if (previous && isNewer(previous, meta)) return previous;
    await this.upsertComment(result, found.value, render(previous));
    return undefined;
  }

  /** The first comment of the pull request that starts with the marker, searching every page. */
  private async findComment(): Promise<FoundComment | undefined> {
    const pages = this.octokit.paginate.iterator(this.octokit.rest.issues.listComments, {
      ...this.repoParams,
      issue_number: this.context.prNumber,
      per_page: 100,
    });
    for await (const page of pages) {
      for (const comment of page.data) {
        const body = comment.body ?? '';
        if (body.trimStart().startsWith(COMMENT_MARKER)) {
          return { id: comment.id, url: comment.html_url, body, meta: parseMeta(body) };
        }
      }
    }
    return undefined;
  }

  private async upsertComment(result: ReportResult, existing: FoundComment | undefined, body: string) {
    if (existing) {
      const updated = await this.attempt(result, `update comment ${existing.id}`, () =>
        this.octokit.rest.issues.updateComment({ ...this.repoParams, comment_id: existing.id, body }),
      );
      if (updated.ok)
        result.comment = { id: existing.id, url: updated.value.data.html_url, action: 'updated' };
    } else {
      const created = await this.attempt(result, `comment on pull request #${this.context.prNumber}`, () =>
        this.octokit.rest.issues.createComment({
          ...this.repoParams,
          issue_number: this.context.prNumber,
          body,
        }),
      );
      if (created.ok) {
        result.comment = { id: created.value.data.id, url: created.value.data.html_url, action: 'created' };
      }
    }
  }

  private async recordDeployment(result: ReportResult, report: DeployReport): Promise<void> {
    let id = this.deploymentId;
    if (id === undefined) {
      const created = await this.attempt(result, `create a deployment for ${this.environment}`, () =>
        this.octokit.rest.repos.createDeployment({
          ...this.repoParams,
          ref: this.context.sha,
          environment: this.environment,
          description: `Preview of ${shortSha(this.context.sha)} in ${report.namespace}`,
          transient_environment: true,
          production_environment: false,
          auto_merge: false,
          required_contexts: [],
          payload: {
            runId: this.context.runId,
            runAttempt: this.runAttempt,
            namespace: report.namespace,
            host: report.host,
          },
        }),
      );
      if (!created.ok) return;
      const data = created.value.data;
      if (!('id' in data)) {
        this.warn(
          result,
          `GitHub did not create a deployment for ${this.environment}: ${data.message ?? ''}`,
        );
        return;
      }
      id = data.id;
      this.deploymentId = id;
    }
    result.deploymentId = id;
    const deploymentId = id;
    await this.attempt(result, `set deployment ${deploymentId} to ${report.status}`, () =>
      this.octokit.rest.repos.createDeploymentStatus({
        ...this.repoParams,
        deployment_id: deploymentId,
        state: report.status,
        environment: this.environment,
        environment_url: report.url,
        log_url: this.runUrl,
        description: STATUS_TEXT[report.status].description,
        auto_inactive: true,
      }),
    );
  }

  private meta(state: CommentMeta['state']): CommentMeta {
    return {
      sha: this.context.sha,
      runId: this.context.runId,
      runAttempt: this.runAttempt,
      updatedAt: this.now().toISOString(),
      state,
    };
  }

  private runLink(): string {
    const attempt = this.runAttempt > 1 ? ` (attempt ${this.runAttempt})` : '';
    return `[${this.context.runId}${attempt}](${this.runUrl})`;
  }

  private commitLink(sha: string): string {
    const { owner, repo } = this.context;
    return `[\`${shortSha(sha)}\`](${this.serverUrl}/${owner}/${repo}/commit/${sha}) (\`${sha}\`)`;
  }

  deployBody(report: DeployReport, meta: CommentMeta): string {
    const text = STATUS_TEXT[report.status];
    const lines = [
      COMMENT_MARKER,
      `### ${text.heading}`,
      '',
      ...(report.status === 'success' ? [`**${report.url}**`, ''] : []),
      '| | |',
      '| --- | --- |',
      `| Status | ${text.cell} |`,
      `| URL | ${report.url} |`,
      `| Commit | ${this.commitLink(this.context.sha)} |`,
      `| Namespace | \`${report.namespace}\` |`,
      `| Host | \`${report.host}\` |`,
      `| Run | ${this.runLink()} |`,
      `| Updated | ${meta.updatedAt} |`,
      '',
    ];
    if (report.details?.trim()) {
      lines.push(
        '<details><summary>Details</summary>',
        '',
        fence(truncate(report.details.trim())),
        '',
        '</details>',
        '',
      );
    }
    lines.push(metaComment(meta));
    return lines.join('\n');
  }

  teardownBody(meta: CommentMeta, previous: CommentMeta | undefined): string {
    const lines = [
      COMMENT_MARKER,
      '### Preview environment removed',
      '',
      `The preview of this pull request was torn down at ${meta.updatedAt} by run ${this.runLink()} ` +
        `at commit ${this.commitLink(this.context.sha)}.`,
    ];
    if (previous?.state === 'deployed') {
      lines.push(
        '',
        `It last served commit ${this.commitLink(previous.sha)}, deployed by run ${previous.runId}.`,
      );
    }
    lines.push('', metaComment(meta));
    return lines.join('\n');
  }

  private skip(result: ReportResult, newer: CommentMeta): Promise<ReportResult> {
    result.skipped =
      `run ${newer.runId} (attempt ${newer.runAttempt}) already reported on pull request ` +
      `#${this.context.prNumber}; this run (${this.context.runId}, attempt ${this.runAttempt}) is older`;
    core.info(`Not updating the preview comment or deployment: ${result.skipped}.`);
    return this.finish(result);
  }

  /** Runs one API call; an error becomes a warning (never a throw). */
  private async attempt<T>(
    result: ReportResult,
    what: string,
    call: () => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false }> {
    try {
      return { ok: true, value: await call() };
    } catch (error) {
      this.warn(result, `GitHub reporting: could not ${what}: ${describeError(error)}`);
      return { ok: false };
    }
  }

  private warn(result: ReportResult, message: string): void {
    core.warning(message);
    result.warnings.push(message);
    result.ok = false;
    this.warnings.push(message);
  }

  private async finish(result: ReportResult): Promise<ReportResult> {
    if (this.summary && result.warnings.length) {
      try {
        await writeWarnings('GitHub reporting', result.warnings);
      } catch (error) {
        core.warning(
          `Could not write the job summary: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    return result;
  }
}

const STATUS_TEXT: Record<DeployStatus, { heading: string; cell: string; description: string }> = {
  success: { heading: 'Preview environment ready', cell: '✅ deployed', description: 'Preview deployed' },
  failure: { heading: 'Preview deploy failed', cell: '❌ failed', description: 'Preview deploy failed' },
  in_progress: { heading: 'Preview deploying…', cell: '⏳ in progress', description: 'Deploying preview' },
};

function newResult(): ReportResult {
  return { ok: true, warnings: [] };
}

/** True when `a` comes from a later run than `b` (run id, then attempt). */
export function isNewer(
  a: Pick<CommentMeta, 'runId' | 'runAttempt'>,
  b: Pick<CommentMeta, 'runId' | 'runAttempt'>,
) {
  if (a.runId !== b.runId) return a.runId > b.runId;
  return (a.runAttempt ?? 1) > (b.runAttempt ?? 1);
}

/** The metadata of a sticky comment: its last meta line (details text above it cannot forge it). */
export function parseMeta(body: string): CommentMeta | undefined {
  const match = [...body.matchAll(META_PATTERN)].at(-1);
  if (!match?.[1]) return undefined;
  try {
    const value = JSON.parse(match[1]) as Partial<CommentMeta>;
    if (typeof value.runId !== 'number' || typeof value.sha !== 'string') return undefined;
    return {
      sha: value.sha,
      runId: value.runId,
      runAttempt: typeof value.runAttempt === 'number' ? value.runAttempt : 1,
      updatedAt: typeof value.updatedAt === 'string' ? value.updatedAt : '',
      state: value.state,
    };
  } catch {
    return undefined;
  }
}

function metaComment(meta: CommentMeta): string {
  return `${META_PREFIX}${JSON.stringify(meta)} -->`;
}

function payloadRun(payload: unknown): Pick<CommentMeta, 'runId' | 'runAttempt'> | undefined {
  let value = payload;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  const p = value as { runId?: unknown; runAttempt?: unknown } | null;
  if (!p || typeof p.runId !== 'number') return undefined;
  return { runId: p.runId, runAttempt: typeof p.runAttempt === 'number' ? p.runAttempt : 1 };
}

export function describeError(error: unknown): string {
  const e = error as { status?: unknown; message?: unknown; response?: { data?: unknown } };
  const status = typeof e?.status === 'number' ? e.status : undefined;
  const data = e?.response?.data as { message?: unknown } | undefined;
  const message =
    typeof data?.message === 'string' ? data.message : error instanceof Error ? error.message : String(error);
  if (!e?.response) return `${message} (no response from the API)`;
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

function validateContext(c: ReportContext): void {
  const bad = (name: string, value: unknown, form: string) =>
    new Error(`Invalid ${name}: ${JSON.stringify(value)}; expected ${form}`);
  if (!c.owner || !/^[A-Za-z0-9_.-]+$/.test(c.owner)) throw bad('owner', c.owner, 'a GitHub owner name');
  if (!c.repo || !/^[A-Za-z0-9_.-]+$/.test(c.repo)) throw bad('repo', c.repo, 'a GitHub repository name');
  if (!Number.isInteger(c.prNumber) || c.prNumber < 1) {
    throw bad('pr-number', c.prNumber, 'a positive integer');
  }
  if (!/^[0-9a-f]{7,64}$/i.test(c.sha)) throw bad('git-sha', c.sha, 'a hexadecimal commit SHA');
  if (!Number.isInteger(c.runId) || c.runId < 1) throw bad('run id', c.runId, 'a positive integer');
  if (c.runAttempt !== undefined && (!Number.isInteger(c.runAttempt) || c.runAttempt < 1)) {
    throw bad('run attempt', c.runAttempt, 'a positive integer');
  }
  if (!c.token)
    throw new Error("Invalid github-token: empty; expected a token, such as the workflow's github.token");
}

/** Per-request timeout, and retries of idempotent requests (GET, PATCH) on 5xx or network errors. */
function installRequestPolicy(
  octokit: Octokit,
  policy: { timeoutMs: number; retries: number; retryDelayMs: number },
): void {
  octokit.hook.wrap('request', async (request, options) => {
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
}

function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function truncate(text: string): string {
  return text.length > MAX_DETAILS ? `…${text.slice(-MAX_DETAILS)}` : text;
}

/** A fenced block that the text cannot close early. */
function fence(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = '`'.repeat(longest + 1);
  return `${ticks}text\n${text}\n${ticks}`;
}
