/**
 * What the sweep asks of GitHub: the state of any listed preview's PR (in the repository its labels name), and a
 * reporter for each preview it removes. One token for all: a repository it cannot read answers unknown, and a
 * preview whose PR state is unknown is never removed for it.
 */
import * as core from '@actions/core';
import type { SweepGitHub } from '../loops/types.js';
import { createClient, describeError, requestPolicy } from './client.js';
import { pullRequestState, Reporter } from './reporter.js';

export interface SweepGitHubOptions {
  token: string;
  apiUrl: string;
  /** The sweep's own run, which the comments link to; unset (a local run): nothing is written. */
  run?: { runId: number; runAttempt: number; runUrl?: string };
  /** Tell each removed preview's PR (its comment, its deployments); false for a dry run, which only reads. */
  write: boolean;
  comment: boolean;
  identity?: string;
  warn?: (message: string) => void;
}

export function sweepGitHub(options: SweepGitHubOptions): SweepGitHub {
  const warn = options.warn ?? ((m: string) => core.warning(m));
  const octokit = createClient(options.token, options.apiUrl, requestPolicy());
  return {
    async pullRequestState(repository, prNumber) {
      const [owner, repo] = repository.split('/') as [string, string];
      try {
        return await pullRequestState(octokit, { owner, repo }, prNumber);
      } catch (error) {
        warn(
          `sweep: could not read ${repository}#${prNumber}, so it is not removed for its PR: ${describeError(error)}`,
        );
        return undefined;
      }
    },
    reporter({ repository, prNumber, sha }) {
      const run = options.run;
      if (!options.write || !run) return undefined;
      const [owner, repo] = repository.split('/') as [string, string];
      return new Reporter({
        owner,
        repo,
        prNumber,
        sha,
        runId: run.runId,
        runAttempt: run.runAttempt,
        runUrl: run.runUrl,
        token: options.token,
        apiUrl: options.apiUrl,
        comment: options.comment,
        identity: options.identity,
      });
    },
  };
}
