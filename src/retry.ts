/**
 * The one retry policy for kubectl and helm: which failures are the API server (or the way to it) failing rather
 * than the request, and how long to wait before the next try. Pure: the executor (src/executor.ts) applies it, and
 * only to commands whose builder marked them safe to run again (Command.retrySafe: reads, and writes whose repeat
 * changes nothing). A create, or a write made on a resourceVersion, is never run again blind: its first try may
 * have landed.
 */

/** Tries in all (the first and its retries), and the backoff between them: 1, 2, 4, 8 s, about 15 s in all. */
export const KUBE_RETRY = { attempts: 5, firstDelayMs: 1000, maxDelayMs: 8000 } as const;

/**
 * What kubectl, helm and client-go print when the request never got a real answer. Each names the fault as the
 * log shows it. Not here: NotFound, Forbidden, Conflict, AlreadyExists, invalid objects, and timeouts of a wait
 * (`timed out waiting`, `context deadline exceeded`): those are answers, and a second try gets the same one.
 */
const TRANSIENT: ReadonlyArray<readonly [RegExp, string]> = [
  [/connect: connection refused|connection to the server \S+ was refused/i, 'connection refused'],
  [/connection reset by peer/i, 'connection reset'],
  [/TLS handshake timeout/i, 'TLS handshake timeout'],
  [/etcdserver: (leader changed|request timed out|no leader)/i, 'etcd leader change'],
  [
    /the server has received too many requests|\(TooManyRequests\)|429 Too Many Requests/i,
    '429 too many requests',
  ],
  [/the server is currently unable to handle the request|\(ServiceUnavailable\)/i, '503 service unavailable'],
  [/http2: client connection lost|use of closed network connection|broken pipe/i, 'connection lost'],
  [/dial tcp [^\n]*: i\/o timeout/i, 'connection timed out'],
  [/\bunexpected EOF\b|(?:^|: )EOF\s*$/im, 'EOF'],
];

/** The transient fault stderr reports (as a short name), or undefined when the failure is an answer. */
export function transientFault(stderr: string): string | undefined {
  for (const [pattern, name] of TRANSIENT) if (pattern.test(stderr)) return name;
  return undefined;
}

/** The wait before retry number `retry` (1 for the first retry): doubling from firstDelayMs, capped. */
export function retryDelayMs(retry: number, policy: typeof KUBE_RETRY = KUBE_RETRY): number {
  return Math.min(policy.firstDelayMs * 2 ** Math.max(0, retry - 1), policy.maxDelayMs);
}

/**
 * Whether a failed try of a command is tried again: only when its builder marked it safe to repeat, its stderr
 * names a transient fault, and tries are left. `attempt` counts from 1.
 */
export function nextRetry(
  command: { retrySafe?: boolean },
  result: { exitCode: number; stderr: string },
  attempt: number,
  policy: typeof KUBE_RETRY = KUBE_RETRY,
): { fault: string; delayMs: number } | undefined {
  if (result.exitCode === 0 || !command.retrySafe || attempt >= policy.attempts) return undefined;
  const fault = transientFault(result.stderr);
  return fault ? { fault, delayMs: retryDelayMs(attempt, policy) } : undefined;
}
