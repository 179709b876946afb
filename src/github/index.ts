/** GitHub reporting: the sticky pull-request comment and the preview's GitHub Deployments. */
export { API_VERSION, describeError } from './client.js';
export type { Identity } from './identity.js';
export {
  COMMENT_MARKER,
  type CommentMeta,
  type DeployReport,
  type DeployStatus,
  isNewer,
  parseMeta,
  safeUrl,
} from './render.js';
export { type ReportContext, Reporter, type ReporterOptions, type ReportResult } from './reporter.js';
export { type SweepGitHubOptions, sweepGitHub } from './sweep.js';
