/**
 * Pure naming: everything we derive from (repository, PR number, SHA, namespace prefix, base domain).
 * No I/O here; inputs are assumed already validated by src/validate.ts.
 */
import { createHash } from 'node:crypto';
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
  /** The calling repository, `owner/name` lower-case; unset when not known (a local run without --repo). */
  repository?: string;
  /** The repository whose previews keep the short names; defaults to `repository`. */
  primaryRepository?: string;
  namespacePrefix?: string;
  baseDomain?: string;
  /** ISO timestamp recorded as created-at; defaults to now. */
  createdAt?: string;
  /** A link or id of the run that created the resources. */
  run?: string;
}

/**
 * A repository as one label value, `<slug>-<h8>`: the name part made a DNS label and cut at 20 characters, then
 * the first 8 hex characters of SHA-256 of the whole `owner/name` (lower-case). The hash keeps `acme/web` and
 * `globex/web`, or `my.app` and `my-app`, apart; the slug keeps it readable.
 */
export function repositoryKey(repository: string): string {
  const full = repository.toLowerCase();
  const name = full.slice(full.indexOf('/') + 1);
  const slug =
    name
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 20)
      .replace(/-+$/, '') || 'repo';
  return `${slug}-${createHash('sha256').update(full).digest('hex').slice(0, 8)}`;
}

/**
 * What tells one preview from another in its names: the PR number for the primary repository (the seed's names,
 * `jetscale-pr-101`), `<N>-<repositoryKey>` for every other repository sharing the cluster. One DNS label, so one
 * wildcard certificate for `*.<base-domain>` serves every preview. At most 40 characters.
 */
export function previewId(prNumber: number, repository?: string, primaryRepository?: string): string {
  if (!repository || repository.toLowerCase() === (primaryRepository ?? repository).toLowerCase())
    return String(prNumber);
  return `${prNumber}-${repositoryKey(repository)}`;
}

/** The longest preview id (PR 2147483647 of a repository with a 20-character slug): what limits must fit. */
export const MAX_PREVIEW_ID = `${MAX_PR_NUMBER}-${'x'.repeat(20)}-${'0'.repeat(8)}`;

export function namespaceFor(id: number | string, prefix = DEFAULT_NAMESPACE_PREFIX): string {
  return `${prefix}${id}`;
}

export function hostFor(id: number | string, baseDomain = DEFAULT_BASE_DOMAIN): string {
  return `pr-${id}.${baseDomain}`;
}

/** At most 43 characters: `<release>-postgres` must stay within a StatefulSet's 52. */
export function releaseFor(id: number | string): string {
  return `pr-${id}`;
}

/** A time as the annotations record it: RFC 3339 in UTC, to the second (2025-05-01T12:00:00Z). */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

export function imageTagFor(prNumber: number, sha: string): string {
  return `pr-${prNumber}-${shortSha(sha)}`;
}

/** Labels that mark what we create as ours, for one PR of one repository (selectable: no slash in values). */
export function ownershipLabels(prNumber: number, repository?: string): Record<string, string> {
  return {
    [Ownership.ManagedByLabel]: MANAGED_BY,
    [Ownership.PrLabel]: String(prNumber),
    ...(repository ? { [Ownership.RepoLabel]: repositoryKey(repository) } : {}),
  };
}

export function previewNames(input: NamingInput): PreviewNames {
  const id = previewId(input.prNumber, input.repository, input.primaryRepository);
  const namespace = namespaceFor(id, input.namespacePrefix);
  const host = hostFor(id, input.baseDomain);
  const annotations: Record<string, string> = {
    [Ownership.ShaAnnotation]: input.sha,
    [Ownership.CreatedAtAnnotation]: input.createdAt ?? new Date().toISOString(),
  };
  if (input.repository) annotations[Ownership.RepositoryAnnotation] = input.repository.toLowerCase();
  if (input.run) annotations[Ownership.RunAnnotation] = input.run;
  return {
    namespace,
    host,
    url: `https://${host}`,
    release: releaseFor(id),
    imageTag: imageTagFor(input.prNumber, input.sha),
    environment: `preview/pr-${input.prNumber}`,
    labels: ownershipLabels(input.prNumber, input.repository),
    annotations,
  };
}

export interface ObjectMeta {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Who may deploy into or tear down a namespace: one PR of one repository. */
export interface Owner {
  prNumber: number;
  /** `owner/name`; unset for a run that does not know its repository (a local run without --repo). */
  repository?: string;
  /** The repository that owns namespaces made before repositories were recorded. */
  primaryRepository?: string;
}

/**
 * True when a namespace says we created it for this PR of this repository: our managed-by and PR labels, and
 * both the repository's key (label) and its full name (annotation, which a 32-bit hash collision cannot fake).
 * A namespace of ours without either (made before repositories were recorded) belongs to the primary repository.
 */
export function isOwnedBy(meta: ObjectMeta | undefined, owner: Owner): boolean {
  const labels = meta?.labels;
  if (!labels) return false;
  if (labels[Ownership.ManagedByLabel] !== MANAGED_BY || labels[Ownership.PrLabel] !== String(owner.prNumber))
    return false;
  const key = labels[Ownership.RepoLabel];
  const full = meta?.annotations?.[Ownership.RepositoryAnnotation];
  const repository = owner.repository?.toLowerCase();
  // Made before repositories were recorded: the primary repository's, when the run names one (each repository
  // that leaves it unset believes it is primary, so none of them may take such a namespace).
  if (key === undefined && full === undefined)
    return repository === undefined || repository === owner.primaryRepository?.toLowerCase();
  return repository !== undefined && key === repositoryKey(repository) && full?.toLowerCase() === repository;
}

/** Who a namespace says it belongs to, in words for a refusal ("jetscale/backend PR #101"). */
export function describeOwner(meta: ObjectMeta | undefined): string {
  const labels = meta?.labels ?? {};
  if (labels[Ownership.ManagedByLabel] !== MANAGED_BY)
    return `someone else (it is not labelled ${Ownership.ManagedByLabel}=${MANAGED_BY}; its labels are ${JSON.stringify(labels)})`;
  const pr = labels[Ownership.PrLabel] ? `PR #${labels[Ownership.PrLabel]}` : 'no PR';
  const full = meta?.annotations?.[Ownership.RepositoryAnnotation];
  const key = labels[Ownership.RepoLabel];
  if (full)
    return `${full} ${pr}${key && key !== repositoryKey(full) ? ` (but labelled ${Ownership.RepoLabel}=${key})` : ''}`;
  if (key) return `the repository keyed ${key} ${pr}`;
  return `${pr} of the primary repository (made before repositories were recorded; set primary-repository to the repository that made it)`;
}

/** Why a namespace is not `owner`'s, for a refusal: "it belongs to jetscale/backend PR #101, not to jetscale/frontend PR #101". */
export function notOwned(meta: ObjectMeta | undefined, owner: Owner): string {
  return `it belongs to ${describeOwner(meta)}, not to ${owner.repository ?? 'this run (no repository given)'} PR #${owner.prNumber}`;
}

/** Labels of what ci-kind creates in its own cluster. */
export function ciLabels(): Record<string, string> {
  return { [Ownership.ManagedByLabel]: MANAGED_BY };
}

export const CI_NAMESPACE = 'jetscale-ci';
export const CI_RELEASE = 'app';
export const LIVE_RELEASE = 'jetscale';
export const LIVE_NAMESPACE = 'jetscale';

/**
 * Kind cluster name for one ci-kind job: the job's random instance id first (two jobs of one run on a shared
 * Docker host never share a name), then run and attempt for the reader; a DNS label short enough for node names.
 */
export function kindClusterName(runId: string, attempt: string, instance: string): string {
  const id = `${instance}-${runId}-${attempt}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return `jetscale-ci-${id}`.slice(0, 40).replace(/-+$/, '');
}

/** A GitHub App's account login (`<app-slug>[bot]`): people cannot register a login ending in [bot]. */
export function isBotLogin(login: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9-]*\[bot\]$/.test(login);
}
