/**
 * Pure naming: everything we derive from (PR number, SHA, namespace prefix, base domain).
 * No I/O here; inputs are assumed already validated by src/validate.ts.
 */
import { MANAGED_BY, Ownership } from './constants.js';

export const DEFAULT_BASE_DOMAIN = 'app.jetscale.ai';
export const DEFAULT_NAMESPACE_PREFIX = 'jetscale-pr-';
/** Largest PR number we accept: GitHub issue numbers are 32-bit signed integers. */
export const MAX_PR_NUMBER = 2_147_483_647;
export const MAX_DNS_LABEL = 63;
export const MAX_DNS_NAME = 253;
/** Helm limits release names to 53 characters. */
export const MAX_RELEASE = 53;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function isDnsLabel(value: string): boolean {
  return value.length <= MAX_DNS_LABEL && DNS_LABEL.test(value);
}

export function isDnsName(value: string): boolean {
  return value.length <= MAX_DNS_NAME && value.split('.').every((label) => isDnsLabel(label));
}

export interface PreviewNames {
  namespace: string;
  host: string;
  url: string;
  release: string;
  imageTag: string;
  environment: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface NamingInput {
  prNumber: number;
  sha: string;
  namespacePrefix?: string;
  baseDomain?: string;
  /** ISO timestamp recorded as created-at; defaults to now. */
  createdAt?: string;
  /** A link or id of the run that created the resources. */
  run?: string;
}

export function namespaceFor(prNumber: number, prefix = DEFAULT_NAMESPACE_PREFIX): string {
  return `${prefix}${prNumber}`;
}

export function hostFor(prNumber: number, baseDomain = DEFAULT_BASE_DOMAIN): string {
  return `pr-${prNumber}.${baseDomain}`;
}

export function releaseFor(prNumber: number): string {
  return `pr-${prNumber}`;
}

export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

export function imageTagFor(prNumber: number, sha: string): string {
  return `pr-${prNumber}-${shortSha(sha)}`;
}

/** Labels that mark a namespace as ours, for one PR. */
export function ownershipLabels(prNumber: number): Record<string, string> {
  return { [Ownership.ManagedByLabel]: MANAGED_BY, [Ownership.PrLabel]: String(prNumber) };
}

export function previewNames(input: NamingInput): PreviewNames {
  const namespace = namespaceFor(input.prNumber, input.namespacePrefix);
  const host = hostFor(input.prNumber, input.baseDomain);
  const annotations: Record<string, string> = {
    [Ownership.ShaAnnotation]: input.sha,
    [Ownership.CreatedAtAnnotation]: input.createdAt ?? new Date().toISOString(),
  };
  if (input.run) annotations[Ownership.RunAnnotation] = input.run;
  return {
    namespace,
    host,
    url: `https://${host}`,
    release: releaseFor(input.prNumber),
    imageTag: imageTagFor(input.prNumber, input.sha),
    environment: `preview/pr-${input.prNumber}`,
    labels: ownershipLabels(input.prNumber),
    annotations,
  };
}

/** True when a namespace's labels say we created it for this PR. */
export function isOwnedBy(labels: Record<string, string> | undefined, prNumber: number): boolean {
  if (!labels) return false;
  return labels[Ownership.ManagedByLabel] === MANAGED_BY && labels[Ownership.PrLabel] === String(prNumber);
}

/** Kind cluster name for a ci-kind run: unique per run and attempt, a DNS label short enough for node names. */
export function kindClusterName(runId: string, attempt = '1'): string {
  const id = `${runId}-${attempt}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return `jetscale-ci-${id}`.slice(0, 40).replace(/-+$/, '');
}
