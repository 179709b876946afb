/**
 * The GitHub Deployment of a preview: created once per run, given statuses (in_progress, success, failure),
 * and set inactive when the preview is torn down, except a deployment our identity made for a newer run.
 */
import { redact } from '../redact.js';
import { errorMessage, errorStatus, type Octokit, type RepoParams, type RetryOptions } from './client.js';
import { type Account, type Identity, isIdentity } from './identity.js';
import {
  type CommentMeta,
  type DeployStatus,
  deploymentDescription,
  isNewer,
  STATUS_TEXT,
  safeUrl,
} from './render.js';

/** What a run records in its deployment's payload. */
export interface DeploymentPayload {
  runId: number;
  runAttempt: number;
  namespace: string;
  host: string;
}

export type CreateOutcome =
  | { kind: 'created'; id: number }
  /**
   * GitHub made no deployment: 202 (it merged the default branch into the ref first: "Auto-merged main into
   * feature on deployment.") or 409 (a merge conflict, or the ref's required status checks failed).
   */
  | { kind: 'not-created'; status: 202 | 409; message: string };

export interface ListedDeployment {
  id: number;
  creator: Account | null;
  /** The run its payload names, if it names one. */
  run?: Pick<CommentMeta, 'runId' | 'runAttempt'>;
}

export type TeardownDecision =
  | { action: 'deactivate'; deployment: ListedDeployment }
  /** Ours, made by a newer run: left active. */
  | { action: 'keep'; deployment: ListedDeployment }
  /** Its payload names a newer run, but our identity did not create it: the claim does not count. */
  | { action: 'deactivate-distrusted'; deployment: ListedDeployment };

export class Deployments {
  constructor(
    private readonly octokit: Octokit,
    private readonly repo: RepoParams,
    readonly environment: string,
  ) {}

  /**
   * Creates the deployment of `sha`; 202 and 409 are outcomes, any other error throws. After a 5xx or no
   * answer, GitHub may have made it: one of this environment whose payload names this run (and attempt) is
   * taken as made, instead of a second one.
   */
  async create(sha: string, payload: DeploymentPayload): Promise<CreateOutcome> {
    const recover = async () => {
      const pages = this.octokit.paginate.iterator(this.octokit.rest.repos.listDeployments, {
        ...this.repo,
        environment: this.environment,
        per_page: 100,
      });
      for await (const page of pages) {
        const made = page.data.find((d) => {
          const run = payloadRun(d.payload);
          return d.sha === sha && run?.runId === payload.runId && run.runAttempt === payload.runAttempt;
        });
        // Newest first: one made moments ago is on the first page.
        if (made) return { status: 201, data: made };
      }
      return undefined;
    };
    try {
      const { status, data } = await this.octokit.rest.repos.createDeployment({
        ...this.repo,
        ref: sha,
        environment: this.environment,
        description: deploymentDescription(sha, payload.namespace),
        transient_environment: true,
        production_environment: false,
        auto_merge: false,
        required_contexts: [],
        payload: { ...payload },
        request: { retry: { recover } satisfies RetryOptions },
      });
      if ('id' in data && typeof data.id === 'number') return { kind: 'created', id: data.id };
      return {
        kind: 'not-created',
        status: 202,
        message: redact(String((data as { message?: unknown }).message ?? `HTTP ${status}`)),
      };
    } catch (error) {
      if (errorStatus(error) === 409)
        return { kind: 'not-created', status: 409, message: redact(errorMessage(error)) };
      throw error;
    }
  }

  /** Adds a status; environment_url only when the URL is a plain http(s) URL. */
  async setStatus(id: number, status: DeployStatus, url: string, logUrl: string): Promise<void> {
    const environmentUrl = safeUrl(url);
    await this.octokit.rest.repos.createDeploymentStatus({
      ...this.repo,
      deployment_id: id,
      state: status,
      environment: this.environment,
      ...(environmentUrl ? { environment_url: environmentUrl } : {}),
      log_url: safeUrl(logUrl),
      description: redact(STATUS_TEXT[status].description),
      auto_inactive: true,
      // The same state twice changes nothing.
      request: { retry: { repeatable: true } satisfies RetryOptions },
    });
  }

  /** Every deployment of the environment, newest first, as GitHub lists them. */
  async list(): Promise<ListedDeployment[]> {
    const all = await this.octokit.paginate(this.octokit.rest.repos.listDeployments, {
      ...this.repo,
      environment: this.environment,
      per_page: 100,
    });
    return all.map((d) => ({ id: d.id, creator: d.creator as Account | null, run: payloadRun(d.payload) }));
  }

  /** The state of the deployment's latest status (undefined when it has none). */
  async latestState(id: number): Promise<string | undefined> {
    const { data } = await this.octokit.rest.repos.listDeploymentStatuses({
      ...this.repo,
      deployment_id: id,
      per_page: 1,
    });
    return data[0]?.state;
  }

  async deactivate(id: number, logUrl: string): Promise<void> {
    await this.octokit.rest.repos.createDeploymentStatus({
      ...this.repo,
      deployment_id: id,
      state: 'inactive',
      description: 'Preview removed',
      log_url: safeUrl(logUrl),
      request: { retry: { repeatable: true } satisfies RetryOptions },
    });
  }
}

/**
 * What teardown does with each deployment of the environment: a deployment stays active only when our
 * identity created it for a run newer than this one (`identity` undefined: nothing is known to be ours).
 */
export function decideTeardown(
  deployments: ListedDeployment[],
  meta: Pick<CommentMeta, 'runId' | 'runAttempt'>,
  identity: Identity | undefined,
): TeardownDecision[] {
  return deployments.map((deployment) => {
    if (!deployment.run || !isNewer(deployment.run, meta)) return { action: 'deactivate', deployment };
    if (identity && isIdentity(identity, deployment.creator)) return { action: 'keep', deployment };
    return { action: 'deactivate-distrusted', deployment };
  });
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
