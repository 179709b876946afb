import { describe, expect, test } from 'vitest';
import { ganttChart, ganttName } from '../../src/gantt.mjs';

describe('ganttChart', () => {
  test('two sections, parallel steps overlapping, a failed step, a step that did not run', () => {
    expect(
      ganttChart(
        [
          { name: 'cluster', startMs: 12, endMs: 40_012.4, ok: true, section: 'ours' },
          { name: 'images', startMs: 800, endMs: 21_000, ok: true, section: 'ours' },
          { name: 'contract checks', startMs: 41_000, endMs: 44_000, ok: false, section: 'ours' },
          { name: 'kind create', startMs: 0, endMs: 35_000, section: 'bare' },
          { name: 'delete cluster', section: 'ours' },
        ],
        { title: 'ci-kind' },
      ),
    ).toBe(
      [
        '```mermaid',
        'gantt',
        '    title ci-kind',
        '    dateFormat x',
        '    axisFormat %M:%S',
        '    todayMarker off',
        '    section ours',
        '    cluster :12, 40012',
        '    images :800, 21000',
        '    contract checks :crit, 41000, 44000',
        '    section bare',
        '    kind create :0, 35000',
        '```',
        '',
        'Not run: delete cluster.',
        '',
      ].join('\n'),
    );
  });

  test('a step without a start or an end is never drawn, not even as 0 s', () => {
    const out = ganttChart([
      { name: 'ran', startMs: 0, endMs: 0 },
      { name: 'no end', startMs: 5 },
      { name: 'no start', endMs: 5 },
    ]);
    expect(out).toContain('    ran :0, 0\n');
    expect(out).not.toMatch(/no (end|start) :/);
    expect(out).toContain('Not run: no end, no start.');
  });

  test('nothing ran: no chart, only the list; no steps: nothing', () => {
    expect(ganttChart([{ name: 'deploy' }])).toBe('Not run: deploy.\n');
    expect(ganttChart([])).toBe('');
  });

  test.each([
    [{ name: 'x', startMs: Number.NaN, endMs: 1 }, 'step "x" start: NaN is not a time'],
    [{ name: 'x', startMs: 0, endMs: -1 }, 'step "x" end: -1 is not a time'],
    [{ name: 'x', startMs: 9, endMs: 3 }, 'step "x": ends (3 ms) before it starts (9 ms)'],
  ])('refuses %o', (step, message) => {
    expect(() => ganttChart([step])).toThrow(message);
  });
});

describe('ganttName: what Mermaid would misread is replaced', () => {
  test.each([
    ['deploy', 'deploy'],
    ['GitHub report: in_progress', 'GitHub report in_progress'],
    ['check #2; retry', 'check 2 retry'],
    ['50%% done', '50 done'],
    ['<b>bold</b> & "q"', 'b bold /b q'],
    ['line\nbreak', 'line break'],
    ['section 2', '_section 2'],
    ['Title case', '_Title case'],
    ['titles', 'titles'],
    ['::', 'unnamed'],
    ['kind load (backend) 1.2/3-x_y,z+', 'kind load (backend) 1.2/3-x_y,z+'],
    ['préparer les images', 'préparer les images'],
  ])('%j → %j', (name, drawn) => {
    expect(ganttName(name)).toBe(drawn);
  });

  test('a hostile name stays on its own bar', () => {
    const out = ganttChart([{ name: 'a :crit, 0, 1\n    section x', startMs: 0, endMs: 1 }]);
    expect(
      out
        .split('\n')
        .filter((l) => l.startsWith('    '))
        .slice(3),
    ).toEqual(['    section steps', '    a crit, 0, 1 section x :0, 1']);
  });
});
