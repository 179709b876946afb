/** Names shared by the action, its post step and the CLI. */

export const MANAGED_BY = 'jetscale-stack';

/** Labels and annotations that mark what we own in a cluster. */
export enum Ownership {
  ManagedByLabel = 'app.kubernetes.io/managed-by',
  PrLabel = 'jetscale.ai/pr',
  /** The repository's key (`<slug>-<h8>`, src/naming.ts repositoryKey): selects what one repository owns. */
  RepoLabel = 'jetscale.ai/repo',
  /** The repository in full (`owner/name`, lower-case): a label value cannot hold the slash. */
  RepositoryAnnotation = 'jetscale.ai/repository',
  /** JSON: each service's image and where it came from (this PR, a companion PR, the baseline). */
  ImagesAnnotation = 'jetscale.ai/images',
  /** On the baseline ConfigMaps: `true`. */
  BaselineLabel = 'jetscale.ai/baseline',
  ServiceLabel = 'jetscale.ai/service',
  ShaAnnotation = 'jetscale.ai/sha',
  CreatedAtAnnotation = 'jetscale.ai/created-at',
  RunAnnotation = 'jetscale.ai/run',
  /** RFC 3339: when the preview last deployed (every push), what the sweep's TTL counts from. */
  LastDeployAnnotation = 'jetscale.ai/last-deploy',
  /** RFC 3339: when the preview's seeds last completed (src/loops/seed.ts); absent: the next deploy seeds. */
  SeededAnnotation = 'jetscale.ai/seeded-at',
}

export enum Inputs {
  Loop = 'loop',
  PrNumber = 'pr-number',
  GitSha = 'git-sha',
  BaseDomain = 'base-domain',
  NamespacePrefix = 'namespace-prefix',
  Images = 'images',
  KindImages = 'kind-images',
  Values = 'values',
  Set = 'set',
  KindVersion = 'kind-version',
  HelmVersion = 'helm-version',
  SkaffoldVersion = 'skaffold-version',
  KubectlVersion = 'kubectl-version',
  NodeImage = 'node-image',
  Kubeconfig = 'kubeconfig',
  Url = 'url',
  GithubToken = 'github-token',
  BotLogin = 'bot-login',
  Comment = 'comment',
  TestCommand = 'test-command',
  Timeout = 'timeout',
  DryRun = 'dry-run',
  Resolve = 'resolve',
  StackDir = 'stack-dir',
  Repository = 'repository',
  PrimaryRepository = 'primary-repository',
  PreviewWith = 'preview-with',
  BaselineNamespace = 'baseline-namespace',
  RecordBaseline = 'record-baseline',
  Ttl = 'ttl',
  MaxPreviews = 'max-previews',
  OverCap = 'over-cap',
  Reseed = 'reseed',
}

export enum Outputs {
  Namespace = 'namespace',
  Host = 'host',
  Url = 'url',
  Release = 'release',
  Cluster = 'cluster',
  DiagnosticsDir = 'diagnostics-dir',
  Plan = 'plan',
}

/** Keys saved by the main step for the post step. */
export enum State {
  IsPost = 'isPost',
  ClusterName = 'clusterName',
  ClusterCreated = 'clusterCreated',
  ClusterDeleted = 'clusterDeleted',
  KindPath = 'kindPath',
}

/** The action's loops (the `loop` input). */
export const LOOPS = ['ci-kind', 'preview', 'teardown', 'live', 'sweep'] as const;
export type Loop = (typeof LOOPS)[number];
/** The CLI's loops: the action's plus `deploy live`. */
export const CLI_LOOPS = [...LOOPS, 'deploy-live'] as const;
export type AnyLoop = (typeof CLI_LOOPS)[number];
