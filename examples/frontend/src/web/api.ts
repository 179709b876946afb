/** The backend API as the page sees it: same origin, under /api (the frontend server proxies it). */
export interface Item {
  id: number;
  name: string;
  createdAt: string;
}

export interface Version {
  sha: string;
  service: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export interface Api {
  version(): Promise<Version>;
  listItems(): Promise<Item[]>;
  createItem(name: string): Promise<Item>;
  stats(): Promise<{ itemsCreated: number }>;
}

/** `base` is '' in the browser (same origin); tests pass the server's address. */
export function createApi(base = ''): Api {
  async function call<T>(path: string, init?: RequestInit): Promise<T> {
    const response = await fetch(`${base}/api${path}`, {
      ...init,
      headers: { Accept: 'application/json', ...(init?.body ? { 'Content-Type': 'application/json' } : {}) },
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const message =
        typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string'
          ? (body as { error: string }).error
          : `${response.status} ${response.statusText}`.trim();
      throw new ApiError(response.status, message);
    }
    return body as T;
  }
  return {
    version: () => call<Version>('/version'),
    listItems: async () => (await call<{ items: Item[] }>('/items')).items,
    createItem: (name) => call<Item>('/items', { method: 'POST', body: JSON.stringify({ name }) }),
    stats: () => call<{ itemsCreated: number }>('/stats'),
  };
}
