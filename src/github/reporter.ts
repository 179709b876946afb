/**
 * Reports a preview to GitHub: one sticky pull-request comment and a GitHub Deployment per run.
 *
 * Reporting never fails a deploy. Every API error (403 from a fork's read-only token, 404, 401, 5xx,
 * network) becomes a core.warning and an entry of `warnings`; the caller learns about it from the returned
 * {ok, warnings} and from `warnings`, which its job summary prints (the reporter never writes the summary).
 */
import * as core from '@actions/core';
import { redact, registerSecret } from '../redact.js';
import { createClient, describeError, type Octokit, type RepoParams, requestPolicy } from './client.js';
import { CommentStore, type ForeignMarker, type StoredComment } from './comments.js';
import { Deployments, decideTeardown } from './deployments.js';
import { botIdentity, describeIdentity, type Identity, resolveIdentity } from './identity.js';
import {
  type CommentMeta,
  type DeployReport,
  deployBody,
  isNewer,
  type RenderContext,
  teardownBody,
} from './render.js';

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
  /**
   * The bot login the token writes as, for a GitHub App token other than GITHUB_TOKEN (`my-app[bot]`).
   * Default: found from the token (see identity.ts).
   */
  identity?: string;
}

export interface ReporterOptions {
  /** Per-attempt timeout (default 30 s). */
  timeoutMs?: number;
  /** Attempts per call, the first included (default 4); see RequestPolicy in client.ts. */
  attempts?: number;
  /** The longest wait before a retry (default 60 s). */
  maxWaitMs?: number;
  /** Time all calls together may spend failing and waiting (default 3 min). */
  budgetMs?: number;
  /** Waits before a retry (default setTimeout). */
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
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

/** How many ignored marker comments one report names. */
const MAX_IGNORED_NAMED = 5;

export class Reporter {
  readonly environment: string;
  readonly runAttempt: number;
  readonly runUrl: string;
  /** Every warning raised by this reporter, across calls. */
  readonly warnings: string[] = [];
  private readonly octokit: Octokit;
  private readonly comments: CommentStore;
  private readonly deployments: Deployments;
  private readonly render: RenderContext;
  private readonly now: () => Date;
  private identityKnown: Identity | undefined;
  private readonly identityFailed = new WeakSet<ReportResult>();
  private deploymentId: number | undefined;

  constructor(
    readonly context: ReportContext,
    options: ReporterOptions = {},
  ) {
    validateContext(context);
    registerSecret(context.token);
    this.environment = `preview/pr-${context.prNumber}`;
    this.runAttempt = context.runAttempt ?? 1;
    const serverUrl = trimSlash(context.serverUrl || process.env.GITHUB_SERVER_URL || 'https://github.com');
    this.runUrl =
      context.runUrl ||
      `${serverUrl}/${context.owner}/${context.repo}/actions/runs/${context.runId}` +
        (context.runAttempt && context.runAttempt > 1 ? `/attempts/${context.runAttempt}` : '');
    this.now = options.now ?? (() => new Date());
    this.identityKnown = context.identity ? botIdentity(context.identity) : undefined;
    const baseUrl = trimSlash(context.apiUrl || process.env.GITHUB_API_URL || 'https://api.github.com');
    this.octokit = createClient(
      context.token,
      baseUrl,
      requestPolicy({
        timeoutMs: options.timeoutMs,
        attempts: options.attempts,
        maxWaitMs: options.maxWaitMs,
        budgetMs: options.budgetMs,
        sleep: options.sleep,
        now: () => this.now().getTime(),
      }),
    );
    const repo: RepoParams = { owner: context.owner, repo: context.repo };
    this.comments = new CommentStore(this.octokit, repo, context.prNumber);
    this.deployments = new Deployments(this.octokit, repo, this.environment);
    this.render = {
      owner: context.owner,
      repo: context.repo,
      sha: context.sha,
      runId: context.runId,
      runAttempt: this.runAttempt,
      runUrl: this.runUrl,
      serverUrl,
    };
  }

  /** Upserts the sticky comment and records a deployment with the given status. */
  async reportDeploy(report: DeployReport): Promise<ReportResult> {
    const result = newResult();
    const meta = this.meta('deployed');
    if (this.context.comment) {
      const newer = await this.writeComment(result, meta, () => deployBody(this.render, report, meta));
      if (newer) return this.skip(result, newer);
    }
    await this.recordDeployment(result, report);
    return result;
  }

  /**
   * Marks the preview as gone in the sticky comment and sets the environment's deployments inactive. `reason`:
   * why, when the sweep removed it rather than its PR's own teardown ("PR closed", "idle for 3 days").
   */
  async reportTeardown(reason?: string): Promise<ReportResult> {
    const result = newResult();
    const meta = this.meta('removed');
    if (this.context.comment) {
      const newer = await this.writeComment(result, meta, (previous) =>
        teardownBody(this.render, meta, previous, reason),
      );
      if (newer) return this.skip(result, newer);
    }
    const identity = await this.identity(result);
    const listed = await this.attempt(result, `list deployments of ${this.environment}`, () =>
      this.deployments.list(),
    );
    if (!listed.ok) return result;
    result.deactivated = [];
    for (const decision of decideTeardown(listed.value, meta, identity)) {
      const { id, creator, run } = decision.deployment;
      if (decision.action === 'keep') {
        core.info(
          `Deployment ${id} of ${this.environment} was made by a newer run (${run?.runId}); left active.`,
        );
        continue;
      }
      if (decision.action === 'deactivate-distrusted') {
        this.warn(
          result,
          `GitHub reporting: deployment ${id} of ${this.environment} names run ${run?.runId} in its payload but ` +
            `was created by ${creator?.login ?? '(unknown)'}, not by ${identity ? describeIdentity(identity) : 'this token’s account'}; ` +
            'its claim of a newer run does not count, and it is set inactive with the others.',
        );
      }
      // Already inactive (a second teardown, or a closed PR's retry): nothing to change.
      const latest = await this.attempt(result, `read the status of deployment ${id}`, () =>
        this.deployments.latestState(id),
      );
      if (latest.ok && latest.value === 'inactive') continue;
      const set = await this.attempt(result, `set deployment ${id} inactive`, () =>
        this.deployments.deactivate(id, this.runUrl),
      );
      if (set.ok) result.deactivated.push(id);
    }
    return result;
  }

  /**
   * Whether the pull request is still open. When that cannot be told (an API error), warns and answers
   * true: a failed lookup must never tear a preview down.
   */
  async isPullRequestOpen(): Promise<boolean> {
    const result = newResult();
    const state = await this.attempt(result, `read pull request #${this.context.prNumber}`, () =>
      pullRequestState(this.octokit, this.context, this.context.prNumber),
    );
    return state.ok ? state.value === 'open' : true;
  }

  /**
   * The account the token writes as; undefined (after one warning per report) when it cannot be told. A
   * failed lookup is asked again by the next report, not within this one.
   */
  private async identity(result: ReportResult): Promise<Identity | undefined> {
    if (this.identityKnown || this.identityFailed.has(result)) return this.identityKnown;
    const found = await this.attempt(
      result,
      'tell which account the github-token is (GET /user), so no comment or deployment can be told to be ours',
      () => resolveIdentity(this.octokit, this.context.token),
    );
    if (found.ok) this.identityKnown = found.value;
    else this.identityFailed.add(result);
    return this.identityKnown;
  }

  /**
   * Writes the sticky comment (updating ours, else creating it), unless ours records a newer run: then
   * writes nothing and returns that run's metadata. Only a comment our identity wrote is ours.
   */
  private async writeComment(
    result: ReportResult,
    meta: CommentMeta,
    render: (previous: CommentMeta | undefined) => string,
  ): Promise<CommentMeta | undefined> {
    const identity = await this.identity(result);
    if (!identity) return undefined;
    const found = await this.attempt(result, `list comments of pull request #${this.context.prNumber}`, () =>
      this.comments.find(identity),
    );
    if (!found.ok) return undefined;
    this.reportIgnored(result, found.value.ignored, identity);
    const ours = found.value.ours;
    const previous = ours?.meta;
    if (previous && isNewer(previous, meta)) return previous;
    await this.upsertComment(result, ours, render(previous), identity);
    return undefined;
  }

  private reportIgnored(result: ReportResult, ignored: ForeignMarker[], identity: Identity): void {
    for (const c of ignored.slice(0, MAX_IGNORED_NAMED)) {
      this.warn(
        result,
        `GitHub reporting: ignored comment ${c.id} by ${c.author} (${c.url}): it carries the preview marker ` +
          `but was not written by ${describeIdentity(identity)}, the account of this token.`,
      );
    }
    if (ignored.length > MAX_IGNORED_NAMED) {
      this.warn(
        result,
        `GitHub reporting: ignored ${ignored.length - MAX_IGNORED_NAMED} more comments that carry the preview ` +
          `marker but were not written by ${describeIdentity(identity)}.`,
      );
    }
  }

  private async upsertComment(
    result: ReportResult,
    existing: StoredComment | undefined,
    body: string,
    identity: Identity,
  ) {
    if (existing) {
      const updated = await this.attempt(result, `update comment ${existing.id}`, () =>
        this.comments.update(existing.id, body),
      );
      if (updated.ok) result.comment = { id: existing.id, url: updated.value.url, action: 'updated' };
    } else {
      const created = await this.attempt(result, `comment on pull request #${this.context.prNumber}`, () =>
        this.comments.create(body, identity),
      );
      if (created.ok) result.comment = { ...created.value, action: 'created' };
    }
  }

  private async recordDeployment(result: ReportResult, report: DeployReport): Promise<void> {
    let id = this.deploymentId;
    if (id === undefined) {
      const created = await this.attempt(result, `create a deployment for ${this.environment}`, () =>
        this.deployments.create(this.context.sha, {
          runId: this.context.runId,
          runAttempt: this.runAttempt,
          namespace: report.namespace,
          host: report.host,
        }),
      );
      if (!created.ok) return;
      const outcome = created.value;
      if (outcome.kind === 'not-created') {
        const why =
          outcome.status === 202
            ? 'it merged the default branch into the commit instead'
            : 'a conflict (a merge conflict, or failed required status checks)';
        this.warn(
          result,
          `GitHub reporting: GitHub did not create a deployment for ${this.environment}: ` +
            `${outcome.status} ${outcome.message} (${why}).`,
        );
        return;
      }
      id = outcome.id;
      this.deploymentId = id;
    }
    result.deploymentId = id;
    const deploymentId = id;
    await this.attempt(result, `set deployment ${deploymentId} to ${report.status}`, () =>
      this.deployments.setStatus(deploymentId, report.status, report.url, this.runUrl),
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

  private skip(result: ReportResult, newer: CommentMeta): ReportResult {
    result.skipped =
      `run ${newer.runId} (attempt ${newer.runAttempt}) already reported on pull request ` +
      `#${this.context.prNumber}; this run (${this.context.runId}, attempt ${this.runAttempt}) is older`;
    core.info(`Not updating the preview comment or deployment: ${result.skipped}.`);
    return result;
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

  private warn(result: ReportResult, text: string): void {
    const message = redact(text);
    core.warning(message);
    result.warnings.push(message);
    result.ok = false;
    this.warnings.push(message);
  }
}

/** A pull request's state as the sweep tells them apart: open, closed, or merged (closed by a merge). */
export async function pullRequestState(
  octokit: Octokit,
  repo: RepoParams,
  prNumber: number,
): Promise<'open' | 'closed' | 'merged'> {
  const { data } = await octokit.rest.pulls.get({
    owner: repo.owner,
    repo: repo.repo,
    pull_number: prNumber,
  });
  if (data.state === 'open') return 'open';
  return data.merged || data.merged_at ? 'merged' : 'closed';
}

function newResult(): ReportResult {
  return { ok: true, warnings: [] };
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
  if (c.identity !== undefined && !botIdentity(c.identity))
    throw bad('identity', c.identity, "a GitHub App's bot login, such as my-app[bot]");
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
