/**
 * What the fork-preview tests share: a zip of a directory as GitHub serves an artifact (zip, the real program),
 * a fork build's artifacts made and published on the GitHub double as stage 1 leaves them, and the
 * workflow_run event GitHub sends stage 2.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowRunFacts } from './github-objects.js';
import type { GitHubServer } from './github-server.js';

/** The zip of everything under `dir` (paths relative to it), as an artifact's download is. */
export function zipDir(dir: string): Buffer {
  const r = spawnSync('zip', ['-q', '-r', '-', '.'], { cwd: dir, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zip -r - . in ${dir}: ${r.stderr}`);
  return r.stdout;
}

/** A zip holding the given files (name → content). */
export function zipOf(files: Record<string, string | Buffer>): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'fork-zip-'));
  try {
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), content);
    }
    return zipDir(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A finished fork build on the double: its run, the claims artifact (`claims`, default what the run built) and
 * the images artifact (`images`: tarball file name → content).
 */
export function publishForkBuild(
  gh: GitHubServer,
  build: {
    pr: number;
    sha: string;
    headRepo: string;
    headBranch: string;
    images: Record<string, string | Buffer>;
    claims?: unknown;
    createdAt?: string;
  },
): WorkflowRunFacts {
  const run = gh.addRun({
    headRepo: build.headRepo,
    headBranch: build.headBranch,
    headSha: build.sha,
    createdAt: build.createdAt,
  });
  const claims = build.claims ?? { pr: build.pr, sha: build.sha };
  gh.addArtifact(run.id, 'jetscale-fork-claims', zipOf({ 'claims.json': JSON.stringify(claims) }));
  gh.addArtifact(run.id, 'jetscale-fork-images', zipOf(build.images));
  return run;
}

/** The workflow_run event (completed) GitHub sends when `run` ends. */
export function workflowRunEvent(gh: GitHubServer, run: WorkflowRunFacts) {
  const object = gh.runObject(run);
  return {
    action: 'completed',
    workflow_run: object,
    workflow: { id: 4242, name: object.name, path: object.path, state: 'active' },
    repository: object.repository,
    sender: object.actor,
  };
}
