/**
 * The fork preview's trusted stage, before anything is deployed (fork-preview.yml runs it from the stack's own
 * commit, on the workflow_run of the fork's build): reads the build's claims, gathers GitHub's facts, asks the gate
 * (gate.ts), and either says why nothing is deployed (job summary, notice; the label removed after a push) or hands
 * the next steps the PR number, the SHA and the fork's image tarballs. Nothing of the fork runs here: its files are
 * read as data (a JSON file, tar archives named after services).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as core from '@actions/core';
import { forkGitHub } from '../github/fork.js';
import { describeError } from '../github/index.js';
import {
  DEFAULT_FORK_LABEL,
  decideForkPreview,
  type ForkClaims,
  type ForkDecision,
  latestLabeling,
} from './gate.js';

/** The stage-1 artifacts (fork-build.yml uploads them under these names). */
export const CLAIMS_ARTIFACT = 'jetscale-fork-claims';
export const IMAGES_ARTIFACT = 'jetscale-fork-images';

/** A service name as the chart's services map takes it; an image tarball is `<service>.tar`. */
const SERVICE = /^[a-z][a-z0-9-]{0,39}$/;

interface WorkflowRunEvent {
  workflow_run?: {
    id?: number;
    event?: string;
    conclusion?: string | null;
    head_sha?: string;
    head_repository?: { full_name?: string } | null;
  };
}

/** The claims file of the build's artifact, checked for form only (the gate checks them against GitHub). */
export function parseClaims(text: string): ForkClaims | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: 'claims.json is not JSON' };
  }
  const v = value as { pr?: unknown; sha?: unknown };
  if (typeof v?.pr !== 'number' || !Number.isInteger(v.pr) || v.pr < 1 || v.pr > 2147483647)
    return {
      error: `claims.json: pr ${JSON.stringify(v?.pr)} is not a pull request number (1 to 2147483647)`,
    };
  if (typeof v.sha !== 'string' || !/^[0-9a-f]{40}$/.test(v.sha))
    return { error: `claims.json: sha ${JSON.stringify(v.sha)} is not a 40-hex-digit commit SHA` };
  return { prNumber: v.pr, headSha: v.sha };
}

/** The image tarballs of an unpacked images artifact: service → path; anything else there is refused. */
export function imageTarballs(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const m = /^(.+)\.tar$/.exec(entry.name);
    if (!entry.isFile() || !m || !SERVICE.test(m[1] as string))
      throw new Error(
        `the build's images artifact holds ${JSON.stringify(entry.name)}; expected only <service>.tar files ` +
          '(a service name: a lower-case letter, then lower-case letters, digits or -)',
      );
    found.set(m[1] as string, join(dir, entry.name));
  }
  if (found.size === 0) throw new Error("the build's images artifact holds no <service>.tar file");
  return found;
}

function unzip(zip: ArrayBuffer, dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const file = `${dir}.zip`;
  writeFileSync(file, Buffer.from(zip));
  // unzip refuses entries that would land outside dir (../, absolute paths)
  execFileSync('unzip', ['-q', '-o', file, '-d', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  rmSync(file);
}

export async function run(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  try {
    const label = core.getInput('label').trim() || DEFAULT_FORK_LABEL;
    const token = core.getInput('token', { required: true });
    const repository = env.GITHUB_REPOSITORY ?? '';
    const [owner, repo] = repository.split('/');
    if (!owner || !repo) throw new Error(`GITHUB_REPOSITORY ${JSON.stringify(repository)} is not owner/name`);
    const event = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH ?? '', 'utf8')) as WorkflowRunEvent;
    const wr = event.workflow_run;
    if (!wr?.id || !wr.head_sha)
      throw new Error(
        'the event is not a workflow_run (no workflow_run.id): run the fork preview on workflow_run',
      );
    const work = join(env.RUNNER_TEMP ?? '/tmp', 'jetscale-fork');
    const gh = forkGitHub(token, env.GITHUB_API_URL ?? 'https://api.github.com', { owner, repo });

    let claims: ForkClaims | { error: string };
    const claimsZip = await gh.artifactZip(wr.id, CLAIMS_ARTIFACT);
    if (!claimsZip) claims = { error: `the build run has no artifact ${CLAIMS_ARTIFACT}` };
    else {
      unzip(claimsZip, join(work, 'claims'));
      const file = join(work, 'claims', 'claims.json');
      claims = existsSync(file) ? parseClaims(readFileSync(file, 'utf8')) : { error: 'no claims.json in it' };
    }
    const pull = 'error' in claims ? undefined : await gh.pull(claims.prNumber);
    const events = pull ? await gh.issueEvents(pull.number) : [];
    const labeler = latestLabeling(events, label)?.actor;
    const decision = decideForkPreview({
      repository,
      label,
      run: {
        event: wr.event ?? '',
        conclusion: wr.conclusion ?? null,
        headSha: wr.head_sha,
        headRepository: wr.head_repository?.full_name ?? '',
      },
      claims,
      pull,
      events,
      labelerRole: pull && labeler ? await gh.role(labeler) : undefined,
      headFirstSeenAt: pull
        ? await gh.headFirstSeenAt(wr.head_sha, pull.headRepository, pull.headRef)
        : undefined,
    });
    if (!decision.deploy) {
      if (decision.removeLabel && decision.prNumber !== undefined)
        await gh.removeLabel(decision.prNumber, label);
      await refuse(decision);
      return;
    }
    const zip = await gh.artifactZip(wr.id, IMAGES_ARTIFACT);
    if (!zip) throw new Error(`the build run has no artifact ${IMAGES_ARTIFACT}`);
    const imagesDir = join(work, 'images');
    unzip(zip, imagesDir);
    const tarballs = imageTarballs(imagesDir);
    core.info(`jetscale-fork: deploying ${[...tarballs.keys()].join(', ')}: ${decision.reason}`);
    core.setOutput('deploy', 'true');
    core.setOutput('pr-number', String(decision.prNumber));
    core.setOutput('sha', decision.sha);
    core.setOutput('images-dir', imagesDir);
    core.setOutput('services', [...tarballs.keys()].join(' '));
  } catch (error) {
    // an API error worded for a workflow author (describeError), anything else as it is
    const api = (error as { response?: unknown })?.response !== undefined;
    core.setFailed(
      `jetscale-fork: ${api ? describeError(error) : error instanceof Error ? error.message : String(error)}`,
    );
  }
}

async function refuse(decision: Extract<ForkDecision, { deploy: false }>): Promise<void> {
  const message = `Fork preview not deployed: ${decision.reason}.`;
  core.notice(message, { title: 'Fork preview not deployed' });
  core.setOutput('deploy', 'false');
  if (decision.prNumber !== undefined) core.setOutput('pr-number', String(decision.prNumber));
  if (process.env.GITHUB_STEP_SUMMARY)
    await core.summary.addHeading('Fork preview not deployed', 3).addRaw(message, true).write();
}
