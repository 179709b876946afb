// charts/app/README.md documents every key the chart's values schemas accept, with its default (issue 11, step 5).
// The README's "Values reference" has one table per block; a heading's first code span is the block's path
// (`services.<name>`, `services.<name>.probes.<probe>`, none for the top level) and the first cell of each row
// lists, as code spans, paths under it. A `<…>` segment stands for any one key of a map, `[]` for a list's items.
// A schema path is documented when a row names it or something under it (`image.tag` documents `image`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { repoRoot } from '../support/tools.js';

type Schema = Record<string, unknown>;
type Segments = string[];

const chart = join(repoRoot, 'charts', 'app');
const readJson = (file: string): Schema => JSON.parse(readFileSync(file, 'utf8'));
const readme = (): string => readFileSync(join(chart, 'README.md'), 'utf8');

/** Keys this branch documents ahead of the schema: they arrive with the strip, migrations, build and laptop work.
 * A documented path outside the schema is an error unless listed here; drop entries once they are in the schema. */
const PENDING = [
  'ingress.stripPrefix',
  'services.<name>.routes.<name>.stripPrefix',
  'services.<name>.build',
  'services.<name>.dev',
];

/** Every property path of a schema: properties, $ref into definitions, maps (`<name>`), list items (`[]`), and
 * the branches of allOf/anyOf/oneOf/if-then-else. */
function schemaPaths(schema: Schema, prefix: Segments = []): Segments[] {
  const definitions = (schema.definitions ?? {}) as Record<string, Schema>;
  const found = new Map<string, Segments>();
  const walk = (node: unknown, at: Segments, refs: string[]): void => {
    if (node === null || typeof node !== 'object') return;
    const n = node as Schema;
    if (typeof n.$ref === 'string') {
      const name = n.$ref.replace('#/definitions/', '');
      if (!refs.includes(name)) walk(definitions[name], at, [...refs, name]);
    }
    for (const [key, child] of Object.entries((n.properties ?? {}) as Record<string, unknown>)) {
      const path = [...at, key];
      found.set(path.join('.'), path);
      walk(child, path, refs);
    }
    if (n.additionalProperties && typeof n.additionalProperties === 'object')
      walk(n.additionalProperties, [...at, '<name>'], refs);
    if (n.items && typeof n.items === 'object') walk(n.items, [...at, '[]'], refs);
    for (const k of ['allOf', 'anyOf', 'oneOf'])
      for (const branch of (n[k] ?? []) as unknown[]) walk(branch, at, refs);
    for (const k of ['if', 'then', 'else']) walk(n[k], at, refs);
  };
  walk(schema, prefix, []);
  return [...found.values()];
}

/** `a.b[].c` → [a, b, [], c]. */
function segments(path: string): Segments {
  return path
    .split('.')
    .filter((s) => s !== '')
    .flatMap((s) => (s.endsWith('[]') ? [s.slice(0, -2), '[]'] : [s]));
}

const codeSpans = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');

interface Row {
  path: Segments;
  default: string;
  line: number;
}

/** The documented paths: every row of every table in the "Values reference" section, under its heading's path. */
function documentedRows(markdown: string): Row[] {
  const rows: Row[] = [];
  let inReference = false;
  let block: Segments = [];
  markdown.split('\n').forEach((line, i) => {
    const [heading, hashes = '', title = ''] = /^(#+)\s+(.*)$/.exec(line) ?? [];
    if (heading) {
      if (hashes.length <= 2) inReference = title.trim() === 'Values reference';
      else block = segments(codeSpans(title)[0] ?? '');
      return;
    }
    if (!inReference || !line.startsWith('|') || /^\|[\s|:-]+\|$/.test(line)) return;
    const cells = line.split(/(?<!\\)\|/).slice(1, -1);
    if (cells[0]?.trim() === 'field') return;
    for (const span of codeSpans(cells[0] ?? ''))
      rows.push({ path: [...block, ...segments(span)], default: (cells[1] ?? '').trim(), line: i + 1 });
  });
  return rows;
}

const isWildcard = (s: string) => /^<[^>]+>$/.test(s);
/** A documented segment matches a schema one: equal, or a `<…>` for a map key (never for list items). */
const segmentMatches = (doc: string, schema: string) =>
  isWildcard(doc) ? schema !== '[]' : doc === schema && !isWildcard(schema);
const startsWith = (path: Segments, head: Segments) =>
  path.length >= head.length && head.every((s, i) => segmentMatches(path[i] ?? '', s));

const show = (p: Segments) => p.join('.').replaceAll('.[]', '[]');

/** Schema paths no row documents (neither the path nor anything under it). */
function undocumented(paths: Segments[], rows: Row[]): string[] {
  return paths.filter((p) => !rows.some((r) => startsWith(r.path, p))).map(show);
}

/** Rows naming a path the schema does not have, outside PENDING. */
function unknown(paths: Segments[], rows: Row[], pending: string[]): string[] {
  return rows
    .filter((r) => !paths.some((p) => startsWith(r.path, p) && r.path.length === p.length))
    .filter((r) => !pending.some((q) => isPending(r, q)))
    .map((r) => `line ${r.line}: ${show(r.path)}`);
}

/** The row's path is the pending key or under it (`<…>` matching any `<…>`). */
function isPending(row: Row, pending: string): boolean {
  const head = segments(pending);
  return (
    row.path.length >= head.length &&
    head.every((s, i) => (isWildcard(s) ? isWildcard(row.path[i] ?? '') : s === row.path[i]))
  );
}

function allPaths(): Segments[] {
  const umbrella = schemaPaths(readJson(join(chart, 'values.schema.json')));
  // The subcharts' keys are set under postgres: and redis:; their `global` is the umbrella's.
  const sub = ['postgres', 'redis'].flatMap((c) =>
    schemaPaths(readJson(join(chart, 'charts', c, 'values.schema.json')), [c]).filter(
      (p) => p[1] !== 'global',
    ),
  );
  return [...umbrella, ...sub];
}

describe('charts/app/README.md "Values reference"', () => {
  test('documents every key of the chart schemas (the umbrella and the postgres and redis subcharts)', () => {
    expect(undocumented(allPaths(), documentedRows(readme()))).toEqual([]);
  });

  test('gives every documented key a default', () => {
    const noDefault = documentedRows(readme())
      .filter((r) => r.default === '')
      .map((r) => `line ${r.line}: ${show(r.path)}`);
    expect(noDefault).toEqual([]);
  });

  test('documents no key the schemas do not have', () => {
    expect(unknown(allPaths(), documentedRows(readme()), PENDING)).toEqual([]);
  });

  test('a key removed from the README is reported by its path', () => {
    const text = readme();
    const servicePortRow = /^\| `servicePort` \|.*\n/m;
    expect(text).toMatch(servicePortRow);
    const without = text.replace(servicePortRow, '');
    expect(undocumented(allPaths(), documentedRows(without))).toEqual(['services.<name>.servicePort']);
    // A leaf of a nested table, and one of a subchart.
    const noScheme = text.replace(/^\| `httpGet\.scheme` \|.*\n/m, '');
    expect(undocumented(allPaths(), documentedRows(noScheme))).toEqual([
      'services.<name>.probes.startup.httpGet.scheme',
      'services.<name>.probes.liveness.httpGet.scheme',
      'services.<name>.probes.readiness.httpGet.scheme',
    ]);
    const noShm = text.replace(/^\| `sharedMemorySizeLimit` \|.*\n/m, '');
    expect(undocumented(allPaths(), documentedRows(noShm))).toEqual(['postgres.sharedMemorySizeLimit']);
  });

  test('walks $ref, maps, list items and schema branches', () => {
    const schema = {
      definitions: { leaf: { type: 'object', properties: { x: {} } } },
      properties: {
        a: { $ref: '#/definitions/leaf' },
        m: { additionalProperties: { properties: { y: {} } } },
        l: { items: { oneOf: [{ properties: { z: {} } }, { properties: { w: {} } }] } },
      },
    };
    expect(schemaPaths(schema).map(show).sort()).toEqual([
      'a',
      'a.x',
      'l',
      'l[].w',
      'l[].z',
      'm',
      'm.<name>.y',
    ]);
    const rows = documentedRows(
      '## Values reference\n### `m.<key>`\n| field | default | what |\n|---|---|---|\n| `y` | none | |\n',
    );
    expect(undocumented(schemaPaths(schema), rows).sort()).toEqual(['a', 'a.x', 'l', 'l[].w', 'l[].z']);
  });
});
