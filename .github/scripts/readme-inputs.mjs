#!/usr/bin/env node
// Renders the inputs and outputs tables of README.md from action.yml.
//   node .github/scripts/readme-inputs.mjs          print the tables
//   node .github/scripts/readme-inputs.mjs --write  rewrite README.md between the markers
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import YAML from 'yaml';

export const START = '<!-- action-inputs:start (generated from action.yml by .github/scripts/readme-inputs.mjs) -->';
export const END = '<!-- action-inputs:end -->';

const cell = (text) => String(text ?? '').replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ').trim();

export function renderTables(actionYml) {
  const action = YAML.parse(actionYml);
  const rows = ['| input | default | description |', '| --- | --- | --- |'];
  for (const [name, spec] of Object.entries(action.inputs ?? {})) {
    const def = spec.default === undefined ? '' : `\`${cell(spec.default)}\``;
    rows.push(`| \`${name}\` | ${def} | ${cell(spec.description)} |`);
  }
  rows.push('', '| output | description |', '| --- | --- |');
  for (const [name, spec] of Object.entries(action.outputs ?? {})) rows.push(`| \`${name}\` | ${cell(spec.description)} |`);
  return rows.join('\n');
}

export function readmeSection(readme) {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) return undefined;
  return readme.slice(a + START.length, b).trim();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = resolve(import.meta.dirname, '..', '..');
  const tables = renderTables(readFileSync(resolve(root, 'action.yml'), 'utf8'));
  if (process.argv.includes('--write')) {
    const path = resolve(root, 'README.md');
    const readme = readFileSync(path, 'utf8');
    const a = readme.indexOf(START);
    const b = readme.indexOf(END);
    if (a < 0 || b < a) throw new Error(`README.md lacks the markers ${START} … ${END}`);
    writeFileSync(path, `${readme.slice(0, a + START.length)}\n${tables}\n${readme.slice(b)}`);
  } else {
    process.stdout.write(`${tables}\n`);
  }
}
