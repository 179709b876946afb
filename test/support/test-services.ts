/**
 * The test services (test/services/*) as a team's checkouts: copies laid out as siblings `<dir>/<name>`, which
 * tests edit freely, and the laptop values that build them (test/chart/stacks/tilt-three.yaml).
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { repoRoot } from './tools.js';

/** The laptop loop's values for go-api, py-api and spa built from sibling checkouts. */
export const TILT_THREE_VALUES = join(repoRoot, 'test', 'chart', 'stacks', 'tilt-three.yaml');

export function tiltThreeValues(): Record<string, unknown> {
  return YAML.parse(readFileSync(TILT_THREE_VALUES, 'utf8')) as Record<string, unknown>;
}

/** Copies test/services/<name> to <dir>/<name> for each name. */
export function copyTestServices(dir: string, names: string[]): void {
  for (const name of names)
    cpSync(join(repoRoot, 'test', 'services', name), join(dir, name), { recursive: true });
}

/** A Dockerfile's text without the stage `stage`: its FROM line and everything up to the next FROM. */
export function withoutStage(dockerfile: string, stage: string): string {
  const lines = dockerfile.split('\n');
  const from = (l: string) => /^\s*FROM\s/i.test(l);
  const start = lines.findIndex((l) => from(l) && new RegExp(`\\sAS\\s+${stage}\\s*$`, 'i').test(l));
  if (start < 0) throw new Error(`the Dockerfile has no stage ${stage}`);
  const next = lines.findIndex((l, i) => i > start && from(l));
  return [...lines.slice(0, start), ...(next < 0 ? [] : lines.slice(next))].join('\n');
}

/** Rewrites <dir>/<name>/Dockerfile without its stage `stage`. */
export function dropStage(dir: string, name: string, stage: string): void {
  const file = join(dir, name, 'Dockerfile');
  writeFileSync(file, withoutStage(readFileSync(file, 'utf8'), stage));
}
