/**
 * Job summary sections for every loop, written through core.summary (to $GITHUB_STEP_SUMMARY).
 * Each function appends its section at once and resolves to false, writing nothing, when
 * $GITHUB_STEP_SUMMARY is not set (the CLI on a laptop). All text is HTML-escaped.
 */
import * as core from '@actions/core';
import type { CheckResult } from './contract.js';
import { ganttChart } from './gantt.mjs';
import type { StepRecord } from './loops/types.js';

export interface DerivedNames {
  namespace?: string;
  host?: string;
  url?: string;
  release?: string;
  sha?: string;
  cluster?: string;
}

/** A check as the summary shows it: the contract's own result type, the fields a reader needs. */
export type CheckRow = Pick<CheckResult, 'name' | 'ok' | 'durationMs' | 'detail'>;

export interface DiagnosticsLocation {
  /** Directory on the runner the diagnostics were written to. */
  dir?: string;
  /** Name of the uploaded artifact. */
  artifact?: string;
  /** Link to the artifact or the run. */
  url?: string;
  /** What the collection found, in one line (pods not ready and why). */
  found?: string;
}

export interface LoopSummary {
  title: string;
  names?: DerivedNames;
  steps?: StepRecord[];
  checks?: CheckRow[];
  diagnostics?: DiagnosticsLocation;
  warnings?: string[];
}

type Summary = typeof core.summary;

let queue: Promise<unknown> = Promise.resolve();

/** Appends one section; writes are serialised so sections never interleave. */
function emit(build: (s: Summary) => void): Promise<boolean> {
  if (!process.env.GITHUB_STEP_SUMMARY) return Promise.resolve(false);
  const next = queue.then(async () => {
    build(core.summary);
    await core.summary.write();
    return true;
  });
  queue = next.catch(() => undefined);
  return next;
}

export function summaryEnabled(): boolean {
  return Boolean(process.env.GITHUB_STEP_SUMMARY);
}

export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": '#39' }[c]};`,
  );
}

const code = (text: string) => `<code>${escapeHtml(text)}</code>`;
/** core.summary renders an empty cell as an unclosed `<td>`; a space keeps the table well formed. */
const cell = (html: string) => html || ' ';

/** 850 → "850 ms", 12_300 → "12.3 s", 125_000 → "2 m 5 s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const total = Math.round(ms / 1000);
  return `${Math.floor(total / 60)} m ${total % 60} s`;
}

export function writeHeading(title: string, level: 1 | 2 | 3 = 2): Promise<boolean> {
  return emit((s) => s.addHeading(escapeHtml(title), level));
}

export function namesRows(names: DerivedNames): string[][] {
  const rows: string[][] = [];
  const add = (label: string, value: string | undefined, render: (v: string) => string = code) => {
    if (value) rows.push([label, render(value)]);
  };
  add('Namespace', names.namespace);
  add('Host', names.host);
  add('URL', names.url, (u) => `<a href="${escapeHtml(u)}">${escapeHtml(u)}</a>`);
  add('Release', names.release);
  add('SHA', names.sha);
  add('Cluster', names.cluster);
  return rows;
}

export function writeNames(names: DerivedNames): Promise<boolean> {
  const rows = namesRows(names);
  if (!rows.length) return Promise.resolve(false);
  return emit((s) =>
    s.addTable([
      [
        { data: 'Name', header: true },
        { data: 'Value', header: true },
      ],
      ...rows,
    ]),
  );
}

/** The steps in the order they started (a step is recorded when it ends, so nested ones come first). */
const byStart = (steps: StepRecord[]) => [...steps].sort((a, b) => a.startMs - b.startMs);

/** The steps' gantt chart (src/gantt.mjs): each bar at its real start, so parallel steps overlap. */
export function stepsChart(steps: StepRecord[], title?: string): string {
  return ganttChart(
    byStart(steps).map((step) => ({
      name: step.name,
      startMs: step.startMs,
      endMs: step.startMs + step.ms,
      ok: step.ok,
    })),
    { title },
  );
}

export function writeSteps(steps: StepRecord[]): Promise<boolean> {
  if (!steps.length) return Promise.resolve(false);
  // Wall-clock time from the first start to the last end: a sum would count parallel steps twice.
  const total =
    Math.max(...steps.map((step) => step.startMs + step.ms)) - Math.min(...steps.map((step) => step.startMs));
  return emit((s) =>
    s
      .addHeading('Steps', 3)
      .addTable([
        ['Step', 'Status', 'Duration'].map((data) => ({ data, header: true })),
        ...byStart(steps).map((step) => [
          escapeHtml(step.name),
          step.ok ? '✅ success' : '❌ failure',
          formatDuration(step.ms),
        ]),
        ['<b>Total</b>', ' ', formatDuration(total)],
      ])
      // A blank line first: GitHub renders the fenced block only when it starts a Markdown paragraph.
      .addRaw(`\n${stepsChart(steps)}`, true),
  );
}

export function writeChecks(checks: CheckRow[]): Promise<boolean> {
  if (!checks.length) return Promise.resolve(false);
  const passed = checks.filter((c) => c.ok).length;
  return emit((s) =>
    s
      .addHeading('Contract checks', 3)
      .addRaw(`<p>${passed} of ${checks.length} passed</p>`, true)
      .addTable([
        ['Check', 'Result', 'Duration', 'Detail'].map((data) => ({ data, header: true })),
        ...checks.map((check) => [
          escapeHtml(check.name),
          check.ok ? '✅ ok' : '❌ failed',
          formatDuration(check.durationMs),
          cell(escapeHtml(check.detail ?? '')),
        ]),
      ]),
  );
}

export function writeDiagnostics(location: DiagnosticsLocation): Promise<boolean> {
  const parts: string[] = [];
  if (location.dir) parts.push(`written to ${code(location.dir)}`);
  if (location.artifact) {
    const name = code(location.artifact);
    parts.push(
      location.url
        ? `uploaded as artifact <a href="${escapeHtml(location.url)}">${name}</a>`
        : `uploaded as artifact ${name}`,
    );
  } else if (location.url) {
    parts.push(`see <a href="${escapeHtml(location.url)}">${escapeHtml(location.url)}</a>`);
  }
  if (!parts.length) return Promise.resolve(false);
  const found = location.found ? `<p>${escapeHtml(location.found)}</p>` : '';
  return emit((s) =>
    s.addHeading('Diagnostics', 3).addRaw(`<p>Diagnostics ${parts.join('; ')}.</p>${found}`, true),
  );
}

export function writeWarnings(title: string, warnings: string[]): Promise<boolean> {
  if (!warnings.length) return Promise.resolve(false);
  return emit((s) => s.addHeading(`⚠️ ${escapeHtml(title)}`, 3).addList(warnings.map(escapeHtml)));
}

/** Everything a loop reports, in one go: heading, names, steps, checks, diagnostics, warnings. */
export async function writeLoopSummary(summary: LoopSummary): Promise<boolean> {
  if (!summaryEnabled()) return false;
  await writeHeading(summary.title, 2);
  if (summary.names) await writeNames(summary.names);
  if (summary.steps) await writeSteps(summary.steps);
  if (summary.checks) await writeChecks(summary.checks);
  if (summary.diagnostics) await writeDiagnostics(summary.diagnostics);
  if (summary.warnings) await writeWarnings('Warnings', summary.warnings);
  return true;
}
