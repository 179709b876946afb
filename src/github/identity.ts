/**
 * Who the action writes as: the only author whose sticky comment the action takes for its own, and the only
 * creator whose deployments count when it decides that a newer run has reported.
 *
 * Anyone who can comment on a pull request can post a comment carrying our marker and a meta line of their
 * choosing (a huge run id would make every later run believe it is older and stand down). So a comment or a
 * deployment is ours only when GitHub says our identity wrote it. How the identity is known:
 *
 *  - An installation access token (`ghs_…`: the workflow's GITHUB_TOKEN) cannot call GET /user (GitHub
 *    answers 403 "Resource not accessible by integration"), and every comment or deployment it makes is by
 *    the account `github-actions[bot]`, of type Bot. Logins ending in `[bot]` cannot be registered by people,
 *    so login plus type identifies it (its numeric id differs between github.com and GitHub Enterprise
 *    Server). A token of another GitHub App also starts with `ghs_`: its comments are by `<app-slug>[bot]`,
 *    which the token cannot learn over REST; the `bot-login` input names it (ReportContext.identity).
 *  - Any other token (a personal access token `ghp_…`/`github_pat_…`, OAuth `gho_…`, or a format we do not
 *    know) is asked GET /user: 200 gives the user's id, which is what we match (a login can be renamed); a
 *    403 "not accessible by integration" means an installation token after all (github-actions[bot]).
 *  - When the identity cannot be told (GET /user failed otherwise), nothing is taken for ours: no comment is
 *    written (a duplicate is better avoided than made) and no deployment's payload counts.
 *
 * The same rule, matching the author rather than the marker alone, is what peter-evans/find-comment's
 * `comment-author: github-actions[bot]` and marocchino/sticky-pull-request-comment's GraphQL `viewer` check do;
 * this one needs no input and no GraphQL.
 */
import { isBotLogin } from '../naming.js';
import { errorMessage, errorStatus, type Octokit } from './client.js';

export const ACTIONS_BOT_LOGIN = 'github-actions[bot]';

/** An account as GitHub shows it on a comment (user) or a deployment (creator). */
export interface Account {
  login: string;
  id: number;
  type?: string;
}

export type Identity =
  /** A GitHub App's bot (GITHUB_TOKEN: github-actions[bot]), matched by login and type. */
  | { kind: 'bot'; login: string }
  /** A user (a personal access token), matched by id. */
  | { kind: 'user'; login: string; id: number };

/** Whether GitHub says `account` is `identity`. */
export function isIdentity(identity: Identity, account: Account | null | undefined): boolean {
  if (!account) return false;
  if (identity.kind === 'bot') return account.login === identity.login && account.type === 'Bot';
  return account.id === identity.id;
}

export function describeIdentity(identity: Identity): string {
  return identity.kind === 'bot' ? identity.login : `${identity.login} (id ${identity.id})`;
}

/** The login a bot identity is given explicitly: one that ends in [bot] (a GitHub App's account). */
export function botIdentity(login: string): Identity | undefined {
  return isBotLogin(login) ? { kind: 'bot', login } : undefined;
}

/**
 * The identity of `token`; throws (an Octokit error) when GET /user fails for any reason other than the
 * token being an installation token.
 */
export async function resolveIdentity(octokit: Octokit, token: string): Promise<Identity> {
  if (token.startsWith('ghs_')) return { kind: 'bot', login: ACTIONS_BOT_LOGIN };
  try {
    const { data } = await octokit.rest.users.getAuthenticated();
    return { kind: 'user', login: data.login, id: data.id };
  } catch (error) {
    if (errorStatus(error) === 403 && /not accessible by integration/i.test(errorMessage(error)))
      return { kind: 'bot', login: ACTIONS_BOT_LOGIN };
    throw error;
  }
}
