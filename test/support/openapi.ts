/**
 * GitHub's own description of its REST API and its webhooks (the npm packages @octokit/openapi and
 * @octokit/openapi-webhooks), as validators for tests: a request the action sends, a response the GitHub
 * double returns, an event payload a test hands the action. Each check answers a list of problems (empty
 * when valid), worded so a failing test says what is wrong and where.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

/** The API version GitHub asks clients to send (X-GitHub-Api-Version), and the one the double serves. */
export const API_VERSION = '2022-11-28';

const require = createRequire(import.meta.url);
const REST_ID = 'github-rest';
const WEBHOOKS_ID = 'github-webhooks';
const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'] as const;

// ajv-formats is CommonJS with a default export; under NodeNext its default import is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

type Json = Record<string, unknown>;

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Json;
}

interface Operation {
  method: string;
  template: string;
  operationId: string;
  /** The JSON pointer of the operation object in the description. */
  pointer: string;
  pattern: RegExp;
  names: string[];
  /** Literal segments: more literal wins when two templates match one path. */
  literal: number;
}

/** One request as the double saw it. */
export interface RequestToCheck {
  method: string;
  /** The request path, in GitHub's /repos/{owner}/{repo} form (see toRepoPath). */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body; undefined when there was none. */
  body: unknown;
}

/** One response as the double is about to send it. */
export interface ResponseToCheck {
  method: string;
  path: string;
  status: number;
  body: unknown;
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function formatErrors(errors: ErrorObject[] | null | undefined): string {
  const list = (errors ?? []).slice(0, 6).map((e) => {
    const extra =
      e.keyword === 'additionalProperties'
        ? ` (${String((e.params as { additionalProperty?: unknown }).additionalProperty)})`
        : e.keyword === 'enum'
          ? ` (${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)})`
          : '';
    return `${e.instancePath || '(root)'} ${e.message ?? e.keyword}${extra}`;
  });
  const more = (errors?.length ?? 0) > list.length ? `; and ${(errors?.length ?? 0) - list.length} more` : '';
  return list.join('; ') + more;
}

function newAjv(): Ajv {
  // strict: false: the descriptions carry OpenAPI keywords (example, x-github, discriminator) that are not
  // JSON Schema; nullable (OpenAPI 3.0) is understood by Ajv itself.
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false, validateSchema: false });
  addFormats(ajv);
  const uri = ajv.formats.uri;
  const isUri = (value: string) =>
    typeof uri === 'function' ? uri(value) : uri instanceof RegExp ? uri.test(value) : true;
  ajv.addFormat('uri-or-empty', (value: string) => value === '' || isUri(value));
  return ajv;
}

/** GitHub's REST description (api.github.com), loaded once per test worker. */
export class RestDescription {
  private readonly ajv = newAjv();
  private readonly spec: Json;
  private readonly operations: Operation[] = [];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor() {
    const file = require.resolve('@octokit/openapi/generated/api.github.com.json');
    this.spec = JSON.parse(readFileSync(file, 'utf8')) as Json;
    allowDocumentedEmptyUris(this.spec);
    this.ajv.addSchema(this.spec, REST_ID);
    const paths = this.spec.paths as Record<string, Record<string, Json>>;
    for (const [template, item] of Object.entries(paths)) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const names: string[] = [];
        const source = template
          .split('/')
          .map((seg) => {
            const m = /^\{([^}]+)\}$/.exec(seg);
            if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
            names.push(m[1] as string);
            return '([^/]+)';
          })
          .join('/');
        this.operations.push({
          method: method.toUpperCase(),
          template,
          operationId: String(op.operationId),
          pointer: `/paths/${escapePointer(template)}/${method}`,
          pattern: new RegExp(`^${source}$`),
          names,
          literal: template.split('/').filter((s) => s && !s.startsWith('{')).length,
        });
      }
    }
    this.operations.sort((a, b) => b.literal - a.literal);
  }

  /** The operation GitHub describes for `method path`, with the path's parameters. */
  operation(method: string, path: string): { op: Operation; params: Record<string, string> } | undefined {
    for (const op of this.operations) {
      if (op.method !== method.toUpperCase()) continue;
      const m = op.pattern.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      op.names.forEach((name, i) => {
        params[name] = decodeURIComponent(m[i + 1] as string);
      });
      return { op, params };
    }
    return undefined;
  }

  /** Problems with a request: unknown operation, parameters, body, missing X-GitHub-Api-Version. */
  checkRequest(req: RequestToCheck): string[] {
    const problems: string[] = [];
    const version = req.headers['x-github-api-version'];
    if (version === undefined)
      problems.push(`no X-GitHub-Api-Version header (GitHub asks for ${API_VERSION})`);
    else if (version !== API_VERSION)
      problems.push(`X-GitHub-Api-Version ${JSON.stringify(version)}, not ${API_VERSION}`);
    const found = this.operation(req.method, req.path);
    if (!found) return [...problems, 'no such operation in GitHub’s REST description'];
    const { op, params } = found;
    const opObject = this.at(op.pointer);
    const parameters = ((opObject.parameters as Json[] | undefined) ?? []).map((p, i) => ({
      param: this.deref(p) as unknown as Parameter,
      pointer: this.refPointer(p) ?? `${op.pointer}/parameters/${i}`,
    }));
    for (const { param, pointer } of parameters) {
      if (param.in !== 'path' && param.in !== 'query') continue;
      const raw = param.in === 'path' ? params[param.name] : req.query[param.name];
      if (raw === undefined) {
        if (param.required) problems.push(`${param.in} parameter ${param.name} missing`);
        continue;
      }
      const value = coerce(raw, param.schema ?? {});
      const validate = this.validator(`${pointer}/schema`);
      if (!validate(value))
        problems.push(`${param.in} parameter ${param.name}=${raw}: ${formatErrors(validate.errors)}`);
    }
    for (const name of Object.keys(req.query)) {
      if (!parameters.some(({ param }) => param.in === 'query' && param.name === name))
        problems.push(`query parameter ${name} is not one GitHub describes`);
    }
    const requestBody = opObject.requestBody as Json | undefined;
    if (requestBody) {
      const bodyPointer = this.refPointer(requestBody) ?? `${op.pointer}/requestBody`;
      const resolved = this.deref(requestBody);
      const content = resolved.content as Record<string, unknown> | undefined;
      if (req.body === undefined) {
        if (resolved.required) problems.push('request body missing');
      } else if (content?.['application/json']) {
        const validate = this.validator(`${bodyPointer}/content/application~1json/schema`);
        if (!validate(req.body)) problems.push(`request body: ${formatErrors(validate.errors)}`);
      }
    } else if (req.body !== undefined && !['GET', 'HEAD'].includes(req.method)) {
      problems.push('a request body where GitHub describes none');
    }
    return problems.map((p) => `${op.operationId}: ${p}`);
  }

  /**
   * Problems with a response: a status GitHub does not describe for the operation, or a body that does not
   * match the schema of that status. Errors GitHub sends on any operation (401, 5xx, an unknown path) are
   * held to its basic-error schema.
   */
  checkResponse(res: ResponseToCheck): string[] {
    const found = this.operation(res.method, res.path);
    if (!found) {
      if (res.status === 404) return this.checkBasicError(res, 'unknown path');
      return [`${res.method} ${res.path}: ${res.status} for an operation GitHub does not describe`];
    }
    const { op } = found;
    const responses = this.at(`${op.pointer}/responses`);
    const declared = responses[String(res.status)] as Json | undefined;
    if (!declared) {
      if (res.status >= 400) return this.checkBasicError(res, op.operationId);
      return [`${op.operationId}: status ${res.status} is not one GitHub describes for it`];
    }
    const pointer = this.refPointer(declared) ?? `${op.pointer}/responses/${res.status}`;
    const content = this.deref(declared).content as Record<string, unknown> | undefined;
    if (!content?.['application/json']) {
      // Described without a body (409 of create-deployment, say): GitHub still sends its error shape.
      return res.status >= 400 ? this.checkBasicError(res, op.operationId) : [];
    }
    const validate = this.validator(`${pointer}/content/application~1json/schema`);
    if (validate(res.body)) return [];
    return [`${op.operationId} ${res.status} response: ${formatErrors(validate.errors)}`];
  }

  /** Problems with `value` as an instance of components/schemas/`name` (e.g. 'pull-request'). */
  checkSchema(name: string, value: unknown): string[] {
    const validate = this.validator(`/components/schemas/${escapePointer(name)}`);
    return validate(value) ? [] : [`${name}: ${formatErrors(validate.errors)}`];
  }

  private checkBasicError(res: ResponseToCheck, what: string): string[] {
    const validate = this.validator('/components/schemas/basic-error');
    if (validate(res.body)) return [];
    return [`${what} ${res.status} response (basic-error): ${formatErrors(validate.errors)}`];
  }

  private validator(pointer: string): ValidateFunction {
    let v = this.compiled.get(pointer);
    if (!v) {
      const fragment = pointer
        .split('/')
        .map((s) => encodeURIComponent(s))
        .join('/');
      v = this.ajv.compile({ $ref: `${REST_ID}#${fragment}` });
      this.compiled.set(pointer, v);
    }
    return v;
  }

  private at(pointer: string): Json {
    let node: unknown = this.spec;
    for (const seg of pointer.split('/').slice(1)) {
      node = (node as Json)[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
    }
    return node as Json;
  }

  private refPointer(node: Json): string | undefined {
    const ref = node.$ref;
    if (typeof ref !== 'string') return undefined;
    const inner = this.refPointer(this.at(ref.slice(1)));
    return inner ?? ref.slice(1);
  }

  private deref(node: Json): Json {
    const pointer = this.refPointer(node);
    return pointer ? this.at(pointer) : node;
  }
}

/** GitHub's webhook description: event payloads by webhook name ('pull-request-opened', say). */
export class WebhookDescription {
  private readonly ajv = newAjv();
  private readonly spec: Json;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor() {
    const file = require.resolve('@octokit/openapi-webhooks/generated/api.github.com.json');
    this.spec = JSON.parse(readFileSync(file, 'utf8')) as Json;
    this.ajv.addSchema(this.spec, WEBHOOKS_ID);
  }

  /** Problems with `payload` as the body of webhook `name` (e.g. 'pull-request-synchronize'). */
  check(name: string, payload: unknown): string[] {
    const webhooks = this.spec.webhooks as Record<string, Json>;
    const post = webhooks[name]?.post as Json | undefined;
    if (!post) return [`${name}: no such webhook in GitHub’s description`];
    let v = this.compiled.get(name);
    if (!v) {
      const schema = ((post.requestBody as Json).content as Record<string, { schema: { $ref?: string } }>)[
        'application/json'
      ]?.schema;
      const ref = schema?.$ref;
      if (!ref) return [`${name}: the description gives no payload schema`];
      const fragment = ref
        .slice(1)
        .split('/')
        .map((s) => encodeURIComponent(s))
        .join('/');
      v = this.ajv.compile({ $ref: `${WEBHOOKS_ID}#${fragment}` });
      this.compiled.set(name, v);
    }
    return v(payload) ? [] : [`webhook ${name}: ${formatErrors(v.errors)}`];
  }
}

/**
 * A URL field whose description gives `default: ""` (a deployment status's target_url, log_url,
 * environment_url) is "" when nothing was given: GitHub sends it so, and its own description says so. Such
 * fields accept "" besides a URI; every other URL field must be a URI.
 */
function allowDocumentedEmptyUris(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) allowDocumentedEmptyUris(item);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const o = node as Json;
  if (o.format === 'uri' && o.default === '') o.format = 'uri-or-empty';
  for (const value of Object.values(o)) allowDocumentedEmptyUris(value);
}

function coerce(raw: string, schema: Json): unknown {
  const type = schema.type;
  if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (type === 'boolean' && (raw === 'true' || raw === 'false')) return raw === 'true';
  return raw;
}

let rest: RestDescription | undefined;
let webhooks: WebhookDescription | undefined;

/** The REST description, parsed once per test worker (about a second: it is 13 MB of JSON). */
export function restDescription(): RestDescription {
  rest ??= new RestDescription();
  return rest;
}

export function webhookDescription(): WebhookDescription {
  webhooks ??= new WebhookDescription();
  return webhooks;
}
