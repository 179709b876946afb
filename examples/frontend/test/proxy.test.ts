import { describe, expect, it } from 'vitest';
import { isApiPath, originForm } from '../src/server/app.js';
import { forwardableHeaders, targetUrl } from '../src/server/proxy.js';
import { filePath } from '../src/server/static.js';

describe('routing helpers', () => {
  it.each([
    ['/api', true],
    ['/api/', true],
    ['/api/items', true],
    ['/apiary', false],
    ['/', false],
    ['/API/items', false],
  ])('isApiPath(%s) is %s', (path, expected) => {
    expect(isApiPath(path)).toBe(expected);
  });

  it.each([
    ['http://app-backend:80', '/api/items?x=1', 'http://app-backend/api/items?x=1'],
    ['http://app-backend:8080/', '/api/items', 'http://app-backend:8080/api/items'],
    ['http://gateway/backend/', '/api/version', 'http://gateway/backend/api/version'],
    ['https://gateway/backend', '/api', 'https://gateway/backend/api'],
  ])('targetUrl(%s, %s) is %s', (backend, url, expected) => {
    expect(targetUrl(new URL(backend), url).href).toBe(expected);
  });

  it.each([
    ['/api/items?x=1', '/api/items?x=1'],
    ['http://frontend/api/items?x=1', '/api/items?x=1'],
    [undefined, '/'],
  ])('originForm(%s) is %s', (url, expected) => {
    expect(originForm(url)).toBe(expected);
  });

  it.each([
    ['/', '/index.html'],
    ['/style.css', '/style.css'],
    ['/sub/', '/sub/index.html'],
    ['/%2e%2e/package.json', undefined],
    ['/../package.json', undefined],
    ['/a/./b', undefined],
    ['/%E0%A4%A', undefined],
    ['/a%00b', undefined],
    ['/a%5cb', undefined],
  ])('filePath(%s) is %s', (path, expected) => {
    expect(filePath(path)).toBe(expected);
  });

  it('drops hop-by-hop headers and those named by Connection', () => {
    expect(
      forwardableHeaders({
        connection: 'keep-alive, x-private',
        'keep-alive': 'timeout=5',
        'x-private': 'secret',
        'transfer-encoding': 'chunked',
        upgrade: 'websocket',
        'content-type': 'application/json',
        cookie: 'a=b',
      }),
    ).toEqual({ 'content-type': 'application/json', cookie: 'a=b' });
  });
});
