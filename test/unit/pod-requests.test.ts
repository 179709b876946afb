import { describe, expect, test } from 'vitest';
import { formatRequests, type PodForRequests, parseQuantity, podRequests } from '../support/pod-requests.js';

describe('parseQuantity', () => {
  test.each([
    ['250m', 0.25],
    ['1', 1],
    ['0.5', 0.5],
    ['.5', 0.5],
    ['2.', 2],
    ['64Mi', 64 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['128974848', 128974848],
    ['129e6', 129e6],
    ['1E3', 1000],
    ['123M', 123e6],
    ['1k', 1000],
    ['100Ki', 102400],
    ['500u', 0.0005],
  ])('%s is %d', (q, n) => {
    expect(parseQuantity(q)).toBeCloseTo(n, 9);
  });

  test.each(['', 'Mi', '64MB', '1.2.3', '1 Gi', '64mi', 'e3'])('%j is refused, naming the value', (q) => {
    expect(() => parseQuantity(q)).toThrow(`resource quantity is '${q}'`);
  });
});

const c = (cpu: string, memory: string, restartPolicy?: string) => ({
  resources: { requests: { cpu, memory } },
  ...(restartPolicy ? { restartPolicy } : {}),
});

describe('podRequests counts as the scheduler does', () => {
  test.each<[string, PodForRequests, string]>([
    ['containers add up', { spec: { containers: [c('25m', '64Mi'), c('10m', '32Mi')] } }, '35m CPU, 96 MiB'],
    [
      'a container without requests counts nothing',
      { spec: { containers: [{}, c('5m', '1Mi')] } },
      '5m CPU, 1 MiB',
    ],
    [
      'a one-shot init container counts only when larger than the containers (each resource on its own)',
      { spec: { containers: [c('25m', '64Mi')], initContainers: [c('100m', '16Mi'), c('10m', '8Mi')] } },
      '100m CPU, 64 MiB',
    ],
    [
      'a sidecar adds to the containers and to every one-shot init container after it',
      {
        spec: {
          containers: [c('25m', '64Mi')],
          initContainers: [c('10m', '10Mi', 'Always'), c('200m', '8Mi')],
        },
      },
      '210m CPU, 74 MiB',
    ],
    [
      'a one-shot init container before a sidecar is not counted with it',
      {
        spec: {
          containers: [c('25m', '64Mi')],
          initContainers: [c('30m', '8Mi'), c('10m', '10Mi', 'Always')],
        },
      },
      '35m CPU, 74 MiB',
    ],
    [
      'the pod overhead is added',
      { spec: { containers: [c('25m', '64Mi')], overhead: { cpu: '250m', memory: '120Mi' } } },
      '275m CPU, 184 MiB',
    ],
  ])('%s', (_name, pod, expected) => {
    expect(formatRequests(podRequests(pod))).toBe(expected);
  });
});
