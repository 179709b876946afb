import { describe, expect, it } from 'vitest';
import { NAME_MAX, parseNewItem } from '../../src/validate.js';

describe('parseNewItem', () => {
  it.each([
    ['a', { name: 'a' }],
    ['x'.repeat(NAME_MAX), { name: 'x'.repeat(NAME_MAX) }],
    ['🥛'.repeat(NAME_MAX), { name: '🥛'.repeat(NAME_MAX) }],
    [' milk ', { name: ' milk ' }],
  ])('accepts name %j', (name, expected) => {
    expect(parseNewItem({ name, extra: true })).toEqual({ ok: true, value: expected });
  });

  it.each([
    [null, /JSON object.*got null/],
    [[{ name: 'a' }], /JSON object.*got an array/],
    ['milk', /JSON object.*got string/],
    [{}, /name must be a string of 1\.\.200 characters, got nothing/],
    [{ name: 7 }, /name must be a string.*got number/],
    [{ name: null }, /got null/],
    [{ name: '' }, /not only whitespace, got 0 characters/],
    [{ name: ' \t\n' }, /not only whitespace/],
    [{ name: 'x'.repeat(NAME_MAX + 1) }, /got 201 characters/],
  ])('rejects %j', (body, message) => {
    const result = parseNewItem(body);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(message);
  });
});
