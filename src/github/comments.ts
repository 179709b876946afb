/**
 * The sticky comment's store: finds the one comment of the pull request that is ours (carries the marker and
 * was written by our identity), creates it, updates it. Comments that carry the marker but were written by
 * anyone else are never taken; they are returned so the reporter can say which were ignored.
 */
import type { Octokit, RepoParams, RetryOptions } from './client.js';
import { type Account, type Identity, isIdentity } from './identity.js';
import { type CommentMeta, hasMarker, parseMeta } from './render.js';

export interface StoredComment {
  id: number;
  url: string;
  body: string;
  /** The meta line of our comment (undefined when it has none we can read). */
  meta?: CommentMeta;
}

/** A comment that carries our marker, by someone else. */
export interface ForeignMarker {
  id: number;
  url: string;
  author: string;
}

export interface FoundComments {
  ours?: StoredComment;
  /** Marker comments by other authors seen before ours (or on every page, when we have none). */
  ignored: ForeignMarker[];
}

export class CommentStore {
  constructor(
    private readonly octokit: Octokit,
    private readonly repo: RepoParams,
    private readonly issueNumber: number,
  ) {}

  /** The first comment with the marker written by `identity`, searching every page. */
  async find(identity: Identity): Promise<FoundComments> {
    const ignored: ForeignMarker[] = [];
    const pages = this.octokit.paginate.iterator(this.octokit.rest.issues.listComments, {
      ...this.repo,
      issue_number: this.issueNumber,
      per_page: 100,
    });
    for await (const page of pages) {
      for (const comment of page.data) {
        const body = comment.body ?? '';
        if (!hasMarker(body)) continue;
        const author = comment.user as Account | null;
        if (!isIdentity(identity, author)) {
          ignored.push({
            id: comment.id,
            url: comment.html_url,
            author: author?.login ?? '(deleted account)',
          });
          continue;
        }
        return { ours: { id: comment.id, url: comment.html_url, body, meta: parseMeta(body) }, ignored };
      }
    }
    return { ignored };
  }

  /**
   * Creates our comment. After a 5xx or no answer, GitHub may have made it: the comments are listed again and
   * one of ours carrying this body's meta line (its run and time) is taken as made, instead of a second one.
   */
  async create(body: string, identity: Identity): Promise<{ id: number; url: string }> {
    const sent = parseMeta(body);
    const recover = async () => {
      const { ours } = await this.find(identity);
      const meta = ours?.meta;
      if (!ours || !sent || !meta) return undefined;
      const same = (['sha', 'runId', 'runAttempt', 'updatedAt', 'state'] as const).every(
        (k) => meta[k] === sent[k],
      );
      // Only the fields create() reads.
      return same ? { status: 201, data: { id: ours.id, html_url: ours.url } } : undefined;
    };
    const { data } = await this.octokit.rest.issues.createComment({
      ...this.repo,
      issue_number: this.issueNumber,
      body,
      request: { retry: { recover } satisfies RetryOptions },
    });
    return { id: data.id, url: data.html_url };
  }

  async update(id: number, body: string): Promise<{ id: number; url: string }> {
    const { data } = await this.octokit.rest.issues.updateComment({ ...this.repo, comment_id: id, body });
    return { id: data.id, url: data.html_url };
  }
}
