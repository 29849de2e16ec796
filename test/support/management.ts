// A minimal management API client for tests: it checks the broker independently of warren's own client.
export interface Mgmt {
  get(path: string): Promise<{ status: number; body: any }>;
  put(path: string, body: unknown): Promise<number>;
  del(path: string): Promise<number>;
}

export function mgmt(baseUrl: string, user: string, password: string): Mgmt {
  const auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const send = (method: string, path: string, body?: unknown) =>
    fetch(`${baseUrl}/api${path}`, {
      method,
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const call = async (method: string, path: string, body?: unknown) => {
    // The broker closes a keep-alive connection after a number of requests; a request sent on it
    // as it closes fails without an answer. These calls are idempotent: send it again, once.
    const res = await send(method, path, body).catch(() => send(method, path, body));
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    get: (path) => call('GET', path),
    put: async (path, body) => (await call('PUT', path, body)).status,
    del: async (path) => (await call('DELETE', path)).status,
  };
}

export const enc = encodeURIComponent;
