/** Names shared by the action, its post step and the CLI. */

export const MANAGED_BY = 'jetscale-stack';

/** Labels and annotations that mark what we own in a cluster. */
export enum Ownership {
  ManagedByLabel = 'app.kubernetes.io/managed-by',
  PrLabel = 'jetscale.ai/pr',
  ShaAnnotation = 'jetscale.ai/sha',
  CreatedAtAnnotation = 'jetscale.ai/created-at',
  RunAnnotation = 'jetscale.ai/run',
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
  Comment = 'comment',
  TestCommand = 'test-command',
  Timeout = 'timeout',
  DryRun = 'dry-run',
  Resolve = 'resolve',
  StackDir = 'stack-dir',
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

export const LOOPS = ['ci-kind', 'preview', 'teardown', 'live'] as const;
export type Loop = (typeof LOOPS)[number];
