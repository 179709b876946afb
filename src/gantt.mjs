// @ts-check
// The steps of a run as a Mermaid gantt chart, which GitHub renders in job summaries and Markdown. One builder
// for the action's job summary (src/summary.ts) and the benchmarks (test/bench). Plain JavaScript so the
// benchmarks, run by plain Node, import this very file; the action imports it from TypeScript and ncc bundles it.

/**
 * One bar. Times are milliseconds from the start of the run, so steps that ran in parallel overlap. A step with
 * no start or no end did not run: it is listed under the chart, never drawn as 0 s.
 * @typedef {object} GanttStep
 * @property {string} name
 * @property {number} [startMs]
 * @property {number} [endMs]
 * @property {boolean} [ok] false draws the bar as failed (Mermaid's `crit`)
 * @property {string} [section] bars are grouped by section, in order of first appearance; default "steps"
 */

/** Words Mermaid's gantt grammar reads as a statement when they start a line (case-insensitive). */
const KEYWORDS =
  /^(gantt|title|section|dateformat|axisformat|tickinterval|excludes|includes|todaymarker|inclusiveenddates|topaxis|weekday|weekend|click|acctitle|accdescr)\b/i;

/**
 * A name Mermaid draws as written: ':' ends a task's name, '#' and '%%' start comments, ';' ends a statement, so
 * everything but letters, digits and a few plain marks becomes a space; a leading keyword gets a '_' prefix.
 * @param {string} name
 * @returns {string}
 */
export function ganttName(name) {
  const plain = name
    .replace(/[^\p{L}\p{N} _.,+/()-]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!plain) return 'unnamed';
  return KEYWORDS.test(plain) ? `_${plain}` : plain;
}

/**
 * @param {number | undefined} value
 * @param {string} what
 * @returns {boolean} whether the value is set
 */
function given(value, what) {
  if (value === undefined || value === null) return false;
  if (!Number.isFinite(value) || value < 0)
    throw new RangeError(`${what}: ${value} is not a time in milliseconds from the start of the run (>= 0)`);
  return true;
}

/**
 * The Markdown of a gantt chart of steps: a ```mermaid block (dateFormat x: start and end are Unix
 * milliseconds, here counted from the run's start, so the axis reads minutes:seconds into the run), followed
 * by a "Not run:" line naming the steps that have no start or end. '' for no steps.
 * @param {GanttStep[]} steps
 * @param {{ title?: string }} [options]
 * @returns {string}
 */
export function ganttChart(steps, options = {}) {
  /** @type {Map<string, string[]>} */
  const sections = new Map();
  /** @type {string[]} */
  const notRun = [];
  for (const step of steps) {
    const hasStart = given(step.startMs, `step ${JSON.stringify(step.name)} start`);
    const hasEnd = given(step.endMs, `step ${JSON.stringify(step.name)} end`);
    if (!hasStart || !hasEnd) {
      notRun.push(ganttName(step.name));
      continue;
    }
    const start = Math.round(/** @type {number} */ (step.startMs));
    const end = Math.round(/** @type {number} */ (step.endMs));
    if (end < start)
      throw new RangeError(
        `step ${JSON.stringify(step.name)}: ends (${end} ms) before it starts (${start} ms)`,
      );
    const section = ganttName(step.section ?? 'steps');
    const bars = sections.get(section) ?? [];
    bars.push(`    ${ganttName(step.name)} :${step.ok === false ? 'crit, ' : ''}${start}, ${end}`);
    sections.set(section, bars);
  }
  const parts = [];
  if (sections.size) {
    const lines = ['```mermaid', 'gantt'];
    if (options.title) lines.push(`    title ${ganttName(options.title)}`);
    lines.push('    dateFormat x', '    axisFormat %M:%S', '    todayMarker off');
    for (const [section, bars] of sections) lines.push(`    section ${section}`, ...bars);
    lines.push('```');
    parts.push(lines.join('\n'));
  }
  if (notRun.length) parts.push(`Not run: ${notRun.join(', ')}.`);
  return parts.length ? `${parts.join('\n\n')}\n` : '';
}
