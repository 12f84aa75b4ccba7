/**
 * A minimal JSON-RPC client over HTTP with batch requests, for driving a local `hardhat node` fast (thousands of
 * impersonated transactions, storage writes and historical reads in a handful of HTTP round trips). No retries: a
 * local node that fails a request is a bug to report, not a condition to hide.
 */

export type RpcRequest = { method: string; params?: unknown[] };

export class RpcError extends Error {
  override name = "RpcError";
  readonly method: string;
  readonly code: number;
  readonly data: unknown;
  constructor(method: string, code: number, message: string, data?: unknown) {
    super(`${method}: ${message} (code ${code})`);
    this.method = method;
    this.code = code;
    this.data = data;
  }
}

type Response = { id: number; result?: unknown; error?: { code: number; message: string; data?: unknown } };

export type Rpc = {
  url: string;
  /** One request; throws RpcError on a JSON-RPC error. */
  call<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  /**
   * Many requests, sent as JSON-RPC batches of at most `chunk` requests each (in order, one batch at a time); results in
   * request order. A JSON-RPC error throws unless `settle` is set, in which case it is returned as an RpcError.
   */
  batch<T = unknown>(requests: readonly RpcRequest[], options?: { chunk?: number; settle?: false }): Promise<T[]>;
  batch<T = unknown>(requests: readonly RpcRequest[], options: { chunk?: number; settle: true }): Promise<(T | RpcError)[]>;
};

export function createRpc(url: string): Rpc {
  let nextId = 1;
  async function post(body: unknown): Promise<unknown> {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  }
  const toError = (method: string, r: Response) => new RpcError(method, r.error!.code, r.error!.message, r.error!.data);
  async function batch(requests: readonly RpcRequest[], { chunk = 500, settle = false }: { chunk?: number; settle?: boolean } = {}) {
    const out: unknown[] = [];
    for (let i = 0; i < requests.length; i += chunk) {
      const part = requests.slice(i, i + chunk);
      const first = nextId;
      nextId += part.length;
      const body = part.map((r, j) => ({ jsonrpc: "2.0", id: first + j, method: r.method, params: r.params ?? [] }));
      const responses = (await post(body)) as Response[];
      if (!Array.isArray(responses)) throw new Error(`${url}: a batch request was answered with ${JSON.stringify(responses).slice(0, 200)}`);
      const byId = new Map(responses.map((r) => [r.id, r]));
      part.forEach((req, j) => {
        const r = byId.get(first + j);
        if (r === undefined) throw new Error(`${url}: no answer to ${req.method} in a batch`);
        if (r.error) {
          const e = toError(req.method, r);
          if (!settle) throw e;
          out.push(e);
        } else out.push(r.result);
      });
    }
    return out;
  }
  return {
    url,
    async call<T>(method: string, params: unknown[] = []) {
      const r = (await post({ jsonrpc: "2.0", id: nextId++, method, params })) as Response;
      if (r.error) throw toError(method, r);
      return r.result as T;
    },
    // Without `settle` every element is a result (an error throws): the overloads of Rpc["batch"] say so.
    batch: batch as Rpc["batch"],
  };
}
