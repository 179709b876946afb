import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { readmeSection, renderTables } from '../../.github/scripts/readme-inputs.mjs';
import { repoRoot } from '../support/tools.js';

test('README inputs and outputs tables match action.yml', () => {
  const expected = renderTables(readFileSync(join(repoRoot, 'action.yml'), 'utf8'));
  const actual = readmeSection(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
  expect(actual, 'run: node .github/scripts/readme-inputs.mjs --write').toBe(expected);
});

test('every action.yml input is read by the action (src/constants.ts Inputs) and vice versa', async () => {
  const { Inputs } = await import('../../src/constants.js');
  const yaml = (await import('yaml')).default;
  const action = yaml.parse(readFileSync(join(repoRoot, 'action.yml'), 'utf8'));
  expect(Object.keys(action.inputs).sort()).toEqual(Object.values(Inputs).sort());
});
