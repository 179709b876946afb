import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  hostFor,
  imageTagFor,
  isDnsLabel,
  isDnsName,
  isOwnedBy,
  kindClusterName,
  MAX_PR_NUMBER,
  MAX_RELEASE,
  namespaceFor,
  previewNames,
  releaseFor,
} from '../../src/naming.js';
import { parseInputs } from '../../src/validate.js';

const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';

describe('previewNames', () => {
  test.each([
    [101, 'jetscale-pr-', 'app.jetscale.ai', 'jetscale-pr-101', 'pr-101.app.jetscale.ai', 'pr-101'],
    [1, 'jetscale-pr-', 'app.jetscale.ai', 'jetscale-pr-1', 'pr-1.app.jetscale.ai', 'pr-1'],
    [2147483647, 'p-', 'example.com', 'p-2147483647', 'pr-2147483647.example.com', 'pr-2147483647'],
    [42, 'team-a-', 'preview.acme.dev', 'team-a-42', 'pr-42.preview.acme.dev', 'pr-42'],
  ])('PR %i, prefix %s, domain %s', (pr, prefix, domain, namespace, host, release) => {
    const names = previewNames({
      prNumber: pr,
      sha: SHA,
      namespacePrefix: prefix,
      baseDomain: domain,
      createdAt: '2026-11-26T00:00:00.000Z',
      run: '123',
    });
    expect(names).toEqual({
      namespace,
      host,
      url: `https://${host}`,
      release,
      imageTag: `pr-${pr}-4f2c9e1`,
      environment: `preview/pr-${pr}`,
      labels: { 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/pr': String(pr) },
      annotations: {
        'jetscale.ai/sha': SHA,
        'jetscale.ai/created-at': '2026-11-26T00:00:00.000Z',
        'jetscale.ai/run': '123',
      },
    });
  });

  test.each([
    [{ 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/pr': '101' }, 101, true],
    [{ 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/pr': '102' }, 101, false],
    [{ 'app.kubernetes.io/managed-by': 'Helm', 'jetscale.ai/pr': '101' }, 101, false],
    [{ 'jetscale.ai/pr': '101' }, 101, false],
    [{}, 101, false],
    [undefined, 101, false],
  ])('isOwnedBy(%j, %i) = %s (a run that knows no repository)', (labels, pr, owned) => {
    expect(isOwnedBy(labels && { labels }, { prNumber: pr })).toBe(owned);
  });

  test('kind cluster names are DNS labels short enough for node container names', () => {
    expect(kindClusterName('1234567890123', '2', 'a1b2c3')).toBe('jetscale-ci-a1b2c3-1234567890123-2');
    expect(kindClusterName('x'.repeat(80), '1', 'a1b2c3')).toMatch(/^jetscale-ci-a1b2c3-x+$/);
    expect(kindClusterName('x'.repeat(80), '1', 'a1b2c3').length).toBeLessThanOrEqual(40);
    expect(isDnsLabel(`${kindClusterName('Run_ID.9', '1', 'a1b2c3')}-control-plane`)).toBe(true);
  });
});

const prefixArb = fc
  .tuple(
    fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'),
    fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'), maxLength: 60 }),
  )
  .map(([a, b]) => a + b);
const labelArb = fc
  .string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'), minLength: 1, maxLength: 63 })
  .filter((s) => !s.startsWith('-') && !s.endsWith('-'));
const domainArb = fc.array(labelArb, { minLength: 2, maxLength: 5 }).map((labels) => labels.join('.'));
const prArb = fc.integer({ min: 1, max: MAX_PR_NUMBER });

describe('properties over random inputs', () => {
  test('every input the validator accepts gives DNS-1123 names of at most 63 characters', () => {
    fc.assert(
      fc.property(prArb, prefixArb, domainArb, (pr, prefix, domain) => {
        let inputs: ReturnType<typeof parseInputs>;
        try {
          inputs = parseInputs({
            loop: 'preview',
            'pr-number': String(pr),
            'namespace-prefix': prefix,
            'base-domain': domain,
            'git-sha': SHA,
          });
        } catch {
          return true; // rejected input: the validator's job, tested elsewhere
        }
        const n = previewNames({
          prNumber: inputs.prNumber as number,
          sha: SHA,
          namespacePrefix: inputs.namespacePrefix,
          baseDomain: inputs.baseDomain,
        });
        expect(isDnsLabel(n.namespace)).toBe(true);
        expect(n.namespace.length).toBeLessThanOrEqual(63);
        expect(isDnsName(n.host)).toBe(true);
        expect(isDnsLabel(n.host.split('.')[0] as string)).toBe(true);
        expect(n.release.length).toBeLessThanOrEqual(MAX_RELEASE);
        expect(isDnsLabel(n.release)).toBe(true);
        expect(n.imageTag).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/);
        return true;
      }),
      { numRuns: 2000 },
    );
  });

  test('the validator accepts a good share of the random inputs (so the property above is not vacuous)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(prArb, prefixArb, domainArb, (pr, prefix, domain) => {
        try {
          parseInputs({
            loop: 'preview',
            'pr-number': String(pr),
            'namespace-prefix': prefix,
            'base-domain': domain,
          });
          accepted++;
        } catch {}
      }),
      { numRuns: 500 },
    );
    expect(accepted).toBeGreaterThan(100);
  });

  test('two different PRs never get the same namespace or host', () => {
    fc.assert(
      fc.property(prArb, prArb, prefixArb, domainArb, (a, b, prefix, domain) => {
        fc.pre(a !== b);
        expect(namespaceFor(a, prefix)).not.toBe(namespaceFor(b, prefix));
        expect(hostFor(a, domain)).not.toBe(hostFor(b, domain));
        expect(releaseFor(a)).not.toBe(releaseFor(b));
        expect(imageTagFor(a, SHA)).not.toBe(imageTagFor(b, SHA));
      }),
      { numRuns: 2000 },
    );
  });
});
