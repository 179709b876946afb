/**
 * The sticky comment's text: its bodies (deployed, failed, in progress, removed) and its meta line. Pure: no
 * I/O. Everything that comes from outside the action (failure details, the URL, names) passes through
 * src/redact.ts here, so no caller can post a secret by forgetting to.
 */
import { failureDetail, redact } from '../redact.js';

export const COMMENT_MARKER = '<!-- jetscale-stack:preview -->';
const META_PREFIX = '<!-- jetscale-stack:meta ';
const META_PATTERN = /<!-- jetscale-stack:meta (\{.*?\}) -->/g;
const SHA_PATTERN = /^[0-9a-f]{7,64}$/i;

export type DeployStatus = 'success' | 'failure' | 'in_progress';

export interface DeployReport {
  url: string;
  namespace: string;
  host: string;
  status: DeployStatus;
  /** Free text shown folded in the comment (an error message, say): redacted and cut to its last lines. */
  details?: string;
  /** On failure: what failed first, shown unfolded (redacted, at most 1,500 characters). */
  reason?: string;
  /** Every service's image and where it came from (this PR, a companion PR, the baseline). */
  images?: Array<{ service: string; ref: string; from: string }>;
  /** With a ttl: when the sweep will remove the preview unless it is deployed again (RFC 3339), and the ttl (3d). */
  expires?: { at: string; ttl: string };
}

/** What a run records about itself in the sticky comment. */
export interface CommentMeta {
  sha: string;
  runId: number;
  runAttempt: number;
  updatedAt: string;
  state?: 'deployed' | 'removed';
}

/** The run that writes: what the bodies link to. */
export interface RenderContext {
  owner: string;
  repo: string;
  /** The commit this run deployed or tore down at. */
  sha: string;
  runId: number;
  runAttempt: number;
  runUrl: string;
  /** Web base for commit links (https://github.com). */
  serverUrl: string;
}

export const STATUS_TEXT: Record<DeployStatus, { heading: string; cell: string; description: string }> = {
  success: { heading: 'Preview environment ready', cell: '✅ deployed', description: 'Preview deployed' },
  failure: { heading: 'Preview deploy failed', cell: '❌ failed', description: 'Preview deploy failed' },
  in_progress: { heading: 'Preview deploying…', cell: '⏳ in progress', description: 'Deploying preview' },
};

/** True when `a` comes from a later run than `b` (run id, then attempt). */
export function isNewer(
  a: Pick<CommentMeta, 'runId' | 'runAttempt'>,
  b: Pick<CommentMeta, 'runId' | 'runAttempt'>,
): boolean {
  if (a.runId !== b.runId) return a.runId > b.runId;
  return (a.runAttempt ?? 1) > (b.runAttempt ?? 1);
}

/** The metadata of a sticky comment: its last meta line (details text above it cannot forge it). */
export function parseMeta(body: string): CommentMeta | undefined {
  const match = [...body.matchAll(META_PATTERN)].at(-1);
  if (!match?.[1]) return undefined;
  try {
    const value = JSON.parse(match[1]) as Partial<CommentMeta>;
    if (typeof value.runId !== 'number' || typeof value.sha !== 'string') return undefined;
    return {
      sha: value.sha,
      runId: value.runId,
      runAttempt: typeof value.runAttempt === 'number' ? value.runAttempt : 1,
      updatedAt: typeof value.updatedAt === 'string' ? value.updatedAt : '',
      state: value.state === 'deployed' || value.state === 'removed' ? value.state : undefined,
    };
  } catch {
    return undefined;
  }
}

export function metaLine(meta: CommentMeta): string {
  return `${META_PREFIX}${JSON.stringify(meta)} -->`;
}

/** Whether a comment body is a sticky comment (it starts with the marker; a quote of it does not). */
export function hasMarker(body: string): boolean {
  return body.trimStart().startsWith(COMMENT_MARKER);
}

/**
 * The URL as we may post it (the comment, a deployment's environment_url): an http(s) URL, normalised by the
 * WHATWG parser (no spaces, quotes or angle brackets left), without credentials, redacted. Anything else
 * (javascript:, markup, not a URL at all) is undefined: shown as "not shown", never sent.
 */
export function safeUrl(text: string | undefined): string | undefined {
  if (!text) return undefined;
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  // Credentials never leave; what the WHATWG parser leaves unencoded but RFC 3986 does not allow (|, ^, {, }
  // …) is percent-encoded. The parser adds "/" to a bare origin: keep the URL as given there.
  const bare = url.pathname === '/' && !url.search && !url.hash && !text.trim().endsWith('/');
  const rest = bare ? '' : `${url.pathname}${url.search}${url.hash}`;
  return redact(`${url.origin}${rest.replace(/[^A-Za-z0-9\-._~:/?#@!$&'()*+,;=%]/g, encodeURIComponent)}`);
}

/** A URL as a Markdown autolink that cannot break out of a table cell or a bold span. */
function urlLink(url: string | undefined): string {
  const href = safeUrl(url);
  return href ? `<${href}>` : '_not shown: not an http(s) URL_';
}

/** Text as one inline code span, safe in a table cell: redacted, one line, fenced past its backticks. */
function code(text: string): string {
  const clean = redact(text)
    .replace(/[\r\n]+/g, ' ')
    .replace(/\|/g, '\\|');
  const longest = Math.max(0, ...[...clean.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = '`'.repeat(longest + 1);
  const pad = clean.startsWith('`') || clean.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${clean}${pad}${ticks}`;
}

export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

function runLink(ctx: RenderContext): string {
  const attempt = ctx.runAttempt > 1 ? ` (attempt ${ctx.runAttempt})` : '';
  return `[${ctx.runId}${attempt}](${ctx.runUrl})`;
}

function commitLink(ctx: RenderContext, sha: string): string {
  if (!SHA_PATTERN.test(sha)) return code(sha);
  return `[\`${shortSha(sha)}\`](${ctx.serverUrl}/${ctx.owner}/${ctx.repo}/commit/${sha}) (\`${sha}\`)`;
}

/** A fenced block that the text cannot close early. */
function fence(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = '`'.repeat(longest + 1);
  return `${ticks}text\n${text}\n${ticks}`;
}

/** The comment of a deploy (in progress, ready or failed). */
export function deployBody(ctx: RenderContext, report: DeployReport, meta: CommentMeta): string {
  const text = STATUS_TEXT[report.status];
  const link = urlLink(report.url);
  const lines = [
    COMMENT_MARKER,
    `### ${text.heading}`,
    '',
    ...(report.status === 'success' ? [`**${link}**`, ''] : []),
    '| | |',
    '| --- | --- |',
    `| Status | ${text.cell} |`,
    `| URL | ${link} |`,
    `| Commit | ${commitLink(ctx, ctx.sha)} |`,
    `| Namespace | ${code(report.namespace)} |`,
    `| Host | ${code(report.host)} |`,
    `| Run | ${runLink(ctx)} |`,
    `| Updated | ${meta.updatedAt} |`,
    ...expiresRow(report.expires),
    '',
  ];
  if (report.images?.length) {
    lines.push('| Service | Image | From |', '| --- | --- | --- |');
    for (const i of report.images) lines.push(`| ${code(i.service)} | ${code(i.ref)} | ${code(i.from)} |`);
    lines.push('');
  }
  const reason =
    report.status === 'failure' && report.reason?.trim() ? failureDetail(report.reason.trim(), 12, 1500) : '';
  if (reason) lines.push(`**What failed first** (full log: run ${runLink(ctx)}):`, '', fence(reason), '');
  const details = report.details?.trim() ? failureDetail(report.details.trim()) : '';
  if (details) {
    lines.push('<details><summary>Details</summary>', '', fence(details), '', '</details>', '');
  }
  lines.push(metaLine(meta));
  return lines.join('\n');
}

/** The expiry row: a readable UTC time and the ttl, each checked for its form (nothing else reaches the comment). */
function expiresRow(expires: DeployReport['expires']): string[] {
  const at = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})Z$/.exec(expires?.at ?? '');
  if (!at || !expires || !/^[1-9][0-9]{0,5}[mhd]$/.test(expires.ttl)) return [];
  return [`| Expires | ${at[1]} ${at[2]} UTC (idle TTL ${expires.ttl}; each push extends it) |`];
}

/** The comment once the preview is gone; `previous` is what the comment said before, if it was ours. */
export function teardownBody(
  ctx: RenderContext,
  meta: CommentMeta,
  previous: CommentMeta | undefined,
  /** Why the sweep (or another PR's preview, over the cap) removed it ("PR closed", "idle for 3 days"); unset: its PR's teardown. */
  reason?: string,
): string {
  const lines = [
    COMMENT_MARKER,
    '### Preview environment removed',
    '',
    reason
      ? `**removed: ${redact(reason).replace(/[\r\n]+/g, ' ')}**: the preview of this pull request was torn down at ` +
        `${meta.updatedAt} by run ${runLink(ctx)}.`
      : `The preview of this pull request was torn down at ${meta.updatedAt} by run ${runLink(ctx)} ` +
        `at commit ${commitLink(ctx, ctx.sha)}.`,
  ];
  if (previous?.state === 'deployed') {
    lines.push(
      '',
      `It last served commit ${commitLink(ctx, previous.sha)}, deployed by run ${previous.runId}.`,
    );
  }
  lines.push('', metaLine(meta));
  return lines.join('\n');
}

/** The deployment's description (GitHub keeps 140 characters of it). */
export function deploymentDescription(sha: string, namespace: string): string {
  return redact(`Preview of ${shortSha(sha)} in ${namespace}`).slice(0, 140);
}
