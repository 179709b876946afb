/**
 * Nothing secret leaves: every text that goes to GitHub (PR comment, deployment status) or to the job summary
 * passes through redact(). Masking (core.setSecret) protects only the runner's log, not what we post through
 * the API, so secrets are both registered with the runner and kept here.
 */
import * as core from '@actions/core';

const secrets = new Set<string>();

/** Shortest value we treat as a secret: shorter ones would redact ordinary words. */
const MIN_SECRET = 6;

export const REDACTED = '***';

/**
 * Registers a secret: masked in the runner's log and redacted from everything we post or summarise. For a
 * multi-line value (a kubeconfig) the credential fields inside it are registered too, each on its own: the
 * runner masks a multi-line value only where it appears whole. Structural lines (apiVersion, server) are not.
 */
export function registerSecret(value: string | undefined): void {
  if (!value) return;
  const parts = [value];
  // A kubeconfig's token, client key, password: also when quoted (JSON) or base64 data.
  for (const m of value.matchAll(
    /["']?(?:token|password|client-key-data|client-certificate-data|id-token|refresh-token|access-token|secret)["']?\s*[:=]\s*["']?([^\s"',}]+)/gi,
  ))
    parts.push(m[1] as string);
  for (const part of parts) {
    if (part.length < MIN_SECRET || secrets.has(part)) continue;
    secrets.add(part);
    core.setSecret(part);
  }
}

/** For tests: forget every registered secret. */
export function clearSecrets(): void {
  secrets.clear();
}

/**
 * Patterns of credentials that were never registered (a token printed by a test command, a private key in a
 * log line): the value is replaced, the name kept, so the reader still sees what was there.
 */
const CREDENTIAL_PATTERNS: Array<[RegExp, string]> = [
  // GitHub tokens: classic, fine-grained, app installation, OAuth, refresh.
  [/\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b/g, REDACTED],
  // PEM blocks (private keys, certificates with keys).
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g, REDACTED],
  // Authorization headers.
  [/\b(authorization\s*[:=]\s*)(?:bearer|basic|token)\s+\S+/gi, `$1${REDACTED}`],
  // JWTs (service-account tokens, id tokens).
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b/g, REDACTED],
  // AWS access keys.
  [/\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, REDACTED],
  // URLs with credentials.
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi, `$1${REDACTED}@`],
  // NAME=value where the name says secret (an environment dump, a dotenv line, a kubeconfig field).
  [
    /\b([A-Za-z0-9_.-]*(?:TOKEN|SECRET|PASSWORD|PASSWD|PASS|API_?KEY|PRIVATE_?KEY|CREDENTIALS?|AUTH|client-key-data|client-certificate-data)["']?\s*[:=]\s*["']?)[^\s"',}]+/gi,
    `$1${REDACTED}`,
  ],
];

/** Every registered secret and every credential-looking value in `text`, replaced by ***. */
export function redact(text: string): string {
  let out = text;
  // Longest first, so a secret that contains another is removed whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length))
    out = out.split(secret).join(REDACTED);
  for (const [pattern, replacement] of CREDENTIAL_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/**
 * What a failure may say in a PR comment or a summary: redacted, without environment dumps (runs of
 * NAME=value lines, which a test command that prints its environment produces), cut to its last lines.
 */
export function failureDetail(text: string, maxLines = 20, maxChars = 4000): string {
  const kept: string[] = [];
  let run: string[] = [];
  const flush = () => {
    if (run.length >= 3) kept.push(`[${run.length} environment variables omitted]`);
    else kept.push(...run);
    run = [];
  };
  for (const line of redact(text).split('\n')) {
    if (/^\s*(?:export\s+|declare -x\s+)?[A-Za-z_][A-Za-z0-9_-]*=/.test(line)) run.push(line);
    else {
      flush();
      kept.push(line);
    }
  }
  flush();
  const tail = kept.slice(-maxLines).join('\n');
  return tail.length > maxChars ? `…${tail.slice(-maxChars)}` : tail;
}
