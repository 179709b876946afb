/**
 * What a pod requests of a node, as the scheduler counts it (Kubernetes' resource helper PodRequests): the sum of
 * its containers plus its sidecars (init containers with restartPolicy Always), or the largest one-shot init
 * container with the sidecars started before it, whichever is more, plus the pod's overhead. For the load figures
 * of the e2e tests: CPU in millicores, memory in bytes.
 */

/** Resource requests in the units the figures use: millicores and bytes. */
export interface Requests {
  cpuMillis: number;
  memoryBytes: number;
}

interface Container {
  name?: string;
  restartPolicy?: string;
  resources?: { requests?: Record<string, string> };
}

/** The parts of a Pod (as `kubectl get -o json` prints it) the scheduler's sum reads. */
export interface PodForRequests {
  metadata?: { name?: string };
  spec: { containers: Container[]; initContainers?: Container[]; overhead?: Record<string, string> };
}

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity ("250m", "0.5", "64Mi", "1e3", "1.5G") as a number of base units (cores, bytes). */
export function parseQuantity(quantity: string): number {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?)$/.exec(
    quantity,
  );
  if (!m)
    throw new Error(
      `resource quantity is '${quantity}'; accepted: a decimal number with an optional suffix (m, k, M, G, Ki, Mi, Gi, …) or exponent (1e3)`,
    );
  const value = Number(m[1]);
  return m[2] ? value * 10 ** Number(m[2].slice(1)) : value * (SUFFIX[m[3] ?? ''] as number);
}

function of(list: Record<string, string> | undefined): Requests {
  return {
    cpuMillis: list?.cpu ? Math.round(parseQuantity(list.cpu) * 1000) : 0,
    memoryBytes: list?.memory ? Math.round(parseQuantity(list.memory)) : 0,
  };
}

export function addRequests(a: Requests, b: Requests): Requests {
  return { cpuMillis: a.cpuMillis + b.cpuMillis, memoryBytes: a.memoryBytes + b.memoryBytes };
}

function max(a: Requests, b: Requests): Requests {
  return {
    cpuMillis: Math.max(a.cpuMillis, b.cpuMillis),
    memoryBytes: Math.max(a.memoryBytes, b.memoryBytes),
  };
}

export const NO_REQUESTS: Requests = { cpuMillis: 0, memoryBytes: 0 };

/** The pod's requests as the scheduler fits it onto a node. */
export function podRequests(pod: PodForRequests): Requests {
  let total = pod.spec.containers.reduce(
    (sum, c) => addRequests(sum, of(c.resources?.requests)),
    NO_REQUESTS,
  );
  let sidecars = NO_REQUESTS;
  let initPeak = NO_REQUESTS;
  for (const c of pod.spec.initContainers ?? []) {
    const own = of(c.resources?.requests);
    if (c.restartPolicy === 'Always') {
      // a sidecar keeps running next to the containers, and next to every init container after it
      total = addRequests(total, own);
      sidecars = addRequests(sidecars, own);
      initPeak = max(initPeak, sidecars);
    } else initPeak = max(initPeak, addRequests(own, sidecars));
  }
  return addRequests(max(total, initPeak), of(pod.spec.overhead));
}

/** "70m CPU, 224 MiB" */
export function formatRequests(r: Requests): string {
  return `${r.cpuMillis}m CPU, ${Math.round(r.memoryBytes / 2 ** 20)} MiB`;
}
