import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  duration,
  ganttOfMedianRuns,
  interleave,
  MIN_RUNS,
  medianRun,
  ownTime,
  parseArgs,
  parseSteps,
  ratioLine,
  requireSteps,
  stats,
  stepRows,
  tableLines,
  UsageError,
} from '../bench/lib.mjs';
import { repoRoot } from '../support/tools.js';

type Line = [string, number];
const step = (name: string, start: number, end: number, ok = true) => ({ name, start, end, ok });

describe('stats', () => {
  test.each([
    [[3], { n: 1, median: 3, min: 3, max: 3 }],
    [[5, 1, 4, 2, 3], { n: 5, median: 3, min: 1, max: 5 }],
    [[10, 2, 4, 8, 6, 100], { n: 6, median: 7, min: 2, max: 100 }],
  ])('%j → %j', (xs, expected) => {
    expect(stats(xs)).toEqual(expected);
  });

  test.each([
    [[], 'deploy: no measurements'],
    [[1, Number.NaN], 'deploy: NaN is not a measured time'],
    [[1, undefined], 'deploy: undefined is not a measured time'],
    [[1, -2], 'deploy: -2 is not a measured time'],
  ])('%j throws', (xs, message) => {
    expect(() => stats(xs as number[], 'deploy')).toThrow(message);
  });
});

describe('parseSteps: the action start and end lines', () => {
  const lines: Line[] = [
    ['Run jetscale/stack', 0.1],
    ['▶ tools', 0.5],
    ['✓ tools (0.0 s)', 0.6],
    ['▶ namespace', 0.6],
    ['▶ GitHub report (in progress)', 0.7],
    ['✓ GitHub report (in progress) (0.2 s)', 0.9],
    ['✓ namespace (1.0 s)', 1.6],
    ['▶ deploy', 1.6],
    ['[command]skaffold deploy …', 1.7],
    ['Waiting for deployments to stabilize...', 5],
    ['Deployments stabilized in 3.2 seconds', 8.2],
    ['✗ deploy (6.9 s, failed)', 8.5],
  ];
  const spans = [{ name: 'status check', from: /Waiting for deployments/, to: /Deployments stabilized in/ }];

  test('steps in the order they started, nested and spanned ones too', () => {
    expect(parseSteps(lines, 'run 1', spans)).toEqual([
      step('tools', 0.5, 0.6),
      step('namespace', 0.6, 1.6),
      step('GitHub report (in progress)', 0.7, 0.9),
      step('deploy', 1.6, 8.5, false),
      step('status check', 5, 8.2),
    ]);
  });

  test('a step that started and never ended fails the benchmark, instead of a made-up figure', () => {
    expect(() => parseSteps(lines.slice(0, -1), 'run 2', spans)).toThrow(
      "run 2: step 'deploy' started but its end line never came",
    );
    expect(() => parseSteps(lines.slice(0, 10), 'run 2', spans)).toThrow("run 2: step 'deploy'");
  });

  test('an end line without its start fails', () => {
    expect(() => parseSteps([['✓ ready (1.0 s)', 3]], 'run 3')).toThrow(
      "run 3: the line '✓ ready (1.0 s)' ends step 'ready', which never started",
    );
  });

  test('an expected step mark that never came fails, naming it', () => {
    const steps = parseSteps(lines, 'run 4', spans);
    expect(() => requireSteps(steps, ['tools', 'deploy'], 'run 4')).not.toThrow();
    expect(() => requireSteps(steps, ['tools', 'ready', 'delete cluster'], 'run 4')).toThrow(
      "run 4: expected steps 'ready', 'delete cluster' not in its output",
    );
    expect(() => requireSteps([], ['status check'], 'run 5')).toThrow(
      "run 5: expected step 'status check' not in its output",
    );
  });

  test('durations: summed over repeats, undefined when it did not run; own time leaves nested steps out', () => {
    const steps = parseSteps(lines, 'run 6', spans);
    expect(duration(steps, 'deploy')).toBeCloseTo(6.9);
    expect(duration([step('x', 0, 1), step('x', 2, 4)], 'x')).toBe(3);
    expect(duration(steps, 'ready')).toBeUndefined();
    expect(ownTime(steps, 'namespace')).toBeCloseTo(0.8);
    expect(ownTime(steps, 'ready')).toBeUndefined();
  });
});

describe('tables: a step that did not run is missing, never 0 s', () => {
  const runs = [
    { total: 10, steps: [step('tools', 0, 1), step('deploy', 1, 9)] },
    { total: 12, steps: [step('tools', 0, 2), step('deploy', 2, 11), step('retry', 11, 12)] },
    { total: 11, steps: [step('tools', 0, 1.5), step('deploy', 1.5, 10)] },
  ];

  test('rows per step seen, median, min, max; partial and absent steps say so', () => {
    const rows = [...stepRows(runs), ['GitHub reporting', () => undefined] as const];
    expect(tableLines('action', runs, rows, 16)).toEqual([
      'action (median of 3, min, max)',
      '  tools               1.5 s    1.0 s    2.0 s',
      '  deploy              8.5 s    8.0 s    9.0 s',
      '  retry               1.0 s    1.0 s    1.0 s   ran in 1 of 3 runs',
      '  total              11.0 s   10.0 s   12.0 s',
      '  GitHub reporting  missing',
    ]);
  });

  test('a row that yields NaN fails instead of printing it', () => {
    expect(() => tableLines('action', runs, [['bad', () => Number.NaN]])).toThrow(
      'bad: NaN is not a measured time',
    );
  });
});

describe('interleave', () => {
  test('A B A B …: run i of every variant before run i + 1', () => {
    expect(interleave(3, ['action', 'bare']).map(({ variant, i }) => `${variant}${i}`)).toEqual([
      'action0',
      'bare0',
      'action1',
      'bare1',
      'action2',
      'bare2',
    ]);
  });
});

describe('ratioLine', () => {
  test('exactly `<label>: <ratio>x bare (median of <n>)`', () => {
    expect(ratioLine('ci-kind', [44, 40, 52, 41, 43], [70, 75, 74, 80, 73])).toBe(
      'ci-kind: 0.58x bare (median of 5)',
    );
    expect(ratioLine('preview teardown', [6, 6, 6, 6, 6], [6, 6, 6, 6, 6])).toBe(
      'preview teardown: 1.00x bare (median of 5)',
    );
  });

  test.each([
    [[1, 2], [1], 'ci-kind: 2 runs of ours against 1 of bare'],
    [[1], [0], 'ci-kind: the bare median is 0 s, no ratio'],
    [[Number.NaN], [1], 'ci-kind (ours): NaN is not a measured time'],
  ])('%j / %j throws', (ours, base, message) => {
    expect(() => ratioLine('ci-kind', ours, base)).toThrow(message);
  });
});

describe('the median run and its gantt chart', () => {
  test('medianRun picks the run with the median total (the lower middle for an even count)', () => {
    const runs = [50, 10, 40, 20, 60, 30].map((total) => ({ total, steps: [] }));
    expect(medianRun(runs).i).toBe(5);
    expect(medianRun(runs.slice(0, 5)).i).toBe(2);
  });

  test('one section per variant, times in milliseconds', () => {
    const action = [3, 2, 1].map((total) => ({
      total,
      steps: [step('images', 0.5, total), step('cluster', 0.25, total - 0.5, total !== 2)],
    }));
    const bare = [{ total: 4, steps: [step('kind create', 0, 4)] }];
    expect(
      ganttOfMedianRuns('ci-kind', [
        ['action', action],
        ['bare', bare],
      ]),
    ).toBe(
      [
        '```mermaid',
        'gantt',
        '    title ci-kind',
        '    dateFormat x',
        '    axisFormat %M:%S',
        '    todayMarker off',
        '    section action, run 2 of 3, 2.0 s',
        '    cluster :crit, 250, 1500',
        '    images :500, 2000',
        '    section bare, run 1 of 1, 4.0 s',
        '    kind create :0, 4000',
        '```',
        '',
      ].join('\n'),
    );
  });
});

describe('arguments: a bad one is refused, naming it, before anything runs', () => {
  test('defaults and accepted forms', () => {
    expect(MIN_RUNS).toBe(5);
    expect(parseArgs([])).toEqual({ runs: 5, gantt: undefined, help: false });
    expect(parseArgs(['--runs', '7', '--gantt', 'g.md'])).toEqual({ runs: 7, gantt: 'g.md', help: false });
    expect(parseArgs(['--runs=9', '--gantt=a=b.md'])).toEqual({ runs: 9, gantt: 'a=b.md', help: false });
    expect(parseArgs(['-h']).help).toBe(true);
  });

  test.each([
    [['--runs', '3'], '--runs 3: at least 5 runs are needed for a median with min and max (default 5)'],
    [['--runs=0'], '--runs 0: at least 5 runs'],
    [['--runs', 'five'], '--runs five: not a whole number; use --runs N with N >= 5'],
    [['--runs', '5.5'], '--runs 5.5: not a whole number'],
    [['--runs'], '--runs needs a value (--runs 5)'],
    [['--gantt', '--runs', '5'], '--gantt needs a value (--gantt steps.md)'],
    [['3'], "unexpected argument '3': the number of runs is --runs 3"],
    [['--fast'], "unknown argument '--fast'"],
  ])('%j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });

  test.each(['ci-kind', 'preview'])(
    'node test/bench/%s.mjs: --help prints the usage, a bad argument exits 2 with it, touching no cluster',
    (bench) => {
      const script = join(repoRoot, 'test', 'bench', `${bench}.mjs`);
      // No tools on PATH and no docker: had either been called, the run would fail differently.
      const env = { PATH: '/nonexistent', HOME: '/nonexistent', JETSCALE_TOOL_CACHE: '/nonexistent' };
      const help = spawnSync(process.execPath, [script, '--help'], { encoding: 'utf8', env });
      expect(help.status).toBe(0);
      expect(help.stdout).toContain(`usage: node test/bench/${bench}.mjs [--runs N] [--gantt FILE]`);
      const bad = spawnSync(process.execPath, [script, '--runs', '2'], { encoding: 'utf8', env });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain(`bench:${bench}: --runs 2: at least 5 runs are needed`);
      expect(bad.stderr).toContain('usage:');
      expect(bad.stdout).toBe('');
    },
  );
});
