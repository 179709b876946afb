/**
 * What the fork-preview gate (src/fork/gate.ts) asks of GitHub, through the one client and its retry policy: the
 * pull request the build's artifact names, its issue events, the role of whoever applied the label, when the head
 * commit first reached the pull request (its earliest pull_request run), the stage-1 run's artifacts; and the one
 * write, removing the label after a push.
 */
import type { ForkIssueEvent, ForkPull } from '../fork/gate.js';
import { createClient, errorStatus, type Octokit, type RepoParams, requestPolicy } from './client.js';

export interface ForkGitHub {
  pull(prNumber: number): Promise<(ForkPull & { headRef: string }) | undefined>;
  issueEvents(prNumber: number): Promise<ForkIssueEvent[]>;
  /** role_name of `login` on the repository; 'none' when GitHub knows no such user. */
  role(login: string): Promise<string>;
  /** The earliest created_at of a pull_request run of `sha` from `headRepository`'s branch `headRef`. */
  headFirstSeenAt(sha: string, headRepository: string, headRef: string): Promise<string | undefined>;
  /** The zip of the run's artifact called `name`; undefined when the run has none. */
  artifactZip(runId: number, name: string): Promise<ArrayBuffer | undefined>;
  removeLabel(prNumber: number, label: string): Promise<void>;
}

export function forkGitHub(token: string, apiUrl: string, repo: RepoParams, octokit?: Octokit): ForkGitHub {
  const gh = octokit ?? createClient(token, apiUrl, requestPolicy());
  return {
    async pull(prNumber) {
      try {
        const { data } = await gh.rest.pulls.get({ ...repo, pull_number: prNumber });
        return {
          number: data.number,
          state: data.state,
          headSha: data.head.sha,
          // a deleted fork has no repository: it matches no run
          headRepository: data.head.repo?.full_name ?? '(deleted repository)',
          headRef: data.head.ref,
          labels: data.labels.map((l) => l.name),
        };
      } catch (error) {
        if (errorStatus(error) === 404) return undefined;
        throw error;
      }
    },
    async issueEvents(prNumber) {
      const events = await gh.paginate(gh.rest.issues.listEvents, {
        ...repo,
        issue_number: prNumber,
        per_page: 100,
      });
      return events.map((e) => ({
        event: e.event,
        createdAt: e.created_at,
        actor: e.actor?.login,
        label: 'label' in e ? e.label?.name : undefined,
      }));
    },
    async role(login) {
      try {
        const { data } = await gh.rest.repos.getCollaboratorPermissionLevel({ ...repo, username: login });
        return data.role_name;
      } catch (error) {
        if (errorStatus(error) === 404) return 'none';
        throw error;
      }
    },
    async headFirstSeenAt(sha, headRepository, headRef) {
      const runs = await gh.paginate(gh.rest.actions.listWorkflowRunsForRepo, {
        ...repo,
        event: 'pull_request',
        head_sha: sha,
        per_page: 100,
      });
      const times = runs
        .filter((r) => r.head_repository?.full_name === headRepository && r.head_branch === headRef)
        .map((r) => r.created_at)
        .sort((a, b) => Date.parse(a) - Date.parse(b));
      return times[0];
    },
    async artifactZip(runId, name) {
      const { data } = await gh.rest.actions.listWorkflowRunArtifacts({
        ...repo,
        run_id: runId,
        name,
        per_page: 100,
      });
      const artifact = data.artifacts.find((a) => a.name === name && !a.expired);
      if (!artifact) return undefined;
      // GitHub answers 302 to a short-lived URL; the client follows it.
      const zip = await gh.rest.actions.downloadArtifact({
        ...repo,
        artifact_id: artifact.id,
        archive_format: 'zip',
      });
      return zip.data as ArrayBuffer;
    },
    async removeLabel(prNumber, label) {
      try {
        await gh.rest.issues.removeLabel({ ...repo, issue_number: prNumber, name: label });
      } catch (error) {
        // already gone: what was asked holds
        if (errorStatus(error) !== 404) throw error;
      }
    },
  };
}
