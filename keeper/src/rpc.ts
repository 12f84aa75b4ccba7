/**
 * The keeper's JSON-RPC transport: HTTP(S) or WebSocket by the URL's scheme, with every failing request counted by
 * method (the `tidemark_keeper_rpc_errors_total` metric), and the helpers that turn RPC errors into one readable line.
 *
 * viem retries a failed request 3 times within 1 s (150, 300, 600 ms); the keeper's own retry with backoff (keeper.ts)
 * sits above that, so a request counted here has failed all of viem's attempts.
 */
import { type Transport, http, webSocket } from "viem";
import { socketClientCache } from "viem/utils";

/** Per request, HTTP and WebSocket alike. */
export const RPC_TIMEOUT_MS = 15_000;
/** viem's own quick retries of a failed request. */
const RETRY_COUNT = 3;

/** How a request failed: no usable answer, a revert reported by the node (simulations of lost races), any other JSON-RPC error. */
export type RpcErrorKind = "transport" | "revert" | "node";

const TRANSPORT_ERRORS = new Set(["HttpRequestError", "TimeoutError", "WebSocketRequestError", "SocketClosedError", "ErrorEvent"]);

/** The error and its causes, outermost first. */
function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err, depth = 0; e !== null && e !== undefined && depth < 16; depth++) {
    out.push(e);
    e = typeof e === "object" ? (e as { cause?: unknown }).cause : undefined;
  }
  return out;
}

const nameOf = (e: unknown): string =>
  e !== null && typeof e === "object" ? String((e as { name?: unknown }).name ?? (e as object).constructor?.name ?? "Error") : typeof e;

/** Names of the error and its causes, outermost first ("ContractFunctionExecutionError", "HttpRequestError", ...). */
export function errorNames(err: unknown): string[] {
  return chain(err).map(nameOf);
}

/** True when the request got no usable answer: refused or dropped connection, timeout, HTTP error status, closed socket. */
export function isTransportError(err: unknown): boolean {
  return chain(err).some((e) => {
    if (e === null || typeof e !== "object") return false;
    const o = e as { name?: unknown; constructor?: { name?: string }; code?: unknown };
    // The WebSocket transport reports a failed connection as an unknown RPC error (code -1) caused by an ErrorEvent.
    return TRANSPORT_ERRORS.has(String(o.name)) || TRANSPORT_ERRORS.has(String(o.constructor?.name));
  });
}

export function rpcErrorKind(err: unknown): RpcErrorKind {
  if (isTransportError(err)) return "transport";
  const reverted = chain(err).some((e) => {
    const o = (e ?? {}) as { code?: unknown; message?: unknown; details?: unknown };
    return o.code === 3 || /revert/i.test(String(o.details ?? "")) || /revert/i.test(String(o.message ?? ""));
  });
  return reverted ? "revert" : "node";
}

/**
 * One line for logs and /healthz: the outermost summary and the innermost cause ("HTTP request failed: connect
 * ECONNREFUSED 127.0.0.1:8545"). viem's full messages carry the URL (which may embed an API key) and the request
 * body: both left out.
 */
export function errorText(err: unknown): string {
  const event = chain(err).find((e) => nameOf(e) === "ErrorEvent") as { message?: unknown } | undefined;
  if (event !== undefined) return `WebSocket connection failed: ${String(event.message ?? "no details").replace(/\.$/, "")}`;
  const parts: string[] = [];
  for (const e of chain(err)) {
    const o = (e ?? {}) as { shortMessage?: unknown; message?: unknown };
    const text = typeof o.shortMessage === "string" ? o.shortMessage : typeof o.message === "string" ? o.message : typeof e === "string" ? e : "";
    const line = text.split("\n")[0].trim().replace(/[.:]+$/, "");
    if (line !== "" && !parts.some((p) => p === line)) parts.push(line);
  }
  if (parts.length === 0) return nameOf(err);
  return parts.length === 1 ? parts[0] : `${parts[0]}: ${parts[parts.length - 1]}`;
}

/** The transport for `url`: http(s):// or ws(s):// (config.ts has accepted nothing else). */
export function rpcTransport(url: string): Transport {
  const scheme = new URL(url).protocol;
  if (scheme === "ws:" || scheme === "wss:") {
    // viem's own reconnection (5 tries, then a client stuck on a closed socket) is off: the keeper retries with
    // backoff, and a closed socket is dropped before each request so the next one opens a fresh connection.
    const inner = webSocket(url, { timeout: RPC_TIMEOUT_MS, retryCount: RETRY_COUNT, reconnect: false, keepAlive: { interval: 30_000 } });
    return withRequestHook(inner, {
      before: () => dropClosedSockets(url),
      // Opening the connection has no timeout of its own in viem: a handshake that never completes would hang.
      timeoutMs: RPC_TIMEOUT_MS * (RETRY_COUNT + 2),
    });
  }
  if (scheme === "http:" || scheme === "https:") return http(url, { timeout: RPC_TIMEOUT_MS, retryCount: RETRY_COUNT });
  throw new Error(`unsupported RPC URL scheme ${scheme}// (use http://, https://, ws:// or wss://)`);
}

/** Closes (and so evicts from viem's cache) every socket client for `url` whose socket is closing or closed. */
function dropClosedSockets(url: string) {
  for (const client of socketClientCache.values()) {
    const state = (client.socket as { readyState?: number } | undefined)?.readyState;
    if (client.url === url && (state === 2 || state === 3)) client.close();
  }
}

/** `inner` with `before` run ahead of each request and each request bounded by `timeoutMs`. */
function withRequestHook(inner: Transport, hook: { before: () => void; timeoutMs: number }): Transport {
  return (params) => {
    const t = inner(params);
    const request = (async (args: Parameters<typeof t.request>[0], options?: Parameters<typeof t.request>[1]) => {
      hook.before();
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          t.request(args, options) as Promise<unknown>,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(Object.assign(new Error(`${args.method}: no answer within ${hook.timeoutMs / 1000} s`), { name: "TimeoutError" })), hook.timeoutMs);
            timer.unref();
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    }) as typeof t.request;
    return { ...t, request };
  };
}

/** `inner` with `onError(method, kind, err)` called for every request that fails (after viem's own retries). */
export function countingTransport(inner: Transport, onError: (method: string, kind: RpcErrorKind, err: unknown) => void): Transport {
  return (params) => {
    const t = inner(params);
    const request: typeof t.request = async (args, options) => {
      try {
        return await t.request(args, options);
      } catch (err) {
        onError(args.method, rpcErrorKind(err), err);
        throw err;
      }
    };
    return { ...t, request };
  };
}
