import { afterEach, describe, expect, test } from 'vitest';
import { clearSecrets, failureDetail, REDACTED, redact, registerSecret } from '../../src/redact.js';

afterEach(() => clearSecrets());

describe('redact', () => {
  test('a registered secret is removed wherever it appears, and so are the credentials inside a kubeconfig', () => {
    const kubeconfig =
      'apiVersion: v1\nusers:\n- name: u\n  user:\n    token: kube-token-abcdef123\n    client-key-data: a2V5LWRhdGEtYmFzZTY0\n';
    registerSecret(kubeconfig);
    const out = redact('got kube-token-abcdef123 and a2V5LWRhdGEtYmFzZTY0; apiVersion: v1 stays');
    expect(out).toBe(`got ${REDACTED} and ${REDACTED}; apiVersion: v1 stays`);
  });

  test.each([
    ['a GitHub token', 'ghs_0123456789abcdefghijABCDEFGHIJ', 'ghs_'],
    ['a fine-grained token', 'github_pat_0123456789abcdefghij_klmnop', 'github_pat_'],
    ['an Authorization header', 'Authorization: Bearer abc.def.ghi', 'abc.def'],
    ['a JWT', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4eHh4In0.c2lnbmF0dXJlLXh4eA', 'eyJ'],
    ['a URL with credentials', 'https://user:hunter22@example.com/x', 'hunter22'],
    ['a NAME=value whose name says secret', 'DB_PASSWORD=hunter22', 'hunter22'],
    ['a private key', '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----', 'MIIE'],
  ])('an unregistered credential that looks like one is removed: %s', (_name, text, secretPart) => {
    expect(redact(`before ${text} after`)).not.toContain(secretPart);
  });

  test('failure details drop environment dumps and keep the last lines', () => {
    const dump = ['HOME=/root', 'PATH=/usr/bin', 'INPUT_GITHUB-TOKEN=x', 'OTHER=y'].join('\n');
    const detail = failureDetail(`step failed\n${dump}\nexpected 200, got 503`);
    expect(detail).toBe('step failed\n[4 environment variables omitted]\nexpected 200, got 503');
    expect(failureDetail(Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n'), 5)).toBe(
      ['line 45', 'line 46', 'line 47', 'line 48', 'line 49'].join('\n'),
    );
  });
});
