/**
 * Parse and validate every input once, into one typed object. Pure apart from the file-existence check
 * passed in. Every error names the input, the value and the accepted form; all errors are reported at once.
 */
import { Inputs as I, LOOPS, type Loop } from './constants.js';
import {
  DEFAULT_BASE_DOMAIN,
  DEFAULT_NAMESPACE_PREFIX,
  isDnsLabel,
  isDnsName,
  MAX_DNS_LABEL,
  MAX_PR_NUMBER,
  namespaceFor,
} from './naming.js';
import pins from './pins.json' with { type: 'json' };

export type RawInputs = Partial<Record<`${I}`, string>>;

export interface EventDefaults {
  /** pull_request.number from the event payload. */
  prNumber?: number;
  /** pull_request.head.sha from the event payload, else GITHUB_SHA. */
  sha?: string;
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

export interface ActionInputs {
  loop: Loop;
  prNumber?: number;
  sha?: string;
  baseDomain: string;
  namespacePrefix: string;
  images: ImageOverride[];
  /** Extra images loaded into the ci-kind cluster (not deployed by Skaffold): databases, sidecars. */
  kindImages: string[];
  values: string[];
  set: Array<{ key: string; value: string }>;
  tools: ToolVersions;
  nodeImage: string;
  /** A kubeconfig file path, or kubeconfig YAML content (written to a private temp file before use). */
  kubeconfig?: { path?: string; content?: string };
  url?: string;
  resolve: Record<string, string>;
  githubToken?: string;
  comment: boolean;
  testCommand?: string;
  timeoutSeconds: number;
  dryRun: boolean;
}

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

export function parseTimeout(value: string): number | undefined {
  const m = /^([0-9]{1,6})(s|m|h)?$/.exec(value);
  if (!m) return undefined;
  const seconds = Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
  return seconds >= 1 && seconds <= 6 * 3600 ? seconds : undefined;
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
  fileExists?: (path: string) => boolean;
}

/**
 * Parse raw action inputs (as given: identifiers are not trimmed, so "12 " is an error, not 12).
 * Throws InputError listing every problem.
 */
export function parseInputs(raw: RawInputs, opts: ParseOptions = {}): ActionInputs {
  const problems: string[] = [];
  const get = (name: `${I}`): string | undefined => {
    const v = raw[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const trimmed = (name: `${I}`): string | undefined => get(name)?.trim() || undefined;

  const loopRaw = get(I.Loop) ?? 'ci-kind';
  const loop = (LOOPS as readonly string[]).includes(loopRaw) ? (loopRaw as Loop) : undefined;
  if (!loop) problems.push(problem(I.Loop, loopRaw, `one of ${LOOPS.join(', ')}`));

  let prNumber: number | undefined;
  const prRaw = get(I.PrNumber);
  if (prRaw !== undefined) {
    prNumber = parsePrNumber(prRaw);
    if (prNumber === undefined) problems.push(problem(I.PrNumber, prRaw, PR_FORM));
  } else if (opts.event?.prNumber !== undefined) {
    prNumber = opts.event.prNumber;
  }

  let sha: string | undefined;
  const shaRaw = get(I.GitSha) ?? opts.event?.sha;
  if (shaRaw !== undefined) {
    if (/^[0-9a-fA-F]{7,40}$/.test(shaRaw)) sha = shaRaw.toLowerCase();
    else problems.push(problem(I.GitSha, shaRaw, SHA_FORM));
  }

  const baseDomainRaw = get(I.BaseDomain) ?? DEFAULT_BASE_DOMAIN;
  const baseDomain = baseDomainRaw.toLowerCase();
  const hostLabelRoom = `pr-${MAX_PR_NUMBER}.`.length;
  if (!isDnsName(baseDomain) || !baseDomain.includes('.') || baseDomain.length + hostLabelRoom > 253) {
    problems.push(
      problem(
        I.BaseDomain,
        baseDomainRaw,
        'a DNS name of at least two labels, each 1-63 of a-z, 0-9 and -, not starting or ending with -, at most 242 characters (e.g. app.jetscale.ai)',
      ),
    );
  }

  const namespacePrefix = get(I.NamespacePrefix) ?? DEFAULT_NAMESPACE_PREFIX;
  const longest = namespaceFor(prNumber ?? MAX_PR_NUMBER, namespacePrefix);
  if (!/^[a-z]([-a-z0-9]*)?$/.test(namespacePrefix) || !isDnsLabel(longest)) {
    problems.push(
      problem(
        I.NamespacePrefix,
        namespacePrefix,
        `a DNS-1123 label prefix: starts with a-z, then a-z, 0-9 or -, short enough that prefix + PR number is at most ${MAX_DNS_LABEL} characters (${describeValue(longest)} has ${longest.length})`,
      ),
    );
  }

  const images: ImageOverride[] = [];
  for (const line of lines(get(I.Images))) {
    const eq = line.indexOf('=');
    const service = eq > 0 ? line.slice(0, eq).trim() : '';
    const ref = eq > 0 ? line.slice(eq + 1).trim() : '';
    if (!isDnsLabel(service) || !isImageRef(ref)) problems.push(problem(I.Images, line, IMAGE_FORM));
    else if (images.some((i) => i.service === service))
      problems.push(problem(I.Images, line, `one line per service (${service} is given twice)`));
    else images.push({ service, ref });
  }

  const kindImages: string[] = [];
  for (const ref of lines(get(I.KindImages))) {
    if (!isImageRef(ref))
      problems.push(
        problem(I.KindImages, ref, 'container image references, one per line (e.g. postgres:16.10-bookworm)'),
      );
    else kindImages.push(ref);
  }

  const values: string[] = [];
  for (const file of lines(get(I.Values))) {
    if (opts.fileExists && !opts.fileExists(file))
      problems.push(
        problem(I.Values, file, 'paths of existing values files, one per line (this file does not exist)'),
      );
    else values.push(file);
  }

  const set: Array<{ key: string; value: string }> = [];
  for (const line of lines(get(I.Set))) {
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim() : '';
    if (!/^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/.test(key))
      problems.push(
        problem(
          I.Set,
          line,
          'lines of key.path=value, the key made of dot-separated names (e.g. backend.replicaCount=2)',
        ),
      );
    else set.push({ key, value: line.slice(eq + 1).trim() });
  }

  // Only pinned versions can be installed (each download is checked against a checksum pinned in
  // src/pins.json), so any other version is refused here, before anything is installed.
  const tool = (name: `${I}`, fallback: string): string => {
    const v = trimmed(name) ?? fallback;
    if (!/^v[0-9]+\.[0-9]+\.[0-9]+$/.test(v)) problems.push(problem(name, v, VERSION_FORM));
    else if (v !== fallback)
      problems.push(
        problem(
          name,
          v,
          `the pinned version ${fallback}: other versions have no pinned checksum (pin one with npm run pins:update -- ${name.replace('-version', '')}=${v})`,
        ),
      );
    return v;
  };
  const tools: ToolVersions = {
    kind: tool(I.KindVersion, pins.tools.kind.version),
    helm: tool(I.HelmVersion, pins.tools.helm.version),
    skaffold: tool(I.SkaffoldVersion, pins.tools.skaffold.version),
    kubectl: tool(I.KubectlVersion, pins.tools.kubectl.version),
  };

  const nodeImage = trimmed(I.NodeImage) ?? pins.nodeImage;
  if (!isImageRef(nodeImage))
    problems.push(
      problem(I.NodeImage, nodeImage, 'a container image reference such as kindest/node:v1.34.0'),
    );

  let kubeconfig: ActionInputs['kubeconfig'];
  const kc = get(I.Kubeconfig);
  if (kc !== undefined) {
    if (/^\s*(apiVersion|clusters|kind|contexts)\s*:/m.test(kc)) kubeconfig = { content: kc };
    else if (opts.fileExists && !opts.fileExists(kc.trim()))
      problems.push(
        problem(I.Kubeconfig, kc, 'the path of an existing kubeconfig file, or kubeconfig YAML content'),
      );
    else kubeconfig = { path: kc.trim() };
  }

  let url: string | undefined;
  const urlRaw = trimmed(I.Url);
  if (urlRaw !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(urlRaw);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || parsed.username || parsed.password)
      problems.push(
        problem(
          I.Url,
          urlRaw,
          'an http:// or https:// URL without credentials (e.g. https://app.jetscale.ai)',
        ),
      );
    else url = urlRaw.replace(/\/+$/, '');
  }

  const resolve: Record<string, string> = {};
  for (const line of lines(get(I.Resolve))) {
    const m = /^([a-z0-9.-]+)=([0-9]{1,3}(?:\.[0-9]{1,3}){3}|\[[0-9a-f:]+\])$/i.exec(line);
    if (!m || !isDnsName((m[1] as string).toLowerCase()))
      problems.push(
        problem(I.Resolve, line, 'lines of host=IP address (e.g. pr-101.app.jetscale.ai=127.0.0.1)'),
      );
    else resolve[(m[1] as string).toLowerCase()] = (m[2] as string).replace(/^\[|\]$/g, '');
  }

  const bool = (name: `${I}`, fallback: boolean): boolean => {
    const v = trimmed(name);
    if (v === undefined) return fallback;
    if (['true', 'True', 'TRUE'].includes(v)) return true;
    if (['false', 'False', 'FALSE'].includes(v)) return false;
    problems.push(problem(name, v, BOOL_FORM));
    return fallback;
  };
  const comment = bool(I.Comment, true);
  const dryRun = bool(I.DryRun, false);

  const timeoutRaw = trimmed(I.Timeout) ?? '10m';
  const timeoutSeconds = parseTimeout(timeoutRaw);
  if (timeoutSeconds === undefined) problems.push(problem(I.Timeout, timeoutRaw, TIMEOUT_FORM));

  if (loop === 'teardown' && prNumber === undefined && prRaw === undefined)
    problems.push(
      `Input 'pr-number' is required for loop 'teardown' (got nothing, and the event has no pull_request). Expected ${PR_FORM}.`,
    );
  if (loop === 'preview' && prNumber === undefined && prRaw === undefined)
    problems.push(
      `Input 'pr-number' is required for loop 'preview' (got nothing, and the event has no pull_request). Expected ${PR_FORM}.`,
    );
  if (loop === 'live' && urlRaw === undefined)
    problems.push(
      `Input 'url' is required for loop 'live' (got nothing). Expected an http:// or https:// URL (e.g. https://app.jetscale.ai).`,
    );

  if (problems.length > 0 || !loop || timeoutSeconds === undefined) throw new InputError(problems);

  return {
    loop,
    prNumber,
    sha,
    baseDomain,
    namespacePrefix,
    images,
    kindImages,
    values,
    set,
    tools,
    nodeImage,
    kubeconfig,
    url,
    resolve,
    githubToken: get(I.GithubToken),
    comment,
    testCommand: trimmed(I.TestCommand),
    timeoutSeconds,
    dryRun,
  };
}
