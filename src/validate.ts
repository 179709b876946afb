/**
 * Parse and validate every input once, into one typed object. Pure apart from the file-existence check
 * passed in. Every error names the input, the value and the accepted form; all errors are reported at once.
 */
import { type AnyLoop, Inputs as I, LOOPS } from './constants.js';
import {
  DEFAULT_BASE_DOMAIN,
  DEFAULT_NAMESPACE_PREFIX,
  isBotLogin,
  isDnsLabel,
  isDnsName,
  MAX_DNS_LABEL,
  MAX_PR_NUMBER,
  MAX_PREVIEW_ID,
  namespaceFor,
  previewId,
} from './naming.js';
import pins from './pins.json' with { type: 'json' };

/** The action's inputs, plus the CLI's own: the live kube context of `deploy live`. */
export const KUBE_CONTEXT = 'kube-context';
type InputName = `${I}` | typeof KUBE_CONTEXT;
export type RawInputs = Partial<Record<InputName, string>>;

export interface EventDefaults {
  /** pull_request.number from the event payload. */
  prNumber?: number;
  /** pull_request.head.sha from the event payload, else GITHUB_SHA. */
  sha?: string;
  /** GITHUB_REPOSITORY. */
  repository?: string;
  /** The values of `Preview-With:` lines in the PR description (previewWithLines). */
  previewWith?: string[];
}

/** A pull request of another repository whose preview this one runs beside (its images stand in for ours). */
export interface Companion {
  repository: string;
  prNumber: number;
}

export interface ImageOverride {
  service: string;
  ref: string;
}

export interface ToolVersions {
  kind: string;
  helm: string;
  skaffold: string;
  kubectl: string;
}

/** Every field any loop reads; each loop's type below narrows the ones it requires. */
interface CommonInputs {
  prNumber?: number;
  sha?: string;
  /** The calling repository, `owner/name` lower-case (GITHUB_REPOSITORY; the CLI's --repo). */
  repository?: string;
  /**
   * The repository whose previews keep the short names (`jetscale-pr-<N>`) and that owns namespaces made before
   * repositories were recorded; unset: this run's names are the short ones, and it adopts no such namespace.
   */
  primaryRepository?: string;
  /** Other repositories' PRs previewed together with this one (input, else the PR description's lines). */
  previewWith: Companion[];
  /** Namespace of the baseline ConfigMaps (which image each service runs when a PR does not build it). */
  baselineNamespace: string;
  /** live: record `images` as the baseline once the smoke checks pass. */
  recordBaseline: boolean;
  baseDomain: string;
  namespacePrefix: string;
  images: ImageOverride[];
  /** Extra images loaded into the ci-kind cluster (not deployed by Skaffold): databases, sidecars. */
  kindImages: string[];
  /** Values files: absolute real paths inside the workspace. */
  values: string[];
  set: Array<{ key: string; value: string }>;
  tools: ToolVersions;
  nodeImage: string;
  /** A kubeconfig file path, or kubeconfig content (YAML or JSON), written to a private temp file before use. */
  kubeconfig?: { path?: string; content?: string };
  url?: string;
  resolve: Record<string, string>;
  githubToken?: string;
  /** The GitHub App account github-token writes as (`<app-slug>[bot]`); unset: found from the token. */
  botLogin?: string;
  comment: boolean;
  testCommand?: string;
  timeoutSeconds: number;
  dryRun: boolean;
  /** preview: run the services' seeds again in this deploy (a new preview seeds without it). */
  reseed: boolean;
  /** The stack-dir input, resolved; unset: the action's own files. */
  stackDir?: string;
  /** deploy-live: the live kube context the current context must be. */
  kubeContext?: string;
  /** sweep: a preview not deployed for this long is removed; unset: idle previews stay. */
  ttlSeconds?: number;
  /** sweep: at most this many previews; the oldest idle ones beyond it are removed. Unset: no cap. */
  maxPreviews?: number;
  /** preview: a new preview beyond maxPreviews evicts the longest idle ones, or fails naming those holding the cap. */
  overCap: OverCap;
}

export type CiKindInputs = CommonInputs & { loop: 'ci-kind' };
export type PreviewInputs = CommonInputs & { loop: 'preview'; prNumber: number };
export type TeardownInputs = CommonInputs & { loop: 'teardown'; prNumber: number };
export type LiveInputs = CommonInputs & { loop: 'live'; url: string };
/** The CLI's `deploy live`: the live profile into the named kube context, after confirmation. */
export type DeployLiveInputs = CommonInputs & { loop: 'deploy-live'; url: string; kubeContext: string };
/** Removes the previews of closed PRs, idle past the TTL, or beyond the cap, on the cluster of kubeconfig. */
export type SweepInputs = CommonInputs & { loop: 'sweep' };
export type ActionInputs =
  | CiKindInputs
  | PreviewInputs
  | TeardownInputs
  | LiveInputs
  | DeployLiveInputs
  | SweepInputs;
interface InputsByLoop {
  'ci-kind': CiKindInputs;
  preview: PreviewInputs;
  teardown: TeardownInputs;
  live: LiveInputs;
  sweep: SweepInputs;
  'deploy-live': DeployLiveInputs;
}
export type InputsOf<L extends AnyLoop> = InputsByLoop[L];

export class InputError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? (problems[0] as string) : `Invalid inputs:\n- ${problems.join('\n- ')}`);
    this.name = 'InputError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export function describeValue(value: string): string {
  return JSON.stringify(value);
}

function problem(input: string, value: string, accepted: string): string {
  return `Invalid input '${input}': ${describeValue(value)}. Expected ${accepted}.`;
}

const PR_FORM = `a pull request number: digits only, no sign, no leading zeros, no spaces, 1 to ${MAX_PR_NUMBER} (e.g. 101)`;
const SHA_FORM = 'a git commit SHA: 7 to 40 hexadecimal characters (e.g. 4f2c9e1)';
const VERSION_FORM = 'a version like v1.2.3';
const BOOL_FORM = 'true or false';
const BOT_LOGIN_FORM =
  "a GitHub App's account login: its slug followed by [bot] (e.g. jetscale-preview[bot])";
const REPOSITORY_FORM =
  'a GitHub repository as owner/name: an owner of 1-39 letters, digits or -, a name of 1-100 letters, digits, ., _ or - (e.g. jetscale/backend)';
const PREVIEW_WITH_FORM =
  "lines naming another repository's pull request, as owner/name#N or https://github.com/owner/name/pull/N (e.g. jetscale/backend#87)";
const REPOSITORY = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/;
export const DEFAULT_BASELINE_NAMESPACE = 'jetscale-baseline';
const TIMEOUT_FORM =
  'a duration from 1s to 6h: a number of seconds or a number followed by s, m or h (e.g. 600, 90s, 10m)';

/** Docker image reference: [registry[:port]/]path[:tag][@sha256:digest], lower-case repository. */
const IMAGE_REF =
  /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const IMAGE_FORM =
  'lines of service=image where service is a DNS label and image a container image reference such as ghcr.io/acme/backend:1.2.3 (no spaces or shell characters)';

export function parsePrNumber(value: string): number | undefined {
  if (!/^[1-9][0-9]{0,9}$/.test(value)) return undefined;
  const n = Number(value);
  return n <= MAX_PR_NUMBER ? n : undefined;
}

export function isRepository(value: string): boolean {
  return REPOSITORY.test(value) && !/\/\.{1,2}$/.test(value);
}

/** `owner/name#N` or a pull request's web URL; undefined when it is neither. */
export function parseCompanion(value: string): Companion | undefined {
  const m =
    /^([A-Za-z0-9][A-Za-z0-9-]{0,38}\/[A-Za-z0-9._-]{1,100})#([0-9]+)$/.exec(value) ??
    /^https:\/\/[a-z0-9.-]+\/([A-Za-z0-9][A-Za-z0-9-]{0,38}\/[A-Za-z0-9._-]{1,100})\/pull\/([0-9]+)\/?$/.exec(
      value,
    );
  const prNumber = m ? parsePrNumber(m[2] as string) : undefined;
  if (!m || prNumber === undefined || !isRepository(m[1] as string)) return undefined;
  return { repository: (m[1] as string).toLowerCase(), prNumber };
}

/**
 * The values of `Preview-With:` lines in a PR description (key case-insensitive, at the start of a line), leaving
 * out lines inside fenced code blocks and quotes: an example in the description is not a request.
 */
export function previewWithLines(body: string | undefined): string[] {
  const out: string[] = [];
  // An open fence (its character and length: a ```` fence is closed only by ```` or longer), an open <!-- comment.
  let fence: { char: string; length: number } | undefined;
  let comment = false;
  for (const raw of (body ?? '').split(/\r?\n/)) {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(raw)?.[1];
    if (fence) {
      if (marker?.[0] === fence.char && marker.length >= fence.length) fence = undefined;
      continue;
    }
    if (marker) {
      fence = { char: marker[0] as string, length: marker.length };
      continue;
    }
    // Text outside HTML comments only (PR templates keep their instructions in them).
    let line = '';
    let rest = raw;
    while (rest) {
      if (comment) {
        const end = rest.indexOf('-->');
        if (end < 0) rest = '';
        else {
          comment = false;
          rest = rest.slice(end + 3);
        }
      } else {
        const start = rest.indexOf('<!--');
        if (start < 0) {
          line += rest;
          rest = '';
        } else {
          line += rest.slice(0, start);
          comment = true;
          rest = rest.slice(start + 4);
        }
      }
    }
    const m = /^preview-with\s*:\s*(.*?)\s*$/i.exec(line);
    if (m?.[1]) out.push(m[1]);
  }
  return out;
}

export function parseTimeout(value: string): number | undefined {
  const m = /^([0-9]{1,6})(s|m|h)?$/.exec(value);
  if (!m) return undefined;
  const seconds = Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
  return seconds >= 1 && seconds <= 6 * 3600 ? seconds : undefined;
}

const TTL_FORM =
  'a duration from 1m to 365d: a whole number followed by m (minutes), h (hours) or d (days) (e.g. 3d, 12h)';
const MAX_PREVIEWS_FORM = 'a whole number of previews from 1 to 10000, no sign or leading zeros (e.g. 20)';
export const OVER_CAP = ['fail', 'evict'] as const;
export type OverCap = (typeof OVER_CAP)[number];
const OVER_CAP_FORM =
  'fail (a new preview beyond max-previews is refused, naming the previews holding the cap) or evict (the longest idle previews are removed to make room)';

/** A TTL in seconds (`3d`, `12h`, `90m`); undefined when it is not one. */
export function parseTtl(value: string): number | undefined {
  const m = /^([1-9][0-9]{0,5})(m|h|d)$/.exec(value);
  if (!m) return undefined;
  const seconds = Number(m[1]) * (m[2] === 'd' ? 86_400 : m[2] === 'h' ? 3600 : 60);
  return seconds <= 365 * 86_400 ? seconds : undefined;
}

/** A TTL as the input gives it (`3d`, `12h`, `90m`): the inverse of parseTtl. */
export function formatTtl(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return `${Math.ceil(seconds / 60)}m`;
}

export function isImageRef(value: string): boolean {
  return value.length <= 512 && IMAGE_REF.test(value);
}

function lines(value: string | undefined): string[] {
  return (value ?? '')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

export interface ParseOptions {
  event?: EventDefaults;
  /**
   * Resolves a values file: its real path when it exists inside the workspace, else why not (context.ts does
   * the I/O). Without it, paths are taken as given (tests of the pure parser).
   */
  valuesFile?: (path: string) => { path: string } | { problem: string };
  /** Whether a kubeconfig path exists. */
  fileExists?: (path: string) => boolean;
  /** Resolves the stack-dir input: the directory, or why it cannot be used. */
  stackDir?: (path: string) => { path: string } | { problem: string };
  /** Loops accepted for `loop` (the action's four; the CLI adds deploy-live). */
  loops?: readonly AnyLoop[];
}

/** One input's parse: reads what it needs, pushes problems, returns the typed value. */
type Field<T> = (f: FieldReader, parsed: Partial<CommonInputs & { loop: AnyLoop }>) => T;

interface FieldReader {
  /** The raw value, untouched; undefined when empty. */
  get(name: InputName): string | undefined;
  /** Trimmed; undefined when blank. */
  trimmed(name: InputName): string | undefined;
  /** Non-blank, non-comment lines, each trimmed. */
  lines(name: InputName): string[];
  problem(input: string, value: string, accepted: string): void;
  opts: ParseOptions;
}

/** Keys that reach JavaScript object internals: never a chart value. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const SET_KEY = /^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*)*$/;
const SET_FORM =
  'lines of key.path=value, the key made of dot-separated names, each a letter then letters, digits, _ or - (e.g. services.backend.replicas=2; __proto__, constructor and prototype are not names)';
/** Characters that would be markup in a PR comment or a job summary; never part of a URL we accept. */
const URL_UNSAFE = /[\s<>"'`\\{}|^]/;
const URL_FORM = 'an http:// or https:// URL without credentials (e.g. https://app.jetscale.ai)';

const tool =
  (name: `${I}`, fallback: string): Field<string> =>
  (f) => {
    // Only pinned versions can be installed (each download is checked against a checksum pinned in
    // src/pins.json), so any other version is refused here, before anything is installed.
    const v = f.trimmed(name) ?? fallback;
    if (!/^v[0-9]+\.[0-9]+\.[0-9]+$/.test(v)) f.problem(name, v, VERSION_FORM);
    else if (v !== fallback)
      f.problem(
        name,
        v,
        `the pinned version ${fallback}: other versions have no pinned checksum (pin one with npm run pins:update -- ${name.replace('-version', '')}=${v})`,
      );
    return v;
  };

const bool =
  (name: `${I}`, fallback: boolean): Field<boolean> =>
  (f) => {
    const v = f.trimmed(name);
    if (v === undefined) return fallback;
    if (['true', 'True', 'TRUE'].includes(v)) return true;
    if (['false', 'False', 'FALSE'].includes(v)) return false;
    f.problem(name, v, BOOL_FORM);
    return fallback;
  };

/** An http(s) URL, normalised (lower-case host, no trailing slash, no fragment); undefined when invalid. */
export function normalizeUrl(raw: string): string | undefined {
  if (URL_UNSAFE.test(raw)) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return undefined;
  }
  if (!['http:', 'https:'].includes(u.protocol) || u.username || u.password || !u.hostname) return undefined;
  const path = u.pathname.replace(/\/+$/, '');
  return `${u.protocol}//${u.host}${path}${u.search}`;
}

/** The table: one parser per field, in order (namespacePrefix reads prNumber). */
const FIELDS = {
  loop: (f) => {
    const raw = f.get(I.Loop) ?? 'ci-kind';
    const allowed = f.opts.loops ?? LOOPS;
    if ((allowed as readonly string[]).includes(raw)) return raw as AnyLoop;
    f.problem(I.Loop, raw, `one of ${allowed.join(', ')}`);
    return undefined;
  },
  prNumber: (f) => {
    const raw = f.get(I.PrNumber);
    if (raw === undefined) return f.opts.event?.prNumber;
    const n = parsePrNumber(raw);
    if (n === undefined) f.problem(I.PrNumber, raw, PR_FORM);
    return n;
  },
  sha: (f) => {
    const raw = f.get(I.GitSha) ?? f.opts.event?.sha;
    if (raw === undefined) return undefined;
    if (/^[0-9a-fA-F]{7,40}$/.test(raw)) return raw.toLowerCase();
    f.problem(I.GitSha, raw, SHA_FORM);
    return undefined;
  },
  repository: (f) => {
    const raw = f.trimmed(I.Repository) ?? f.opts.event?.repository;
    if (raw === undefined) return undefined;
    if (isRepository(raw)) return raw.toLowerCase();
    f.problem(I.Repository, raw, REPOSITORY_FORM);
    return undefined;
  },
  primaryRepository: (f) => {
    const raw = f.trimmed(I.PrimaryRepository);
    if (raw === undefined) return undefined;
    if (isRepository(raw)) return raw.toLowerCase();
    f.problem(I.PrimaryRepository, raw, REPOSITORY_FORM);
    return undefined;
  },
  previewWith: (f, parsed) => {
    // Only a preview deploys companions: a bad line must never stop a teardown or a CI run.
    if (parsed.loop !== 'preview') return [];
    const given = f.lines(I.PreviewWith);
    // The input wins over the description: a workflow that sets it means it.
    const [input, values] = given.length
      ? [I.PreviewWith as string, given]
      : ['Preview-With line of the PR description', f.opts.event?.previewWith ?? []];
    const companions: Companion[] = [];
    for (const value of values) {
      const c = parseCompanion(value);
      const owner = (r: string) => r.slice(0, r.indexOf('/'));
      if (!c) f.problem(input, value, PREVIEW_WITH_FORM);
      else if (!parsed.repository)
        f.problem(
          input,
          value,
          `a pull request of a repository of the same owner as this one, which needs '${I.Repository}' (got nothing; on a runner it is GITHUB_REPOSITORY)`,
        );
      else if (c.repository === parsed.repository)
        f.problem(input, value, `a pull request of another repository than this one (${parsed.repository})`);
      else if (companions.some((o) => o.repository === c.repository))
        f.problem(input, value, `one pull request per repository (${c.repository} is named twice)`);
      else if (parsed.repository && owner(c.repository) !== owner(parsed.repository))
        f.problem(
          input,
          value,
          `a pull request of a repository of the same owner as this one (${owner(parsed.repository)}/…)`,
        );
      else companions.push(c);
    }
    return companions;
  },
  baseDomain: (f) => {
    const raw = f.get(I.BaseDomain) ?? DEFAULT_BASE_DOMAIN;
    const domain = raw.toLowerCase();
    const hostLabelRoom = `pr-${MAX_PREVIEW_ID}.`.length;
    if (!isDnsName(domain) || !domain.includes('.') || domain.length + hostLabelRoom > 253)
      f.problem(
        I.BaseDomain,
        raw,
        `a DNS name of at least two labels, each 1-63 of a-z, 0-9 and -, not starting or ending with -, at most ${253 - hostLabelRoom} characters (e.g. app.jetscale.ai)`,
      );
    return domain;
  },
  namespacePrefix: (f, parsed) => {
    const prefix = f.get(I.NamespacePrefix) ?? DEFAULT_NAMESPACE_PREFIX;
    // The longest name this run can give: a repository that is not the primary one adds its key.
    const id = previewId(parsed.prNumber ?? MAX_PR_NUMBER, parsed.repository, parsed.primaryRepository);
    const longest = namespaceFor(id, prefix);
    if (!/^[a-z]([-a-z0-9]*)?$/.test(prefix) || !isDnsLabel(longest))
      f.problem(
        I.NamespacePrefix,
        prefix,
        `a DNS-1123 label prefix: starts with a-z, then a-z, 0-9 or -, short enough that prefix + PR number (+ repository key, for a repository that is not the primary one) is at most ${MAX_DNS_LABEL} characters (${describeValue(longest)} has ${longest.length})`,
      );
    return prefix;
  },
  images: (f) => {
    const images: ImageOverride[] = [];
    for (const line of f.lines(I.Images)) {
      const eq = line.indexOf('=');
      const service = eq > 0 ? line.slice(0, eq).trim() : '';
      const ref = eq > 0 ? line.slice(eq + 1).trim() : '';
      if (!isDnsLabel(service) || !isImageRef(ref)) f.problem(I.Images, line, IMAGE_FORM);
      else if (images.some((i) => i.service === service))
        f.problem(I.Images, line, `one line per service (${service} is given twice)`);
      else images.push({ service, ref });
    }
    return images;
  },
  baselineNamespace: (f) => {
    const raw = f.trimmed(I.BaselineNamespace) ?? DEFAULT_BASELINE_NAMESPACE;
    if (!isDnsLabel(raw))
      f.problem(I.BaselineNamespace, raw, 'a namespace name: a DNS-1123 label (e.g. jetscale-baseline)');
    return raw;
  },
  recordBaseline: bool(I.RecordBaseline, false),
  kindImages: (f) => {
    const refs: string[] = [];
    for (const ref of f.lines(I.KindImages)) {
      if (isImageRef(ref)) refs.push(ref);
      else
        f.problem(
          I.KindImages,
          ref,
          'container image references, one per line (e.g. postgres:16.10-bookworm)',
        );
    }
    return refs;
  },
  values: (f) => {
    const files: string[] = [];
    for (const file of f.lines(I.Values)) {
      const checked = f.opts.valuesFile?.(file) ?? { path: file };
      if ('problem' in checked) f.problem(I.Values, file, checked.problem);
      else files.push(checked.path);
    }
    return files;
  },
  set: (f) => {
    const set: Array<{ key: string; value: string }> = [];
    for (const line of f.lines(I.Set)) {
      const eq = line.indexOf('=');
      const key = eq > 0 ? line.slice(0, eq).trim() : '';
      if (!SET_KEY.test(key) || key.split('.').some((part) => FORBIDDEN_KEYS.has(part)))
        f.problem(I.Set, line, SET_FORM);
      else set.push({ key, value: line.slice(eq + 1).trim() });
    }
    return set;
  },
  tools: (f) => ({
    kind: tool(I.KindVersion, pins.tools.kind.version)(f, {}),
    helm: tool(I.HelmVersion, pins.tools.helm.version)(f, {}),
    skaffold: tool(I.SkaffoldVersion, pins.tools.skaffold.version)(f, {}),
    kubectl: tool(I.KubectlVersion, pins.tools.kubectl.version)(f, {}),
  }),
  nodeImage: (f) => {
    const image = f.trimmed(I.NodeImage) ?? pins.nodeImage;
    if (!isImageRef(image))
      f.problem(I.NodeImage, image, 'a container image reference such as kindest/node:v1.34.0');
    return image;
  },
  kubeconfig: (f) => {
    const kc = f.get(I.Kubeconfig);
    if (kc === undefined) return undefined;
    // Content, YAML or JSON (both are valid kubeconfigs); anything else is a path. The value is never
    // printed: it may hold credentials.
    if (isKubeconfigContent(kc)) return { content: kc };
    const path = kc.trim();
    if (/[\n\r]/.test(path) || (f.opts.fileExists && !f.opts.fileExists(path))) {
      f.problem(
        I.Kubeconfig,
        '(value not shown: it may hold credentials)',
        'the path of an existing kubeconfig file, or kubeconfig content (YAML or JSON with apiVersion, clusters, contexts or users)',
      );
      return undefined;
    }
    return { path };
  },
  url: (f) => {
    const raw = f.trimmed(I.Url);
    if (raw === undefined) return undefined;
    const url = normalizeUrl(raw);
    if (url === undefined) f.problem(I.Url, raw, URL_FORM);
    return url;
  },
  resolve: (f) => {
    const map: Record<string, string> = {};
    for (const line of f.lines(I.Resolve)) {
      const m = /^([a-z0-9.-]+)=([0-9]{1,3}(?:\.[0-9]{1,3}){3}|\[[0-9a-f:]+\])$/i.exec(line);
      if (!m || !isDnsName((m[1] as string).toLowerCase()))
        f.problem(I.Resolve, line, 'lines of host=IP address (e.g. pr-101.app.jetscale.ai=127.0.0.1)');
      else map[(m[1] as string).toLowerCase()] = (m[2] as string).replace(/^\[|\]$/g, '');
    }
    return map;
  },
  githubToken: (f) => f.get(I.GithubToken),
  botLogin: (f) => {
    const raw = f.trimmed(I.BotLogin);
    if (raw !== undefined && !isBotLogin(raw)) f.problem(I.BotLogin, raw, BOT_LOGIN_FORM);
    return raw;
  },
  comment: bool(I.Comment, true),
  testCommand: (f) => f.trimmed(I.TestCommand),
  timeoutSeconds: (f) => {
    const raw = f.trimmed(I.Timeout) ?? '10m';
    const seconds = parseTimeout(raw);
    if (seconds === undefined) f.problem(I.Timeout, raw, TIMEOUT_FORM);
    return seconds ?? 600;
  },
  dryRun: bool(I.DryRun, false),
  reseed: bool(I.Reseed, false),
  ttlSeconds: (f) => {
    const raw = f.trimmed(I.Ttl);
    if (raw === undefined) return undefined;
    const seconds = parseTtl(raw);
    if (seconds === undefined) f.problem(I.Ttl, raw, TTL_FORM);
    return seconds;
  },
  maxPreviews: (f) => {
    const raw = f.trimmed(I.MaxPreviews);
    if (raw === undefined) return undefined;
    const n = /^[1-9][0-9]{0,4}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!(n <= 10_000)) f.problem(I.MaxPreviews, raw, MAX_PREVIEWS_FORM);
    return n <= 10_000 ? n : undefined;
  },
  overCap: (f) => {
    const raw = f.trimmed(I.OverCap) ?? 'fail';
    if ((OVER_CAP as readonly string[]).includes(raw)) return raw as OverCap;
    f.problem(I.OverCap, raw, OVER_CAP_FORM);
    return 'fail';
  },
  kubeContext: (f) => {
    const raw = f.trimmed(KUBE_CONTEXT);
    if (raw === undefined) return undefined;
    if (/^[^\s'"`$\\]{1,253}$/.test(raw)) return raw;
    f.problem(
      KUBE_CONTEXT,
      raw,
      'the name of a kube context: 1 to 253 characters, no spaces, quotes, $ or backslashes',
    );
    return undefined;
  },
  stackDir: (f) => {
    const raw = f.trimmed(I.StackDir);
    if (raw === undefined) return undefined;
    const checked = f.opts.stackDir?.(raw) ?? { path: raw };
    if ('problem' in checked) f.problem(I.StackDir, raw, checked.problem);
    return 'path' in checked ? checked.path : undefined;
  },
} satisfies { [K in keyof CommonInputs | 'loop']: Field<unknown> };

/** What each loop cannot run without, beyond the fields every loop has. */
const REQUIRED: Record<
  AnyLoop,
  Array<{ field: 'prNumber' | 'url' | 'kubeContext'; input: InputName; form: string }>
> = {
  'ci-kind': [],
  preview: [{ field: 'prNumber', input: I.PrNumber, form: PR_FORM }],
  teardown: [{ field: 'prNumber', input: I.PrNumber, form: PR_FORM }],
  live: [{ field: 'url', input: I.Url, form: URL_FORM }],
  sweep: [],
  'deploy-live': [
    { field: 'url', input: I.Url, form: URL_FORM },
    { field: 'kubeContext', input: KUBE_CONTEXT, form: 'the name of the live kube context (--context)' },
  ],
};

/** kubeconfig content rather than a path: JSON, or YAML with a kubeconfig's top-level keys. */
export function isKubeconfigContent(value: string): boolean {
  const text = value.trim();
  return (
    text.startsWith('{') || /^\s*(apiVersion|clusters|kind|contexts|users|current-context)\s*:/m.test(value)
  );
}

/**
 * Parse raw action inputs (as given: identifiers are not trimmed, so "12 " is an error, not 12).
 * Throws InputError listing every problem.
 */
export function parseInputs(raw: RawInputs, opts: ParseOptions = {}): ActionInputs {
  const problems: string[] = [];
  const get = (name: InputName): string | undefined => {
    const v = raw[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const reader: FieldReader = {
    get,
    trimmed: (name) => get(name)?.trim() || undefined,
    lines: (name) => lines(get(name)),
    problem: (input, value, accepted) => problems.push(problem(input, value, accepted)),
    opts,
  };
  const parsed: Record<string, unknown> = {};
  for (const [key, parse] of Object.entries(FIELDS) as Array<[string, Field<unknown>]>)
    parsed[key] = parse(reader, parsed as Partial<CommonInputs>);
  const loop = parsed.loop as AnyLoop | undefined;
  for (const need of loop ? REQUIRED[loop] : []) {
    if (parsed[need.field] === undefined && get(need.input) === undefined)
      problems.push(
        need.field === 'prNumber'
          ? `Input '${need.input}' is required for loop '${loop}' (got nothing, and the event has no pull_request). Expected ${need.form}.`
          : `Input '${need.input}' is required for loop '${loop}' (got nothing). Expected ${need.form}.`,
      );
  }
  if (parsed.recordBaseline && loop !== 'live')
    problems.push(
      `Input '${I.RecordBaseline}' is for loop 'live' (got loop '${loop}'). Expected it unset or false here.`,
    );
  else if (parsed.recordBaseline && (parsed.images as ImageOverride[]).length === 0)
    problems.push(
      `Input '${I.RecordBaseline}' needs '${I.Images}': the images live runs, recorded as the baseline (got none). Expected ${IMAGE_FORM}.`,
    );
  else if (parsed.recordBaseline && parsed.kubeconfig === undefined && get(I.Kubeconfig) === undefined)
    problems.push(
      `Input '${I.RecordBaseline}' needs '${I.Kubeconfig}': the preview cluster the baseline is written to (got nothing). Expected the path of a kubeconfig file, or kubeconfig content.`,
    );
  if (problems.length > 0 || !loop) throw new InputError(problems);
  return parsed as unknown as ActionInputs;
}
