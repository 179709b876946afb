/**
 * The services declaration as the action and the CLI see it: charts/app values `services` after the chart's
 * values.yaml, the stage's values file, the `values` files and `set`, merged as Helm merges them (maps merge,
 * lists and scalars replace, null deletes). The one place in src/ that knows which services exist; the chart
 * (templates/services) reads the same values and checks the same declaration when it renders.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import type { AnyLoop } from './constants.js';

type Values = Record<string, unknown>;

/** The values file of each loop's stage, on top of the chart's values.yaml (skaffold.yaml's profiles). */
export const STAGE_VALUES: { [L in AnyLoop]: string | undefined } = {
  'ci-kind': undefined,
  preview: 'values.preview.yaml',
  teardown: undefined,
  live: 'values.live.yaml',
  'deploy-live': 'values.live.yaml',
};

export interface DeclaredService {
  name: string;
  /** The container port; undefined for a worker. */
  port?: number;
  servicePort: number;
}

export interface Declaration {
  /** The enabled services by name, in name order. */
  services: DeclaredService[];
}

const isMapping = (v: unknown): v is Values => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Helm's coalescing of one values layer over another: maps merge, anything else replaces, null deletes. */
export function mergeValues(base: Values, over: Values): Values {
  const out: Values = Object.assign(Object.create(null), base);
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else {
      const prev = Object.hasOwn(out, k) ? out[k] : undefined;
      out[k] = isMapping(prev) && isMapping(v) ? mergeValues(prev, v) : v;
    }
  }
  return out;
}

function readValues(file: string): Values {
  const doc = YAML.parse(readFileSync(file, 'utf8')) ?? {};
  if (!isMapping(doc)) throw new Error(`Values file ${file} is not a YAML mapping.`);
  return doc;
}

/** The declaration a loop deploys: the chart's defaults, the stage's file, then what the inputs add. */
export function readDeclaration(stackDir: string, loop: AnyLoop, extra: Values): Declaration {
  const chart = join(stackDir, 'charts', 'app');
  let values = readValues(join(chart, 'values.yaml'));
  const stage = STAGE_VALUES[loop];
  if (stage) values = mergeValues(values, readValues(join(chart, stage)));
  values = mergeValues(values, extra);
  return declarationOf(values);
}

/** The enabled services of merged values. */
export function declarationOf(values: Values): Declaration {
  const declared = isMapping(values.services) ? values.services : {};
  const services: DeclaredService[] = [];
  for (const name of Object.keys(declared).sort()) {
    const s = declared[name];
    if (!isMapping(s) || s.enabled === false) continue;
    services.push({
      name,
      port: typeof s.port === 'number' ? s.port : undefined,
      servicePort: typeof s.servicePort === 'number' ? s.servicePort : 80,
    });
  }
  return { services };
}

/**
 * Refuses `images` lines naming no enabled service of the declaration, before anything runs: the message names
 * the line's service and the services that exist.
 */
export function checkImagesDeclared(images: Array<{ service: string }>, declaration: Declaration): void {
  const names = declaration.services.map((s) => s.name);
  const unknown = images.filter((i) => !names.includes(i.service)).map((i) => i.service);
  if (unknown.length > 0)
    throw new Error(
      `Input 'images' names ${unknown.map((u) => `'${u}'`).join(', ')}, which the services declaration does not have. ` +
        `Expected one of the declared services: ${names.join(', ') || '(none enabled)'} (charts/app values \`services\`, after the stage file and the values and set inputs). Nothing was run.`,
    );
}
