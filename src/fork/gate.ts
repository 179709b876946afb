/**
 * The fork-preview gate: whether the trusted stage (a workflow_run of the fork's build) may deploy the images that
 * build made. Pure: every fact comes in (GitHub's answers, gathered by src/github/fork.ts), one decision goes out.
 *
 * Trusted facts are what GitHub itself sets: the workflow_run payload (event, conclusion, head SHA and repository,
 * created_at), the pull request, the issue events and the runs list. The artifact's claims (PR number, head SHA) come
 * from the fork's own run, whose workflow file the fork controls, so they only say which pull request to ask about;
 * they are checked against those facts and never believed.
 */

/** GitHub's repository roles; only the last three may approve a fork's preview. */
export const APPROVING_ROLES = ['write', 'maintain', 'admin'] as const;

/** The default label a maintainer applies to approve a fork's preview. */
export const DEFAULT_FORK_LABEL = 'preview';

export interface ForkRun {
  /** The stage-1 run's event (workflow_run.event). */
  event: string;
  conclusion: string | null;
  headSha: string;
  /** workflow_run.head_repository.full_name: the fork the run built. */
  headRepository: string;
}

export interface ForkClaims {
  prNumber: number;
  headSha: string;
}

export interface ForkPull {
  number: number;
  state: string;
  headSha: string;
  headRepository: string;
  labels: string[];
}

/** An issue event of the pull request (GET /issues/{n}/events), the kinds the gate reads. */
export interface ForkIssueEvent {
  event: string;
  createdAt: string;
  actor?: string;
  label?: string;
}

export interface ForkFacts {
  /** The base repository (owner/name): where stage 2 runs. */
  repository: string;
  label: string;
  run: ForkRun;
  /** The artifact's claims, or why they could not be read. */
  claims: ForkClaims | { error: string };
  /** GET pulls/{claims.prNumber}; undefined when there is no such pull request. */
  pull?: ForkPull;
  /** The pull request's issue events, oldest first. */
  events: ForkIssueEvent[];
  /** The repository role (role_name) of whoever applied the label last; undefined when not asked. */
  labelerRole?: string;
  /**
   * When GitHub first ran a pull_request workflow for the head SHA on this pull request's head branch (the earliest
   * created_at): when that commit reached the pull request, as far as GitHub (not the commit's own dates) tells.
   */
  headFirstSeenAt?: string;
}

export type ForkDecision =
  | {
      deploy: true;
      prNumber: number;
      sha: string;
      headRepository: string;
      approvedBy: string;
      reason: string;
    }
  | { deploy: false; reason: string; prNumber?: number; removeLabel: boolean };

/** The latest application of `label` that is still in force (not followed by its removal). */
export function latestLabeling(events: ForkIssueEvent[], label: string): ForkIssueEvent | undefined {
  let latest: ForkIssueEvent | undefined;
  for (const e of events) {
    if (e.label !== label) continue;
    if (e.event === 'labeled') latest = e;
    else if (e.event === 'unlabeled') latest = undefined;
  }
  return latest;
}

const time = (iso: string) => Date.parse(iso);

export function decideForkPreview(f: ForkFacts): ForkDecision {
  const refuse = (reason: string, removeLabel = false, prNumber?: number): ForkDecision => ({
    deploy: false,
    reason,
    removeLabel,
    ...(prNumber === undefined ? {} : { prNumber }),
  });
  const { run, label } = f;
  if (run.event !== 'pull_request')
    return refuse(
      `the build run's event is ${run.event}, not pull_request: only a pull request's build is previewed`,
    );
  if (run.conclusion !== 'success')
    return refuse(`the build run concluded ${run.conclusion ?? 'without a conclusion'}, not success`);
  if ('error' in f.claims) return refuse(`the build's artifact is unusable: ${f.claims.error}`);
  const claims = f.claims;
  const pr = claims.prNumber;
  if (claims.headSha !== run.headSha)
    return refuse(
      `the build's artifact claims commit ${claims.headSha}, but GitHub says the run built ${run.headSha}`,
      false,
      pr,
    );
  const pull = f.pull;
  if (!pull) return refuse(`pull request #${pr} (named by the build's artifact) does not exist`, false, pr);
  if (pull.headRepository !== run.headRepository)
    return refuse(
      `pull request #${pr} comes from ${pull.headRepository}, but the build run built ${run.headRepository}`,
      false,
      pr,
    );
  if (pull.headRepository === f.repository)
    return refuse(
      `pull request #${pr} is not from a fork: its preview is the preview workflow's (preview.yml)`,
      false,
      pr,
    );
  if (pull.state !== 'open') return refuse(`pull request #${pr} is ${pull.state}`, false, pr);
  if (pull.headSha !== run.headSha)
    return refuse(
      `pull request #${pr} is now at ${pull.headSha}, not the built ${run.headSha}: the build of the newer head decides`,
      false,
      pr,
    );
  if (!pull.labels.includes(label))
    return refuse(
      `pull request #${pr} does not carry the label '${label}': a maintainer has not approved a preview`,
      false,
      pr,
    );
  const labeling = latestLabeling(f.events, label);
  if (!labeling)
    return refuse(`no event shows who applied the label '${label}' to pull request #${pr}`, false, pr);
  const by = labeling.actor ?? 'an unknown account';
  if (!f.labelerRole || !(APPROVING_ROLES as readonly string[]).includes(f.labelerRole))
    return refuse(
      `the label '${label}' was applied by ${by}, whose permission on ${f.repository} is ` +
        `${f.labelerRole ?? 'unknown'}; only ${APPROVING_ROLES.join(', ')} may approve a fork's preview`,
      false,
      pr,
    );
  // The approval is of the head the maintainer saw: a commit that reached the PR after the label (a push, or a
  // force push back to an older commit) is not approved, and the label comes off so that a maintainer must look again.
  const labeledAt = time(labeling.createdAt);
  const forcePush = f.events.find(
    (e) => e.event === 'head_ref_force_pushed' && time(e.createdAt) >= labeledAt,
  );
  if (forcePush)
    return refuse(
      `the fork was force-pushed at ${forcePush.createdAt}, after ${by} applied the label '${label}' at ` +
        `${labeling.createdAt}: the label is removed; a maintainer must review the new head and label again`,
      true,
      pr,
    );
  if (!f.headFirstSeenAt || !(time(f.headFirstSeenAt) < labeledAt))
    return refuse(
      `commit ${run.headSha} reached pull request #${pr} at ${f.headFirstSeenAt ?? 'an unknown time'}, not before ` +
        `${by} applied the label '${label}' at ${labeling.createdAt}: a push after the label is not approved; the ` +
        'label is removed, and a maintainer must review the new head and label again',
      true,
      pr,
    );
  return {
    deploy: true,
    prNumber: pr,
    sha: run.headSha,
    headRepository: run.headRepository,
    approvedBy: by,
    reason: `${by} (${f.labelerRole}) applied the label '${label}' at ${labeling.createdAt} to pull request #${pr}, whose head ${run.headSha} is the one built`,
  };
}
