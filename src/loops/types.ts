/**
 * What every loop shares: its context (typed inputs, derived names, dependencies, the step recorder), its
 * dependencies (real, or printing ones for a dry run: src/deps.ts), and its result, returned on failure too.
 */

import type { AnyLoop, State } from '../constants.js';
import type { RunContext } from '../context.js';
import type { CheckResult, ContractMode, ContractTarget } from '../contract.js';
import type { Declaration, DeclaredCheck, Stage } from '../declaration.js';
import type { Command, Executor } from '../executor.js';
import type { ToolName } from '../tools.js';
import type { InputsOf, ToolVersions } from '../validate.js';
import type { BuildPlan } from './build.js';
import type { SweepPlan } from './sweep.js';

/** What a loop asks the contract runner (src/contract.ts) for: the declared checks of its stage, against a target. */
export interface ContractRequest {
  checks: readonly DeclaredCheck[];
  stage: Stage;
  target: ContractTarget;
  mode: ContractMode;
  deadlineMs: number;
  /** See ContractOptions.settledAfter (src/contract.ts). */
  settledAfter?: number;
  expectedSha?: string;
  release?: string;
  resolve?: Record<string, string>;
}

export interface ReporterLike {
  reportDeploy(args: {
    url: string;
    namespace: string;
    host: string;
    status: 'success' | 'failure' | 'in_progress';
    details?: string;
    /** On failure: what failed first (shown in the comment itself, redacted). */
    reason?: string;
    /** Every service's image and where it came from. */
    images?: Array<{ service: string; ref: string; from: string }>;
    /** With a ttl: when the sweep will remove the preview unless it is deployed again (RFC 3339), and the ttl. */
    expires?: { at: string; ttl: string };
  }): Promise<unknown>;
  /** `reason`: why the preview was removed, when not by its PR's own teardown ("PR closed", "idle for 3 days"). */
  reportTeardown(reason?: string): Promise<unknown>;
  isPullRequestOpen(): Promise<boolean | undefined>;
}

export type PullRequestState = 'open' | 'closed' | 'merged';

/** What the sweep asks of GitHub about previews of any repository sharing the cluster. */
export interface SweepGitHub {
  /** undefined when it cannot be told (no token, an API error): never by itself a reason to remove. */
  pullRequestState(repository: string, prNumber: number): Promise<PullRequestState | undefined>;
  /** The reporter of one preview the sweep removes (its comment, its deployments); undefined: none is written. */
  reporter(target: { repository: string; prNumber: number; sha: string }): ReporterLike | undefined;
}

export interface PortForward {
  url: string;
  stop(): Promise<void>;
}

/** Everything a loop does to the world goes through here; a dry run swaps in printing versions. */
export interface LoopDeps {
  exec: Executor;
  log: (line: string) => void;
  /** Installs the named tools (at the versions in inputs.tools), puts them on PATH, returns each one's directory. */
  installTools: (tools: ToolName[]) => Promise<Partial<Record<ToolName, string>>>;
  contract: (request: ContractRequest) => Promise<CheckResult[]>;
  /** Starts `kubectl port-forward` and resolves with the local URL once it listens. */
  portForward: (command: Command) => Promise<PortForward>;
  /** Writes a file only we can read, created exclusively (never through an existing file or symlink). */
  writeFile: (path: string, content: string, what: string) => void;
  saveState: (key: State, value: string) => void;
  reporter?: ReporterLike;
  /** sweep: PR states and each removed preview's reporter. */
  github?: SweepGitHub;
  /** The clock (the time a deploy records, the sweep's idle times); the system's when unset. */
  now?: () => Date;
  /** Waits between two polls (a Job's status); setTimeout when unset. */
  sleep?: (ms: number) => Promise<void>;
  /** Collects diagnostics into dir; returns a short summary and the first failure it found. */
  diagnostics?: (args: {
    namespace?: string;
    kindCluster?: string;
    env: Record<string, string>;
    dir: string;
  }) => Promise<{ summary: string; firstFailure?: string }>;
}

/** One step of a loop, as the job summary and the CLI show it. */
export interface StepRecord {
  name: string;
  ok: boolean;
  /** When it started, in milliseconds from the start of the loop: steps run in parallel overlap. */
  startMs: number;
  ms: number;
}

/** Every name any loop derives; each loop's type below says which it always has. */
interface BaseNames {
  prNumber?: number;
  sha?: string;
  namespace?: string;
  host?: string;
  url?: string;
  release?: string;
  environment?: string;
  imageTag?: string;
  cluster?: string;
  kubeContext?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The environment of every command the loop runs (KUBECONFIG, JETSCALE_*). */
  env: Record<string, string>;
  tools: ToolVersions;
}

type Has<K extends keyof BaseNames> = Required<Pick<BaseNames, K>>;
type PreviewNamesOf<L extends 'preview' | 'teardown'> = BaseNames & { loop: L } & Has<
    'prNumber' | 'namespace' | 'host' | 'url' | 'release' | 'environment' | 'labels' | 'annotations'
  >;

interface NamesByLoop {
  'ci-kind': BaseNames & { loop: 'ci-kind' } & Has<
      'cluster' | 'kubeContext' | 'namespace' | 'release' | 'labels'
    >;
  preview: PreviewNamesOf<'preview'>;
  teardown: PreviewNamesOf<'teardown'>;
  live: BaseNames & { loop: 'live' } & Has<'url' | 'release'>;
  'deploy-live': BaseNames & { loop: 'deploy-live' } & Has<
      'url' | 'host' | 'namespace' | 'release' | 'kubeContext'
    >;
  sweep: BaseNames & { loop: 'sweep' };
}
export type NamesOf<L extends AnyLoop> = NamesByLoop[L];
export type PlanNames = NamesOf<AnyLoop>;

export interface LoopResult {
  loop: AnyLoop;
  names: PlanNames;
  steps: StepRecord[];
  checks: CheckResult[];
  diagnosticsDir?: string;
  diagnostics?: string;
  /** What the diagnostics found failed first (a pod not Ready, a warning event). */
  firstFailure?: string;
  /** Set when the PR was found closed after the deploy and the preview was removed again. */
  tornDownAfterClose?: boolean;
  /** sweep: what it removed (or, in a dry run, would remove) and what it kept, each with why. */
  sweep?: SweepPlan;
  /** Why the loop failed; unset when it succeeded. */
  error?: Error;
}

export interface LoopContext<L extends AnyLoop = AnyLoop> {
  inputs: InputsOf<L>;
  run: RunContext;
  names: NamesOf<L>;
  deps: LoopDeps;
  result: LoopResult;
  /** The services this loop deploys (charts/app values after the stage file and the inputs); none for teardown. */
  declaration: Declaration;
  /** What this loop builds, from which checkout (src/loops/build.ts); nothing for live and teardown. */
  build: BuildPlan;
  /** Runs one named step, timing it into result.steps. */
  step<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

export type LoopBody<L extends AnyLoop> = (ctx: LoopContext<L>) => Promise<void>;

export { ContractFailure } from '../contract.js';

/** A namespace we would touch is not ours: nothing was changed. */
export class OwnershipRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OwnershipRefused';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}
