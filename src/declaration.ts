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
import { isRepository } from './validate.js';

type Values = Record<string, unknown>;

/** The values file of each loop's stage, on top of the chart's values.yaml (skaffold.yaml's profiles). */
export const STAGE_VALUES: { [L in AnyLoop]: string | undefined } = {
  'ci-kind': undefined,
  preview: 'values.preview.yaml',
  teardown: undefined,
  live: 'values.live.yaml',
  'deploy-live': 'values.live.yaml',
  sweep: undefined,
};

/** The stages a check can run in (global.environment). */
export const STAGES = ['local', 'ci', 'preview', 'live'] as const;
export type Stage = (typeof STAGES)[number];

/** The stage each loop deploys or checks. */
export const LOOP_STAGE: { [L in AnyLoop]: Stage | undefined } = {
  'ci-kind': 'ci',
  preview: 'preview',
  teardown: undefined,
  live: 'live',
  sweep: undefined,
  'deploy-live': 'live',
};

export interface DeclaredService {
  name: string;
  /** The container port; undefined for a worker. */
  port?: number;
  servicePort: number;
  /** Route name → path, host (undefined: the stage's host) and whether the service gets the path without it. */
  routes: Record<string, { path: string; host?: string; stripPrefix?: boolean }>;
  /** Platform services and services it calls (NetworkPolicies, Tilt's resource order). */
  needs: string[];
  /** The readiness probe's HTTP path, when it has one (Tilt's smoke resource requests it). */
  readinessPath?: string;
  /** The laptop port Tilt forwards to its port (dev.localPort). */
  localPort?: number;
  /** The container's working directory (workingDir; "" = the image's own). */
  workingDir?: string;
  /** The laptop loop's settings (services.<n>.dev); unset fields take src/dev.ts's defaults. */
  dev: DevSettings;
  /** How its image is built (services.<n>.build); undefined when it declares no build context. */
  build?: DeclaredBuild;
  /** The command its migration Job runs before a new version rolls out (migrations), when it declares one. */
  migrations?: { command: string[]; args: string[] };
  /** The command its seed Job runs once when a preview is created, and the stages it runs in (never live). */
  seed?: { command: string[]; args: string[]; stages: Stage[] };
  /** The image digest the values declare (a digest wins over a tag in the chart). */
  imageDigest?: string;
  /** The image repository the values declare, when they declare one. */
  imageRepository?: string;
}

/** services.<n>.dev: how the laptop loop builds and live-updates a service (not rendered by the chart). */
export interface DevSettings {
  localPort?: number;
  /** The checkout to build when there is no sibling: relative to the stack directory, or absolute. */
  source?: string;
  /** The dev container's command and args (the chart's command/args on the laptop). */
  command?: string[];
  args?: string[];
  buildArgs: Record<string, string>;
  /** From (relative to the build context) → to (absolute, in the container). */
  sync?: Array<{ from: string; to: string }>;
  /** A shell command run in the container when one of its triggers (relative to the context) changes. */
  run?: Array<{ command: string; trigger: string[] }>;
  rebuildOn?: string[];
  ignore?: string[];
}

/** services.<n>.build: where the sources are and which Dockerfile stage to build; not rendered by the chart. */
export interface DeclaredBuild {
  /** owner/name (lower-case) of the repository whose checkout holds the sources; undefined: the stack's own. */
  repository?: string;
  /** Relative to that checkout, without `..`. */
  context: string;
  /** Relative to the context. */
  dockerfile: string;
  /** The stage CI, previews and live build; undefined: the last stage. */
  target?: string;
  /** The stage the laptop loop builds; undefined: target. */
  devTarget?: string;
  /** The bundled example the defaults come from. */
  example?: string;
}

export const METHODS = ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type Method = (typeof METHODS)[number];
/** Methods that change nothing: the only ones a check may send in live. */
export const READ_ONLY_METHODS: readonly Method[] = ['GET', 'HEAD', 'OPTIONS'];

export type TextMatch = { equals?: string; contains?: string; matches?: string };
export interface JsonAssertion {
  path: string;
  equals?: unknown;
  includes?: unknown;
  matches?: string;
  type?: 'number' | 'string' | 'boolean' | 'object' | 'array' | 'null';
  nonEmpty?: boolean;
  /** Only asserted when this variable is known (e.g. git.sha). */
  when?: string;
}

/** One check of the declared contract (services.<service>.checks.<name>). */
export interface DeclaredCheck {
  /** "<service>/<name>": how other checks and variables refer to it. */
  id: string;
  service: string;
  name: string;
  stages: Stage[];
  method: Method;
  path: string;
  /**
   * The service whose forward (ci, local) takes the request, the host a route has (preview, live), and the route's
   * path when the controller strips it (the forward then strips it too).
   */
  target: { service: string; host?: string; stripPrefix?: string };
  headers: Record<string, string>;
  json?: unknown;
  body?: string;
  expect: { status: number[]; headers: Record<string, TextMatch>; body?: TextMatch; json: JsonAssertion[] };
  /** Variable name → JSON path of the response, saved for later checks as ${<id>.<name>}. */
  save: Record<string, string>;
  /** Ids of the checks that run first and must pass. */
  uses: string[];
}

export interface Declaration {
  /** The enabled services by name, in name order. */
  services: DeclaredService[];
  /** Every check of every enabled service, each after the checks it uses; none when contract.enabled is false. */
  checks: DeclaredCheck[];
}

/** A declaration that cannot work: names the field, the value and the accepted form. */
export class DeclarationError extends Error {
  constructor(readonly problems: string[]) {
    super(`The services declaration has ${problems.length} problem(s):\n- ${problems.join('\n- ')}`);
    this.name = 'DeclarationError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** A YAML/JSON mapping (not a list, not null): the one test every reader of values uses. */
export const isMapping = (v: unknown): v is Values =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

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

/** The values file of each stage, on top of the chart's values.yaml (skaffold.yaml's profiles). */
const STAGE_FILE: { [S in Stage]: string | undefined } = {
  local: 'values.local.yaml',
  ci: undefined,
  preview: 'values.preview.yaml',
  live: 'values.live.yaml',
};

/**
 * The declaration a loop deploys: the chart's defaults, the stage's file, then what the inputs add. With the
 * release, names made from it are checked too (a migration Job's).
 */
export function readDeclaration(
  stackDir: string,
  loop: AnyLoop,
  extra: Values,
  release?: string,
): Declaration {
  return readStageDeclaration(stackDir, LOOP_STAGE[loop] ?? 'ci', extra, release);
}

/** The declaration of a stage (the CLI's test:<stage> tasks read it too). */
export function readStageDeclaration(
  stackDir: string,
  stage: Stage,
  extra: Values,
  release?: string,
): Declaration {
  const chart = join(stackDir, 'charts', 'app');
  let values = readValues(join(chart, 'values.yaml'));
  const file = STAGE_FILE[stage];
  if (file) values = mergeValues(values, readValues(join(chart, file)));
  return declarationOf(mergeValues(values, extra), release);
}

const JOB_KEYS = ['command', 'args', 'backoffLimit', 'activeDeadlineSeconds'];
const SEED_KEYS = [...JOB_KEYS, 'stages'];
const isStringList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '');

/**
 * The fields a service's Job declares (services.<name>.migrations or .seed), as the chart's schema and `fail`s
 * check them: undefined when none ({} or absent). The Job is named "<release>-<name>-<suffix>-<8 hex>", at most 63
 * characters. `noCommand`: the chart's message for a Job declared without one, when it has its own.
 */
function parseJobFields(
  at: string,
  m: unknown,
  a: { keys: string[]; example: string; jobName?: string; noCommand?: string },
  problems: string[],
): { command: string[]; args: string[] } | undefined {
  const field = at.slice(at.lastIndexOf('.') + 1);
  const bad = (path: string, value: unknown, accepted: string) =>
    problems.push(`${path} is ${JSON.stringify(value) ?? 'missing'}; accepted: ${accepted}`);
  if (m === undefined || m === null || (isMapping(m) && Object.keys(m).length === 0)) return undefined;
  if (!isMapping(m)) {
    bad(
      at,
      m,
      `{${a.keys.map((k) => (k === 'command' || k === 'args' ? `${k}: [..]` : k)).join(', ')}}, or {} for none`,
    );
    return undefined;
  }
  for (const k of Object.keys(m))
    if (!a.keys.includes(k)) bad(`${at}.${k}`, m[k], `${field} has only ${a.keys.join(', ')}`);
  if (m.command === undefined && a.noCommand) problems.push(a.noCommand);
  else if (!isStringList(m.command) || m.command.length === 0)
    bad(`${at}.command`, m.command, `a non-empty list of strings, e.g. ${a.example}`);
  if (m.args !== undefined && !(Array.isArray(m.args) && m.args.every((x) => typeof x === 'string')))
    bad(`${at}.args`, m.args, 'a list of strings, e.g. [migrate, up]');
  const inRange = (v: unknown, min: number, max: number) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
  if (m.backoffLimit !== undefined && !inRange(m.backoffLimit, 0, 100))
    bad(`${at}.backoffLimit`, m.backoffLimit, 'an integer from 0 to 100 (default 3)');
  if (m.activeDeadlineSeconds !== undefined && !inRange(m.activeDeadlineSeconds, 1, 21600))
    bad(
      `${at}.activeDeadlineSeconds`,
      m.activeDeadlineSeconds,
      'seconds from 1 to 21600 (default global.progressDeadlineSeconds)',
    );
  if (a.jobName !== undefined && a.jobName.length > 63)
    problems.push(
      `${at}: the Job name ${a.jobName} is over 63 characters; shorten the service name or the release`,
    );
  return isStringList(m.command) && m.command.length > 0
    ? { command: m.command, args: Array.isArray(m.args) ? m.args.map(String) : [] }
    : undefined;
}

/** services.<name>.migrations: the Job "<release>-<name>-migrate-<8 hex>" run before a new version rolls out. */
function parseMigrations(name: string, m: unknown, release: string | undefined, problems: string[]) {
  const job = parseJobFields(
    `services.${name}.migrations`,
    m,
    {
      keys: JOB_KEYS,
      example: '[/usr/local/bin/api, migrate]',
      jobName: release === undefined ? undefined : `${release}-${name}-migrate-xxxxxxxx`,
    },
    problems,
  );
  return job;
}

/**
 * services.<name>.seed: the Job "<release>-<name>-seed-<8 hex>" a new preview runs once (charts/app, README
 * "services.<name>.seed"), in its stages (default [preview]); never live. The messages are the chart's.
 */
function parseSeed(name: string, m: unknown, release: string | undefined, problems: string[]) {
  const at = `services.${name}.seed`;
  const job = parseJobFields(
    at,
    m,
    {
      keys: SEED_KEYS,
      example: '[npm, run, seed]',
      jobName: release === undefined ? undefined : `${release}-${name}-seed-xxxxxxxx`,
      noCommand: `${at} has no command: give command, a non-empty list such as [npm, run, seed], or set seed: {} for none`,
    },
    problems,
  );
  const raw = isMapping(m) ? m.stages : undefined;
  let stages: Stage[] = ['preview'];
  if (raw !== undefined) {
    if (!Array.isArray(raw) || raw.some((x) => !STAGES.includes(x as Stage)))
      problems.push(
        `${at}.stages is ${JSON.stringify(raw)}; accepted: a list of local, ci, preview (default [preview])`,
      );
    else if (raw.includes('live'))
      problems.push(
        `${at}.stages has "live": a seed writes data, so it never runs in live; accepted: local, ci, preview (default [preview])`,
      );
    else stages = raw as Stage[];
  }
  return job && { command: job.command, args: job.args, stages };
}

/**
 * The enabled services and their checks, of merged values; throws DeclarationError naming every problem. With the
 * release, the names made from it are checked too.
 */
export function declarationOf(values: Values, release?: string): Declaration {
  const declared = isMapping(values.services) ? values.services : {};
  const services: DeclaredService[] = [];
  const raw: Array<[string, Values]> = [];
  const problems: string[] = [];
  const ingress = isMapping(values.ingress) ? values.ingress : {};
  if (ingress.stripPrefix !== undefined && !STRIP_MECHANISMS.includes(ingress.stripPrefix as string))
    problems.push(
      `ingress.stripPrefix is ${JSON.stringify(ingress.stripPrefix)}; accepted: annotation (jetscale.dev/strip-prefix on the Ingress, which the rig's controller reads), traefik (a Traefik Middleware) or "" (traefik when ingress.className is traefik and the cluster serves Traefik Middlewares, else annotation)`,
    );
  for (const name of Object.keys(declared).sort()) {
    const s = declared[name];
    if (!isMapping(s) || s.enabled === false) continue;
    const routes: DeclaredService['routes'] = {};
    for (const [r, v] of Object.entries(isMapping(s.routes) ? s.routes : {}))
      if (isMapping(v) && typeof v.path === 'string') {
        routes[r] = { path: v.path, host: typeof v.host === 'string' && v.host ? v.host : undefined };
        if (v.stripPrefix === undefined || v.stripPrefix === null || v.stripPrefix === false) continue;
        const at = `services.${name}.routes.${r}.stripPrefix`;
        if (v.stripPrefix !== true)
          problems.push(`${at} is ${JSON.stringify(v.stripPrefix)}; accepted: true or false`);
        else if ((v.pathType ?? 'Prefix') === 'Exact')
          problems.push(
            `${at} is true with pathType Exact; accepted: stripPrefix only on a Prefix route (an Exact path leaves nothing to keep)`,
          );
        else if (v.path === '/')
          problems.push(`${at} is true on path "/"; accepted: stripPrefix only on a path below /, e.g. /py`);
        else routes[r].stripPrefix = true;
      }
    const readiness = isMapping(s.probes) && isMapping(s.probes.readiness) ? s.probes.readiness : {};
    const httpGet = readiness.enabled !== false && isMapping(readiness.httpGet) ? readiness.httpGet : {};
    const dev = parseDev(`services.${name}.dev`, s.dev, problems);
    services.push({
      name,
      port: typeof s.port === 'number' ? s.port : undefined,
      servicePort: typeof s.servicePort === 'number' ? s.servicePort : 80,
      routes,
      needs: Array.isArray(s.needs) ? s.needs.map(String) : [],
      readinessPath: typeof httpGet.path === 'string' ? httpGet.path : undefined,
      localPort: dev.localPort,
      workingDir: typeof s.workingDir === 'string' && s.workingDir ? s.workingDir : undefined,
      dev,
      build: parseBuild(name, s.build, problems),
      imageDigest:
        isMapping(s.image) && typeof s.image.digest === 'string' && s.image.digest
          ? s.image.digest
          : undefined,
      imageRepository:
        isMapping(s.image) && typeof s.image.repository === 'string' && s.image.repository
          ? s.image.repository
          : undefined,
      migrations: parseMigrations(name, s.migrations, release, problems),
      seed: parseSeed(name, s.seed, release, problems),
    });
    raw.push([name, isMapping(s.checks) ? s.checks : {}]);
  }
  const className = ingress.className ?? 'traefik';
  if (
    ingress.enabled !== false &&
    !ingress.stripPrefix &&
    !['traefik', 'jetscale-rig'].includes(className as string) &&
    services.some((s) => Object.values(s.routes).some((r) => r.stripPrefix))
  )
    problems.push(
      `ingress.stripPrefix is unset and ingress.className is ${JSON.stringify(className)}, a class whose controller may not read the jetscale.dev/strip-prefix annotation, so a route with stripPrefix would reach its service unstripped; set ingress.stripPrefix: traefik (a Traefik Middleware) or annotation (your controller reads jetscale.dev/strip-prefix), or drop stripPrefix from the routes`,
    );
  for (const s of services)
    if (s.migrations && services.some((o) => o.name === `${s.name}-migrate`))
      problems.push(
        `services.${s.name}-migrate: the name is taken by services.${s.name}.migrations (its Job's pods and NetworkPolicy are named ${s.name}-migrate); accepted: a service name other than ${s.name}-migrate while ${s.name} declares migrations`,
      );
  for (const s of services)
    if (s.seed && services.some((o) => o.name === `${s.name}-seed`))
      problems.push(
        `services.${s.name}-seed: the name is taken by services.${s.name}.seed (its Job's pods and NetworkPolicy are named ${s.name}-seed); accepted: a service name other than ${s.name}-seed while ${s.name} declares a seed`,
      );
  const enabled = !isMapping(values.contract) || values.contract.enabled !== false;
  const checks = enabled ? parseChecks(services, raw, problems) : [];
  if (problems.length > 0) throw new DeclarationError(problems);
  return { services, checks };
}

const DEV_KEYS = [
  'localPort',
  'source',
  'command',
  'args',
  'buildArgs',
  'sync',
  'run',
  'rebuildOn',
  'ignore',
];
const INSIDE_CONTEXT = 'a path inside the build context, relative to it (no leading / and no ..), e.g. src';

/** A relative path that stays inside the directory it is relative to. */
const insideContext = (p: unknown): p is string =>
  typeof p === 'string' && p !== '' && !p.startsWith('/') && !p.split('/').includes('..');

/** services.<n>.dev → DevSettings; every problem names the field, the value and the accepted form. */
function parseDev(at: string, dev: unknown, problems: string[]): DevSettings {
  const bad = (field: string, value: unknown, accepted: string) =>
    problems.push(`${field} is ${JSON.stringify(value) ?? 'missing'}; accepted: ${accepted}`);
  const out: DevSettings = { buildArgs: {} };
  if (dev === undefined || dev === null) return out;
  if (!isMapping(dev)) {
    bad(at, dev, `a mapping with any of ${DEV_KEYS.join(', ')}`);
    return out;
  }
  for (const k of Object.keys(dev))
    if (!DEV_KEYS.includes(k)) bad(`${at}.${k}`, dev[k], `dev has only ${DEV_KEYS.join(', ')}`);
  const strings = (field: string, v: unknown, accepted: string, ok: (x: unknown) => boolean) => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every(ok)) {
      bad(field, v, accepted);
      return undefined;
    }
    return v as string[];
  };
  const text = (x: unknown) => typeof x === 'string';
  if (dev.localPort !== undefined) {
    if (
      Number.isInteger(dev.localPort) &&
      (dev.localPort as number) >= 1 &&
      (dev.localPort as number) <= 65535
    )
      out.localPort = dev.localPort as number;
    else bad(`${at}.localPort`, dev.localPort, 'a TCP port, 1-65535');
  }
  if (dev.source !== undefined) {
    if (typeof dev.source === 'string') out.source = dev.source || undefined;
    else bad(`${at}.source`, dev.source, 'a directory, relative to the stack directory or absolute');
  }
  out.command = strings(`${at}.command`, dev.command, 'a list of strings, e.g. [air]', text);
  out.args = strings(`${at}.args`, dev.args, 'a list of strings, e.g. [--reload]', text);
  if (dev.buildArgs !== undefined) {
    if (isMapping(dev.buildArgs) && Object.values(dev.buildArgs).every(text))
      out.buildArgs = dev.buildArgs as Record<string, string>;
    else
      bad(
        `${at}.buildArgs`,
        dev.buildArgs,
        'a map of build argument name to text, e.g. {GOFLAGS: "-mod=mod"}',
      );
  }
  if (dev.sync !== undefined) {
    if (!Array.isArray(dev.sync))
      bad(`${at}.sync`, dev.sync, 'a list of {from: <path in the context>, to: <absolute path>}');
    else {
      out.sync = [];
      dev.sync.forEach((e, i) => {
        const f = `${at}.sync[${i}]`;
        if (!isMapping(e) || Object.keys(e).some((k) => k !== 'from' && k !== 'to')) {
          bad(
            f,
            e,
            '{from: <path in the context>, to: <absolute path in the container>}, e.g. {from: src, to: /app/src}',
          );
          return;
        }
        if (!insideContext(e.from)) bad(`${f}.from`, e.from, `. or ${INSIDE_CONTEXT}`);
        else if (typeof e.to !== 'string' || !e.to.startsWith('/'))
          bad(`${f}.to`, e.to, 'an absolute path in the container, e.g. /app');
        else out.sync?.push({ from: e.from, to: e.to });
      });
    }
  }
  if (dev.run !== undefined) {
    if (!Array.isArray(dev.run))
      bad(`${at}.run`, dev.run, 'a list of {command: <shell command>, trigger: [<paths>]}');
    else {
      out.run = [];
      dev.run.forEach((e, i) => {
        const f = `${at}.run[${i}]`;
        if (!isMapping(e) || Object.keys(e).some((k) => k !== 'command' && k !== 'trigger')) {
          bad(
            f,
            e,
            '{command: <shell command>, trigger: [<paths in the context>]}, e.g. {command: yarn install, trigger: [yarn.lock]}',
          );
          return;
        }
        if (typeof e.command !== 'string' || e.command.trim() === '') {
          bad(
            `${f}.command`,
            e.command,
            'a shell command run in the container, e.g. go build -o /app/server .',
          );
          return;
        }
        const trigger = strings(
          `${f}.trigger`,
          e.trigger ?? [],
          `a list of ${INSIDE_CONTEXT}`,
          insideContext,
        );
        if (trigger) out.run?.push({ command: e.command, trigger });
      });
    }
  }
  out.rebuildOn = strings(`${at}.rebuildOn`, dev.rebuildOn, `a list of ${INSIDE_CONTEXT}`, insideContext);
  out.ignore = strings(
    `${at}.ignore`,
    dev.ignore,
    'a list of globs relative to the build context, e.g. [target, "*.log"]',
    (x) => typeof x === 'string' && x !== '',
  );
  return out;
}

const BUILD_KEYS = ['repository', 'context', 'dockerfile', 'target', 'devTarget', 'example'];
const RELATIVE_FORM = 'a relative path without .. (e.g. . or services/api)';

/** A relative path that stays inside the directory it is relative to: no leading /, no `..` segment. */
export function isInsidePath(p: string): boolean {
  return p !== '' && !p.startsWith('/') && !p.includes('\\') && !p.split('/').includes('..');
}

/** services.<name>.build → DeclaredBuild; each problem names the field, the value and the accepted form. */
function parseBuild(service: string, b: unknown, problems: string[]): DeclaredBuild | undefined {
  const at = `services.${service}.build`;
  const bad = (field: string, value: unknown, accepted: string) =>
    problems.push(`${at}${field} is ${JSON.stringify(value) ?? 'missing'}; accepted: ${accepted}`);
  if (b === undefined || b === null) return undefined;
  if (!isMapping(b)) {
    bad('', b, `a mapping with ${BUILD_KEYS.join(', ')}`);
    return undefined;
  }
  for (const k of Object.keys(b))
    if (!BUILD_KEYS.includes(k)) bad(`.${k}`, b[k], `build has only ${BUILD_KEYS.join(', ')}`);
  const text = (k: string) => (typeof b[k] === 'string' ? (b[k] as string) : undefined);
  for (const k of BUILD_KEYS)
    if (b[k] !== undefined && b[k] !== null && typeof b[k] !== 'string') bad(`.${k}`, b[k], 'text');
  const repository = text('repository');
  if (repository && !isRepository(repository))
    bad(
      '.repository',
      repository,
      'a GitHub repository as owner/name (e.g. acme/go-api), or empty for this stack',
    );
  const context = text('context');
  if (context !== undefined && !isInsidePath(context)) bad('.context', context, RELATIVE_FORM);
  const dockerfile = text('dockerfile') || 'Dockerfile';
  if (!isInsidePath(dockerfile))
    bad(
      '.dockerfile',
      dockerfile,
      'a path relative to the context without .. (e.g. Dockerfile or build/api.Dockerfile)',
    );
  // Without a context there is nothing to build: the service runs the image it declares.
  if (!context) return undefined;
  return {
    repository: repository ? repository.toLowerCase() : undefined,
    context,
    dockerfile,
    target: text('target') || undefined,
    devTarget: text('devTarget') || undefined,
    example: text('example') || undefined,
  };
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

/** ingress.stripPrefix: how the strip Ingress asks its controller (templates/ingress/ingress.yaml). */
const STRIP_MECHANISMS = ['', 'annotation', 'traefik'];

const CHECK_KEYS = ['stages', 'uses', 'request', 'expect', 'save'];
const REQUEST_KEYS = ['method', 'path', 'via', 'headers', 'json', 'body'];
const EXPECT_KEYS = ['status', 'headers', 'body', 'json'];
const JSON_KEYS = ['path', 'equals', 'includes', 'matches', 'type', 'nonEmpty', 'when'];
const TEXT_KEYS = ['equals', 'contains', 'matches'];
const TYPES = ['number', 'string', 'boolean', 'object', 'array', 'null'];

/**
 * services.<service>.checks.<name> → DeclaredCheck, each after the checks it uses. Every problem is added to
 * problems, named by its field: the value and the accepted form.
 */
function parseChecks(
  services: DeclaredService[],
  raw: Array<[string, Values]>,
  problems: string[],
): DeclaredCheck[] {
  const bad = (field: string, value: unknown, accepted: string) =>
    problems.push(`${field} is ${JSON.stringify(value) ?? 'missing'}; accepted: ${accepted}`);
  const byName = new Map(services.map((s) => [s.name, s]));
  const ids = raw.flatMap(([svc, checks]) => Object.keys(checks).map((c) => `${svc}/${c}`));
  const parsed: DeclaredCheck[] = [];

  for (const [service, checks] of raw) {
    for (const [name, c] of Object.entries(checks)) {
      const at = `services.${service}.checks.${name}`;
      if (!isMapping(c)) {
        bad(at, c, 'a mapping with request and expect');
        continue;
      }
      for (const k of Object.keys(c))
        if (!CHECK_KEYS.includes(k)) bad(`${at}.${k}`, c[k], `a check has only ${CHECK_KEYS.join(', ')}`);
      const req = isMapping(c.request) ? c.request : {};
      const exp = isMapping(c.expect) ? c.expect : {};
      if (!isMapping(c.request))
        bad(`${at}.request`, c.request, 'a mapping with path (and method, via, headers, json or body)');
      if (!isMapping(c.expect))
        bad(`${at}.expect`, c.expect, 'a mapping with status (and headers, body, json)');
      for (const k of Object.keys(req))
        if (!REQUEST_KEYS.includes(k))
          bad(`${at}.request.${k}`, req[k], `a request has only ${REQUEST_KEYS.join(', ')}`);
      for (const k of Object.keys(exp))
        if (!EXPECT_KEYS.includes(k))
          bad(`${at}.expect.${k}`, exp[k], `expect has only ${EXPECT_KEYS.join(', ')}`);

      const method = String(req.method ?? 'GET').toUpperCase() as Method;
      if (!METHODS.includes(method)) bad(`${at}.request.method`, req.method, METHODS.join(', '));
      const path = req.path;
      if (typeof path !== 'string' || !path.startsWith('/'))
        bad(`${at}.request.path`, path, 'an absolute path starting with /, e.g. /v1/health');

      // via: a route (of this service, or "<service>/<route>") or a service; default: this service
      let target: DeclaredCheck['target'] = { service };
      const via = req.via;
      if (via !== undefined) {
        if (isMapping(via) && typeof via.route === 'string' && Object.keys(via).length === 1) {
          const [owner, route] = via.route.includes('/') ? via.route.split('/', 2) : [service, via.route];
          const r = byName.get(owner as string)?.routes[route as string];
          if (!r)
            bad(
              `${at}.request.via.route`,
              via.route,
              `a route of an enabled service: one of [${allRoutes(services).join(', ')}]`,
            );
          else if (!byName.get(owner as string)?.port)
            bad(`${at}.request.via.route`, via.route, `a route of a service with a port (${owner} has none)`);
          else
            target = {
              service: owner as string,
              host: r.host,
              stripPrefix: r.stripPrefix ? r.path : undefined,
            };
        } else if (isMapping(via) && typeof via.service === 'string' && Object.keys(via).length === 1) {
          if (!byName.get(via.service)?.port)
            bad(
              `${at}.request.via.service`,
              via.service,
              `an enabled service with a port: one of [${services
                .filter((s) => s.port)
                .map((s) => s.name)
                .join(', ')}]`,
            );
          else target = { service: via.service };
        } else bad(`${at}.request.via`, via, '{route: <name>} or {service: <name>}');
      }
      if (!byName.get(target.service)?.port && via === undefined)
        bad(`${at}.request.via`, via, `a route or a service with a port (${service} has none)`);

      const headers: Record<string, string> = {};
      if (req.headers !== undefined) {
        if (!isMapping(req.headers))
          bad(`${at}.request.headers`, req.headers, 'a map of header name to text');
        else for (const [h, v] of Object.entries(req.headers)) headers[h] = String(v);
      }
      if (req.body !== undefined && typeof req.body !== 'string') bad(`${at}.request.body`, req.body, 'text');
      if (req.json !== undefined && req.body !== undefined)
        bad(`${at}.request`, 'json and body', 'one of json or body');
      if (['GET', 'HEAD', 'OPTIONS'].includes(method) && (req.json !== undefined || req.body !== undefined))
        bad(
          `${at}.request.${req.json !== undefined ? 'json' : 'body'}`,
          req.json ?? req.body,
          `nothing: a ${method} request sends no body`,
        );
      if (method === 'HEAD' && (exp.body !== undefined || exp.json !== undefined))
        bad(
          `${at}.expect.${exp.body !== undefined ? 'body' : 'json'}`,
          exp.body ?? exp.json,
          'nothing: a HEAD response has no body (expect status and headers)',
        );

      const statusRaw = exp.status;
      const status = (Array.isArray(statusRaw) ? statusRaw : [statusRaw]).filter(
        (n): n is number => Number.isInteger(n) && (n as number) >= 100 && (n as number) <= 599,
      );
      if (
        statusRaw === undefined ||
        status.length === 0 ||
        status.length !== (Array.isArray(statusRaw) ? statusRaw.length : 1)
      )
        bad(
          `${at}.expect.status`,
          statusRaw,
          'an HTTP status (100-599) or a list of them, e.g. 200 or [200, 204]',
        );
      const expectHeaders: Record<string, TextMatch> = {};
      if (exp.headers !== undefined) {
        if (!isMapping(exp.headers))
          bad(`${at}.expect.headers`, exp.headers, 'a map of header name to {equals|contains|matches}');
        else
          for (const [h, m] of Object.entries(exp.headers)) {
            const t = textMatch(`${at}.expect.headers.${h}`, m, bad);
            if (t) expectHeaders[h.toLowerCase()] = t;
          }
      }
      const body = exp.body === undefined ? undefined : textMatch(`${at}.expect.body`, exp.body, bad);
      const json: JsonAssertion[] = [];
      if (exp.json !== undefined) {
        if (!Array.isArray(exp.json))
          bad(`${at}.expect.json`, exp.json, 'a list of {path, equals|includes|matches|type|nonEmpty}');
        else
          exp.json.forEach((a, i) => {
            const f = `${at}.expect.json[${i}]`;
            if (!isMapping(a) || typeof a.path !== 'string' || a.path === '') {
              bad(f, a, '{path: <dot.path[0]>, equals|includes|matches|type|nonEmpty: …}');
              return;
            }
            for (const k of Object.keys(a))
              if (!JSON_KEYS.includes(k))
                bad(`${f}.${k}`, a[k], `an assertion has only ${JSON_KEYS.join(', ')}`);
            const tests = ['equals', 'includes', 'matches', 'type', 'nonEmpty'].filter(
              (k) => a[k] !== undefined,
            );
            if (tests.length !== 1) bad(f, a, 'exactly one of equals, includes, matches, type, nonEmpty');
            if (a.nonEmpty !== undefined && a.nonEmpty !== true) bad(`${f}.nonEmpty`, a.nonEmpty, 'true');
            if (a.type !== undefined && !TYPES.includes(String(a.type)))
              bad(`${f}.type`, a.type, TYPES.join(', '));
            if (a.matches !== undefined && !validRegex(a.matches))
              bad(`${f}.matches`, a.matches, 'a regular expression');
            json.push(a as unknown as JsonAssertion);
          });
      }
      const save: Record<string, string> = {};
      if (c.save !== undefined) {
        if (!isMapping(c.save))
          bad(`${at}.save`, c.save, 'a map of variable name to JSON path, e.g. {id: id}');
        else for (const [k, v] of Object.entries(c.save)) save[k] = String(v);
      }
      const uses: string[] = [];
      for (const u of Array.isArray(c.uses) ? c.uses : c.uses === undefined ? [] : [c.uses]) {
        const id = String(u).includes('/') ? String(u) : `${service}/${u}`;
        if (!ids.includes(id))
          bad(
            `${at}.uses`,
            u,
            `a check of an enabled service: <check> of ${service} or <service>/<check>, one of [${ids.join(', ')}]`,
          );
        else uses.push(id);
      }
      let stages: Stage[] = [...STAGES];
      if (c.stages !== undefined) {
        const list = Array.isArray(c.stages) ? c.stages : [c.stages];
        if (list.length === 0 || list.some((x) => !STAGES.includes(x as Stage)))
          bad(`${at}.stages`, c.stages, `a list of ${STAGES.join(', ')}`);
        else stages = list as Stage[];
      }
      if (stages.includes('live') && !READ_ONLY_METHODS.includes(method))
        problems.push(
          `${at} sends ${method} and would run in live, which only reads; add stages: [local, ci, preview] to it`,
        );
      parsed.push({
        id: `${service}/${name}`,
        service,
        name,
        stages,
        method,
        path: typeof path === 'string' ? path : '/',
        target,
        headers,
        json: req.json,
        body: typeof req.body === 'string' ? req.body : undefined,
        expect: { status, headers: expectHeaders, body, json },
        save,
        uses,
      });
    }
  }
  for (const c of parsed)
    for (const u of c.uses) {
      const used = parsed.find((p) => p.id === u);
      if (used && c.stages.some((s) => !used.stages.includes(s)))
        problems.push(
          `services.${c.service}.checks.${c.name}.uses ${u}, which does not run in every stage it runs in (${c.stages.join(', ')}); give both the same stages`,
        );
    }
  for (const c of parsed) checkVariables(c, parsed, problems);
  return orderByUses(parsed, problems);
}

const RUN_VARIABLES = ['run.id', 'git.sha', 'release'];

/**
 * Every ${name} a check sends or expects, and every `when`, must name a run variable or a value saved by a check it
 * uses (directly or through those): anything else would go out as written, or switch an assertion off unseen.
 */
function checkVariables(c: DeclaredCheck, all: DeclaredCheck[], problems: string[]): void {
  const known = new Set(RUN_VARIABLES);
  const seen = new Set<string>();
  const reach = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    const used = all.find((x) => x.id === id);
    if (!used) return;
    for (const k of Object.keys(used.save)) known.add(`${used.id}.${k}`);
    for (const u of used.uses) reach(u);
  };
  for (const u of c.uses) reach(u);
  const at = `services.${c.service}.checks.${c.name}`;
  const accepted = () =>
    `one of ${[...known].map((k) => `\${${k}}`).join(', ')} (a saved value needs its check in uses)`;
  const places: Array<[string, unknown]> = [
    ['request.path', c.path],
    ['request.headers', c.headers],
    ['request.json', c.json],
    ['request.body', c.body],
    ['expect', c.expect],
  ];
  for (const [where, value] of places)
    for (const m of JSON.stringify(value ?? null).matchAll(/\$\{([^}]*)\}/g))
      if (!known.has(m[1] as string))
        problems.push(`${at}.${where} uses \${${m[1]}}; accepted: ${accepted()}`);
  for (const a of c.expect.json)
    if (a.when !== undefined && !known.has(a.when))
      problems.push(
        `${at}.expect.json when is ${JSON.stringify(a.when)}; accepted: ${[...known].join(', ')}`,
      );
}

function allRoutes(services: DeclaredService[]): string[] {
  return services.flatMap((s) => Object.keys(s.routes).map((r) => `${s.name}/${r}`));
}

function textMatch(
  field: string,
  m: unknown,
  bad: (f: string, v: unknown, a: string) => void,
): TextMatch | undefined {
  if (!isMapping(m) || Object.keys(m).length !== 1 || !TEXT_KEYS.includes(Object.keys(m)[0] as string)) {
    bad(field, m, 'one of {equals: text}, {contains: text}, {matches: regular expression}');
    return undefined;
  }
  if (m.matches !== undefined && !validRegex(m.matches)) {
    bad(`${field}.matches`, m.matches, 'a regular expression');
    return undefined;
  }
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)])) as TextMatch;
}

function validRegex(v: unknown): boolean {
  try {
    new RegExp(String(v));
    return typeof v === 'string';
  } catch {
    return false;
  }
}

/** Declaration order, except that a check comes after every check it uses; a cycle is a problem. */
function orderByUses(checks: DeclaredCheck[], problems: string[]): DeclaredCheck[] {
  const out: DeclaredCheck[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (c: DeclaredCheck, chain: string[]) => {
    if (state.get(c.id) === 'done') return;
    if (state.get(c.id) === 'visiting') {
      problems.push(
        `services.${c.service}.checks.${c.name}.uses makes a cycle: ${[...chain, c.id].join(' → ')}`,
      );
      return;
    }
    state.set(c.id, 'visiting');
    for (const u of c.uses) {
      const used = checks.find((x) => x.id === u);
      if (used) visit(used, [...chain, c.id]);
    }
    state.set(c.id, 'done');
    out.push(c);
  };
  for (const c of checks) visit(c, []);
  return out;
}
