/**
 * Complete GitHub objects, as GitHub's REST API and webhooks send them: users, repositories, pull requests,
 * and the pull_request event payloads (opened, synchronize, reopened, closed) the tests hand the action.
 * Every object carries all the fields GitHub's description requires (test/support/openapi.ts checks them),
 * so code that reads a field GitHub always sends works on these too.
 */

/** Where links in the objects point: the API base and the web base. */
export interface GitHubHosts {
  api: string;
  web: string;
}

export const PUBLIC_HOSTS: GitHubHosts = { api: 'https://api.github.com', web: 'https://github.com' };

/** The account GITHUB_TOKEN acts as: its comments and deployments are by this Bot. */
export const ACTIONS_BOT = { login: 'github-actions[bot]', id: 41898282 } as const;

const AT = '2024-05-01T12:00:00Z';

/** A stable user id for a login (github-actions[bot] gets its real one). */
export function userId(login: string): number {
  if (login === ACTIONS_BOT.login) return ACTIONS_BOT.id;
  let h = 0;
  for (const c of login) h = (h * 31 + c.charCodeAt(0)) % 90_000_000;
  return 10_000_000 + h;
}

function nodeId(prefix: string, id: number): string {
  return `${prefix}_${Buffer.from(String(id)).toString('base64url')}`;
}

/** A simple-user: 18 fields (a Bot when the login ends in [bot]; `type` overrides, e.g. 'Organization'). */
export function simpleUser(login: string, hosts: GitHubHosts = PUBLIC_HOSTS, type?: string) {
  const id = userId(login);
  const api = `${hosts.api}/users/${encodeURIComponent(login)}`;
  return {
    login,
    id,
    node_id: nodeId(login.endsWith('[bot]') ? 'BOT' : 'U', id),
    avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
    gravatar_id: '',
    url: api,
    html_url: login.endsWith('[bot]')
      ? `${hosts.web}/apps/${login.replace(/\[bot\]$/, '')}`
      : `${hosts.web}/${login}`,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type: type ?? (login.endsWith('[bot]') ? 'Bot' : 'User'),
    user_view_type: 'public',
    site_admin: false,
  };
}

/** What GET /user answers for a token of a user (a personal access token). */
export function privateUser(login: string, hosts: GitHubHosts = PUBLIC_HOSTS) {
  return {
    ...simpleUser(login, hosts),
    user_view_type: 'private',
    name: login,
    company: null,
    blog: '',
    location: null,
    email: null,
    notification_email: null,
    hireable: null,
    bio: null,
    twitter_username: null,
    public_repos: 1,
    public_gists: 0,
    followers: 0,
    following: 0,
    created_at: AT,
    updated_at: AT,
    private_gists: 0,
    total_private_repos: 0,
    owned_private_repos: 0,
    disk_usage: 0,
    collaborators: 0,
    two_factor_authentication: true,
    plan: { collaborators: 0, name: 'free', space: 976562499, private_repos: 10000 },
  };
}

export interface RepositoryRef {
  owner: string;
  name: string;
  id: number;
}

/** A stable repository id for owner/name. */
export function repositoryId(fullName: string): number {
  let h = 7;
  for (const c of fullName) h = (h * 131 + c.charCodeAt(0)) % 900_000_000;
  return 100_000_000 + h;
}

/** A full repository object (what GitHub puts in a pull request's head and base, and in webhooks). */
export function repository(ref: RepositoryRef, hosts: GitHubHosts = PUBLIC_HOSTS) {
  const full = `${ref.owner}/${ref.name}`;
  const api = `${hosts.api}/repos/${full}`;
  const web = `${hosts.web}/${full}`;
  const host = new URL(hosts.web).host;
  return {
    id: ref.id,
    node_id: nodeId('R', ref.id),
    name: ref.name,
    full_name: full,
    private: false,
    owner: simpleUser(ref.owner, hosts, ref.owner === 'jetscale' ? 'Organization' : undefined),
    html_url: web,
    description: null,
    fork: false,
    url: api,
    archive_url: `${api}/{archive_format}{/ref}`,
    assignees_url: `${api}/assignees{/user}`,
    blobs_url: `${api}/git/blobs{/sha}`,
    branches_url: `${api}/branches{/branch}`,
    collaborators_url: `${api}/collaborators{/collaborator}`,
    comments_url: `${api}/comments{/number}`,
    commits_url: `${api}/commits{/sha}`,
    compare_url: `${api}/compare/{base}...{head}`,
    contents_url: `${api}/contents/{+path}`,
    contributors_url: `${api}/contributors`,
    deployments_url: `${api}/deployments`,
    downloads_url: `${api}/downloads`,
    events_url: `${api}/events`,
    forks_url: `${api}/forks`,
    git_commits_url: `${api}/git/commits{/sha}`,
    git_refs_url: `${api}/git/refs{/sha}`,
    git_tags_url: `${api}/git/tags{/sha}`,
    git_url: `git://${host}/${full}.git`,
    issue_comment_url: `${api}/issues/comments{/number}`,
    issue_events_url: `${api}/issues/events{/number}`,
    issues_url: `${api}/issues{/number}`,
    keys_url: `${api}/keys{/key_id}`,
    labels_url: `${api}/labels{/name}`,
    languages_url: `${api}/languages`,
    merges_url: `${api}/merges`,
    milestones_url: `${api}/milestones{/number}`,
    notifications_url: `${api}/notifications{?since,all,participating}`,
    pulls_url: `${api}/pulls{/number}`,
    releases_url: `${api}/releases{/id}`,
    ssh_url: `git@${host}:${full}.git`,
    stargazers_url: `${api}/stargazers`,
    statuses_url: `${api}/statuses/{sha}`,
    subscribers_url: `${api}/subscribers`,
    subscription_url: `${api}/subscription`,
    tags_url: `${api}/tags`,
    teams_url: `${api}/teams`,
    trees_url: `${api}/git/trees{/sha}`,
    clone_url: `${web}.git`,
    mirror_url: null,
    hooks_url: `${api}/hooks`,
    svn_url: web,
    homepage: null,
    language: 'TypeScript',
    forks: 0,
    forks_count: 0,
    stargazers_count: 0,
    watchers_count: 0,
    watchers: 0,
    size: 128,
    default_branch: 'main',
    open_issues: 1,
    open_issues_count: 1,
    is_template: false,
    topics: [],
    has_issues: true,
    has_projects: true,
    has_wiki: false,
    has_pages: false,
    has_downloads: true,
    has_discussions: false,
    archived: false,
    disabled: false,
    visibility: 'public',
    license: null,
    allow_forking: true,
    web_commit_signoff_required: false,
    pushed_at: AT,
    created_at: AT,
    updated_at: AT,
  };
}

export interface PullRequestFacts {
  /** The base repository (where the pull request lives). */
  base: RepositoryRef;
  /** The head repository: the base itself, or a fork. */
  head?: RepositoryRef;
  number: number;
  state: 'open' | 'closed';
  headSha: string;
  headRef?: string;
  baseRef?: string;
  baseSha?: string;
  title?: string;
  author?: string;
  /** When it was closed (closed pull requests only). */
  closedAt?: string;
  /** Closed by a merge (closed pull requests only). */
  merged?: boolean;
}

/** A full pull-request object (GET /repos/{owner}/{repo}/pulls/{n}, and the webhook's pull_request). */
export function pullRequest(facts: PullRequestFacts, hosts: GitHubHosts = PUBLIC_HOSTS) {
  const base = repository(facts.base, hosts);
  const headRepo = facts.head ? repository(facts.head, hosts) : base;
  const n = facts.number;
  const id = 500_000_000 + n;
  const api = `${base.url}/pulls/${n}`;
  const issue = `${base.url}/issues/${n}`;
  const html = `${base.html_url}/pull/${n}`;
  const author = simpleUser(facts.author ?? facts.head?.owner ?? 'octocat', hosts);
  const headRef = facts.headRef ?? 'feature';
  const baseRef = facts.baseRef ?? 'main';
  const closed = facts.state === 'closed';
  const merged = closed && facts.merged === true;
  const link = (href: string) => ({ href });
  return {
    url: api,
    id,
    node_id: nodeId('PR', id),
    html_url: html,
    diff_url: `${html}.diff`,
    patch_url: `${html}.patch`,
    issue_url: issue,
    commits_url: `${api}/commits`,
    review_comments_url: `${api}/comments`,
    review_comment_url: `${base.url}/pulls/comments{/number}`,
    comments_url: `${issue}/comments`,
    statuses_url: `${base.url}/statuses/${facts.headSha}`,
    number: n,
    state: facts.state,
    locked: false,
    title: facts.title ?? 'a change',
    user: author,
    body: null,
    labels: [],
    milestone: null,
    active_lock_reason: null,
    created_at: AT,
    updated_at: facts.closedAt ?? AT,
    closed_at: closed ? (facts.closedAt ?? AT) : null,
    merged_at: merged ? (facts.closedAt ?? AT) : null,
    merge_commit_sha: merged ? 'c'.repeat(40) : null,
    assignee: null,
    assignees: [],
    requested_reviewers: [],
    requested_teams: [],
    head: {
      label: `${headRepo.owner.login}:${headRef}`,
      ref: headRef,
      sha: facts.headSha,
      user: headRepo.owner,
      repo: headRepo,
    },
    base: {
      label: `${base.owner.login}:${baseRef}`,
      ref: baseRef,
      sha: facts.baseSha ?? 'b'.repeat(40),
      user: base.owner,
      repo: base,
    },
    _links: {
      self: link(api),
      html: link(html),
      issue: link(issue),
      comments: link(`${issue}/comments`),
      review_comments: link(`${api}/comments`),
      review_comment: link(`${base.url}/pulls/comments{/number}`),
      commits: link(`${api}/commits`),
      statuses: link(`${base.url}/statuses/${facts.headSha}`),
    },
    author_association: facts.head && facts.head.owner !== facts.base.owner ? 'CONTRIBUTOR' : 'MEMBER',
    auto_merge: null,
    draft: false,
    merged,
    mergeable: closed ? null : true,
    rebaseable: closed ? null : true,
    mergeable_state: closed ? 'unknown' : 'clean',
    merged_by: merged ? author : null,
    comments: 0,
    review_comments: 0,
    maintainer_can_modify: false,
    commits: 1,
    additions: 10,
    deletions: 2,
    changed_files: 1,
  };
}

export type PullRequestAction = 'opened' | 'synchronize' | 'reopened' | 'closed';

export interface PullRequestEventFacts {
  action: PullRequestAction;
  /** The base repository, "owner/name". */
  repository: string;
  /** The head repository, "owner/name": the base repository itself, or a fork. */
  headRepository?: string;
  number: number;
  headSha: string;
  headRef?: string;
  baseRef?: string;
  title?: string;
  /** synchronize: the head before the push (default: a SHA derived from headSha). */
  before?: string;
  /** Who triggered the event (default: the pull request's author). */
  sender?: string;
}

function repoRef(fullName: string): RepositoryRef {
  const [owner, name] = fullName.split('/');
  if (!owner || !name) throw new Error(`not owner/name: ${fullName}`);
  return { owner, name, id: repositoryId(fullName) };
}

/**
 * The payload GitHub delivers for a pull_request event (what $GITHUB_EVENT_PATH holds on a runner); valid
 * against GitHub's webhook description of pull-request-<action>.
 */
export function pullRequestEventPayload(facts: PullRequestEventFacts, hosts: GitHubHosts = PUBLIC_HOSTS) {
  const base = repoRef(facts.repository);
  const head =
    facts.headRepository && facts.headRepository !== facts.repository
      ? repoRef(facts.headRepository)
      : undefined;
  const pr = pullRequest(
    {
      base,
      head,
      number: facts.number,
      state: facts.action === 'closed' ? 'closed' : 'open',
      headSha: facts.headSha,
      headRef: facts.headRef,
      baseRef: facts.baseRef,
      title: facts.title,
      author: head?.owner ?? 'octocat',
    },
    hosts,
  );
  const sender = simpleUser(facts.sender ?? pr.user.login, hosts);
  const payload: Record<string, unknown> = {
    action: facts.action,
    number: facts.number,
    pull_request: pr,
    repository: repository(base, hosts),
    sender,
  };
  if (facts.action === 'synchronize') {
    payload.before = facts.before ?? [...facts.headSha].reverse().join('');
    payload.after = facts.headSha;
  }
  return payload;
}

/** A label as GitHub shows it on an issue or pull request (GET pulls, DELETE issues/{n}/labels/{name}). */
export function label(name: string, base: RepositoryRef, hosts: GitHubHosts = PUBLIC_HOSTS) {
  const id = 200_000_000 + userId(name);
  return {
    id,
    node_id: nodeId('LA', id),
    url: `${hosts.api}/repos/${base.owner}/${base.name}/labels/${encodeURIComponent(name)}`,
    name,
    description: null,
    color: '0e8a16',
    default: false,
  };
}

/** An issue event (GET issues/{n}/events): labeled/unlabeled carry the label, head_ref_force_pushed does not. */
export function issueEvent(
  facts: { id: number; event: string; actor: string; createdAt: string; label?: string; base: RepositoryRef },
  hosts: GitHubHosts = PUBLIC_HOSTS,
) {
  return {
    id: facts.id,
    node_id: nodeId('IE', facts.id),
    url: `${hosts.api}/repos/${facts.base.owner}/${facts.base.name}/issues/events/${facts.id}`,
    actor: simpleUser(facts.actor, hosts),
    event: facts.event,
    commit_id: null,
    commit_url: null,
    created_at: facts.createdAt,
    performed_via_github_app: null,
    ...(facts.label === undefined ? {} : { label: { name: facts.label, color: '0e8a16' } }),
  };
}

/** GET collaborators/{username}/permission: GitHub's legacy permission next to the role name. */
export function collaboratorPermission(login: string, role: string, hosts: GitHubHosts = PUBLIC_HOSTS) {
  const permission = role === 'maintain' ? 'write' : role === 'triage' ? 'read' : role;
  return {
    permission,
    role_name: role,
    user: { ...simpleUser(login, hosts), role_name: role },
  };
}

export interface WorkflowRunFacts {
  id: number;
  base: RepositoryRef;
  head: RepositoryRef;
  headBranch: string;
  headSha: string;
  event: string;
  conclusion: string | null;
  createdAt: string;
  name?: string;
}

/** A workflow run (GET actions/runs, and the workflow_run event's payload). */
export function workflowRun(facts: WorkflowRunFacts, hosts: GitHubHosts = PUBLIC_HOSTS) {
  const base = repository(facts.base, hosts);
  const api = `${base.url}/actions/runs/${facts.id}`;
  return {
    id: facts.id,
    name: facts.name ?? 'fork build',
    node_id: nodeId('WFR', facts.id),
    check_suite_id: facts.id + 1,
    check_suite_node_id: nodeId('CS', facts.id + 1),
    head_branch: facts.headBranch,
    head_sha: facts.headSha,
    path: '.github/workflows/fork-build.yml',
    display_title: 'a change',
    run_number: facts.id % 1000,
    event: facts.event,
    status: facts.conclusion === null ? 'in_progress' : 'completed',
    conclusion: facts.conclusion,
    workflow_id: 4242,
    url: api,
    html_url: `${base.html_url}/actions/runs/${facts.id}`,
    pull_requests: [],
    created_at: facts.createdAt,
    updated_at: facts.createdAt,
    actor: simpleUser(facts.head.owner, hosts),
    triggering_actor: simpleUser(facts.head.owner, hosts),
    run_attempt: 1,
    run_started_at: facts.createdAt,
    jobs_url: `${api}/jobs`,
    logs_url: `${api}/logs`,
    check_suite_url: `${base.url}/check-suites/${facts.id + 1}`,
    artifacts_url: `${api}/artifacts`,
    cancel_url: `${api}/cancel`,
    rerun_url: `${api}/rerun`,
    previous_attempt_url: null,
    workflow_url: `${base.url}/actions/workflows/4242`,
    head_commit: {
      id: facts.headSha,
      tree_id: 'e'.repeat(40),
      message: 'a change',
      timestamp: facts.createdAt,
      author: { name: facts.head.owner, email: `${facts.head.owner}@example.invalid` },
      committer: { name: facts.head.owner, email: `${facts.head.owner}@example.invalid` },
    },
    repository: base,
    head_repository: repository(facts.head, hosts),
  };
}

/** An artifact of a run (GET actions/runs/{id}/artifacts). */
export function artifact(
  facts: { id: number; name: string; size: number; run: WorkflowRunFacts; createdAt: string },
  hosts: GitHubHosts = PUBLIC_HOSTS,
) {
  const api = `${hosts.api}/repos/${facts.run.base.owner}/${facts.run.base.name}/actions/artifacts/${facts.id}`;
  return {
    id: facts.id,
    node_id: nodeId('MDg', facts.id),
    name: facts.name,
    size_in_bytes: facts.size,
    url: api,
    archive_download_url: `${api}/zip`,
    expired: false,
    created_at: facts.createdAt,
    updated_at: facts.createdAt,
    expires_at: new Date(Date.parse(facts.createdAt) + 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    workflow_run: {
      id: facts.run.id,
      repository_id: facts.run.base.id,
      head_repository_id: facts.run.head.id,
      head_branch: facts.run.headBranch,
      head_sha: facts.run.headSha,
    },
  };
}
