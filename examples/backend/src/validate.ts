/** Request body validation, kept pure so it can be tested on its own. */
export const NAME_MAX = 200;

export interface NewItem {
  name: string;
}

export type Validation<T> = { ok: true; value: T } | { ok: false; error: string };

/** `{"name": string of 1..200 characters, not only whitespace}`; other fields are ignored. */
export function parseNewItem(body: unknown): Validation<NewItem> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, error: `body must be a JSON object like {"name":"milk"}, got ${describe(body)}` };
  }
  const name = (body as Record<string, unknown>).name;
  if (typeof name !== 'string') {
    return { ok: false, error: `name must be a string of 1..${NAME_MAX} characters, got ${describe(name)}` };
  }
  const length = [...name].length;
  if (name.trim() === '' || length > NAME_MAX) {
    return {
      ok: false,
      error: `name must be a string of 1..${NAME_MAX} characters, not only whitespace, got ${length} characters`,
    };
  }
  return { ok: true, value: { name } };
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
