// A small WebSocket JSON-RPC client of the media gateway, for browsers and Node.
//
// - Typed: `client.call("search.query", {query: "x"})` checks the params and types the
//   result from types.ts, generated from the gateway's OpenRPC document.
// - Tokens: a successful `auth.login` or `auth.refresh` made through the client is kept
//   and put on the connection with `auth.authenticate` (the browser's way: a page cannot
//   set headers on a WebSocket handshake). An access token within `refreshMarginMs` of
//   expiry is refreshed before a call; a call answered -32001 is refreshed and sent
//   once more. `onTokens` hears every new pair; `auth.logout` and `auth.revoked` (close
//   4401) forget them.
// - Reconnection: when the connection closes (anything but `close()`), the client
//   reconnects with exponential back-off and jitter and authenticates again. Calls wait
//   for a connection; a call whose request never left, or that was answered -32008
//   (the node is shutting down and did nothing), is sent once more.
// - Notifications: `on(name, handler)` or `for await (const n of client.notifications())`.
// - Subprotocol: it offers `jsonrpc` (option `protocols`).

import type { Grant, MethodName, Methods, NotificationName, Notifications } from "./types.js";

/** The part of the WebSocket API the client uses (the browser's, or the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface Backoff {
  initialMs: number;
  factor: number;
  maximumMs: number;
  /** 0..1: a delay is drawn between (1 - jitter) and 1 times its ceiling. */
  jitter: number;
  /** Connection attempts in a row before the client gives up (Infinity: never). */
  attempts: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 200, factor: 2, maximumMs: 15_000, jitter: 0.5, attempts: 12 };
export const CLOSE_REVOKED = 4401;

export interface ClientOptions {
  /** Default: the global WebSocket (browsers, Node 22+); in Node 20 pass the `ws` package's. */
  WebSocket?: WebSocketConstructor;
  /** Subprotocols offered on the handshake. Default `["jsonrpc"]`. */
  protocols?: string[];
  backoff?: Partial<Backoff>;
  accessToken?: string;
  refreshToken?: string;
  /** Refresh an access token this long before it expires. Default 30 s. */
  refreshMarginMs?: number;
  /** How long a call waits for a connection. Default 30 s. */
  connectWaitMs?: number;
  /** How long one connection attempt may take. Default 10 s. */
  connectTimeoutMs?: number;
  onTokens?: (grant: Grant) => void;
}

/** The server answered with an error: `code`, `message`, `data` as sent. */
export class RpcError extends Error {
  constructor(readonly code: number, message: string, readonly data?: unknown) {
    super(`${code} ${message}`);
    this.name = "RpcError";
  }
}

/** No answer could be had: the server is unreachable, or the connection broke. */
export class TransportError extends Error {
  constructor(message: string, readonly closeCode?: number, readonly requestSent = true) {
    super(message);
    this.name = "TransportError";
  }
}

export type NotificationOf<N extends NotificationName = NotificationName> = { method: N; params: Notifications[N] };
type AnyNotification = { [N in NotificationName]: NotificationOf<N> }[NotificationName];

interface Pending {
  resolve: (answer: { result?: unknown; error?: { code: number; message: string; data?: unknown } }) => void;
  reject: (error: Error) => void;
}

const AUTH_REQUIRED = -32001;
const SHUTTING_DOWN = -32008;
const TOKEN_METHODS = new Set<string>(["auth.login", "auth.refresh"]);
const NO_REFRESH = new Set<string>(["auth.login", "auth.refresh", "auth.authenticate", "auth.register"]);
const INBOX_SIZE = 10_000;

export class GatewayClient {
  accessToken: string | undefined;
  refreshToken: string | undefined;
  /** When the access token expires (ms since the epoch), when known. */
  expiresAt: number | undefined;
  /** Connections opened so far (1 + reconnections). */
  connections = 0;
  /** Why the client gave up reconnecting, once it has. */
  failure: TransportError | undefined;

  private readonly WS: WebSocketConstructor;
  private readonly protocols: string[];
  private readonly backoff: Backoff;
  private readonly refreshMarginMs: number;
  private readonly connectWaitMs: number;
  private readonly connectTimeoutMs: number;
  private readonly onTokens: ((grant: Grant) => void) | undefined;
  private ws: WebSocketLike | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Set<(params: unknown) => void>>();
  private readonly inbox: AnyNotification[] = [];
  private inboxWaiters: Array<() => void> = [];
  private connectionWaiters: Array<() => void> = [];
  private refreshing: Promise<void> | undefined;
  private closing = false;
  private keeper: Promise<void> | undefined;

  constructor(readonly url: string, options: ClientOptions = {}) {
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WS === undefined) throw new TransportError("no WebSocket implementation: pass options.WebSocket");
    this.WS = WS;
    this.protocols = options.protocols ?? ["jsonrpc"];
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.accessToken = options.accessToken;
    this.refreshToken = options.refreshToken;
    this.refreshMarginMs = options.refreshMarginMs ?? 30_000;
    this.connectWaitMs = options.connectWaitMs ?? 30_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.onTokens = options.onTokens;
  }

  /** Connect (and authenticate, with a token given); resolves once connected. */
  async open(): Promise<void> {
    if (this.keeper === undefined) {
      this.closing = false;
      this.failure = undefined;
      this.keeper = this.keepConnected();
    }
    await this.connection();
  }

  get connected(): boolean {
    return this.ws !== undefined && this.ws.readyState === 1;
  }

  /** The subprotocol the server selected ("" when none). */
  get protocol(): string {
    return this.ws?.protocol ?? "";
  }

  /** One call (see the file's comment for refresh and reconnection). */
  async call<M extends MethodName>(method: M, params?: Methods[M]["params"]): Promise<Methods[M]["result"]> {
    let refreshed = false;
    let resent = false;
    for (;;) {
      const ws = await this.connection();
      if (!NO_REFRESH.has(method)) await this.refreshIfDue();
      try {
        const result = (await this.send(ws, method, params)) as Methods[M]["result"];
        if (TOKEN_METHODS.has(method)) await this.keepGrant(result as unknown as Grant);
        if (method === "auth.logout") {
          this.forgetTokens();
          await this.nextConnection(ws); // the server closes this one with 4401
        }
        return result;
      } catch (error) {
        if (error instanceof RpcError && error.code === AUTH_REQUIRED && !refreshed && !NO_REFRESH.has(method)
            && this.refreshToken !== undefined) {
          refreshed = true;
          await this.refresh();
          continue;
        }
        if (error instanceof RpcError && error.code === SHUTTING_DOWN && !resent) {
          resent = true;
          await this.nextConnection(ws);
          continue;
        }
        if (error instanceof TransportError && !error.requestSent && !resent) {
          resent = true;
          continue;
        }
        throw error;
      }
    }
  }

  /** Send a notification (no answer comes back). */
  async notify<M extends MethodName>(method: M, params?: Methods[M]["params"]): Promise<void> {
    const ws = await this.connection();
    ws.send(JSON.stringify(params === undefined ? { jsonrpc: "2.0", method } : { jsonrpc: "2.0", method, params }));
  }

  /** Call `handler` for every notification `name`; returns a function that stops it. */
  on<N extends NotificationName>(name: N, handler: (params: Notifications[N]) => void): () => void {
    const set = this.listeners.get(name) ?? new Set();
    this.listeners.set(name, set);
    const wrapped = handler as (params: unknown) => void;
    set.add(wrapped);
    return () => set.delete(wrapped);
  }

  /** Every notification, across reconnections, until `close()`. */
  async *notifications(): AsyncGenerator<AnyNotification> {
    for (;;) {
      const next = this.inbox.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.closing) return;
      await new Promise<void>((resolve) => this.inboxWaiters.push(resolve));
    }
  }

  /** Rotate the refresh token now and authenticate the connection with the new access token. */
  async refresh(): Promise<void> {
    if (this.refreshing !== undefined) return this.refreshing;
    const token = this.refreshToken;
    if (token === undefined) throw new RpcError(AUTH_REQUIRED, "no refresh token to renew the session with");
    this.refreshing = (async () => {
      const ws = await this.connection();
      const grant = (await this.send(ws, "auth.refresh", { refresh_token: token })) as Grant;
      await this.keepGrant(grant);
    })();
    try {
      await this.refreshing;
    } finally {
      this.refreshing = undefined;
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    const ws = this.ws;
    this.ws = undefined;
    this.wakeConnectionWaiters();
    this.wakeInbox();
    if (ws !== undefined && ws.readyState <= 1) ws.close(1000, "client closed");
    await this.keeper;
    this.keeper = undefined;
  }

  // -- internals -------------------------------------------------------------------

  private async refreshIfDue(): Promise<void> {
    if (this.expiresAt !== undefined && this.refreshToken !== undefined
        && this.expiresAt - Date.now() < this.refreshMarginMs) {
      await this.refresh();
    }
  }

  private async keepGrant(grant: Grant): Promise<void> {
    this.accessToken = grant.access_token;
    this.refreshToken = grant.refresh_token;
    this.expiresAt = Date.now() + grant.expires_in * 1000;
    this.onTokens?.(grant);
    const ws = await this.connection();
    await this.send(ws, "auth.authenticate", { access_token: grant.access_token });
  }

  private forgetTokens(): void {
    this.accessToken = this.refreshToken = this.expiresAt = undefined;
  }

  private send(ws: WebSocketLike, method: string, params: unknown): Promise<unknown> {
    const id = this.nextId++;
    const request = params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params };
    return new Promise((resolve, reject) => {
      if (ws.readyState !== 1) {
        reject(new TransportError("the connection is closed", undefined, false));
        return;
      }
      this.pending.set(id, {
        resolve: (answer) => {
          if (answer.error !== undefined) reject(new RpcError(answer.error.code, answer.error.message, answer.error.data));
          else resolve(answer.result);
        },
        reject,
      });
      ws.send(JSON.stringify(request));
    });
  }

  private async connection(): Promise<WebSocketLike> {
    const deadline = Date.now() + this.connectWaitMs;
    for (;;) {
      if (this.closing) throw new TransportError("the client is closed");
      if (this.failure !== undefined) throw this.failure;
      if (this.ws !== undefined && this.ws.readyState === 1) return this.ws;
      const left = deadline - Date.now();
      if (left <= 0) throw new TransportError(`no connection to ${this.url} within ${this.connectWaitMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.connectionWaiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  private async nextConnection(old: WebSocketLike): Promise<void> {
    const deadline = Date.now() + this.connectWaitMs;
    while (this.ws === old && !this.closing && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.connectionWaiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  private wakeConnectionWaiters(): void {
    const waiters = this.connectionWaiters;
    this.connectionWaiters = [];
    for (const wake of waiters) wake();
  }

  private wakeInbox(): void {
    const waiters = this.inboxWaiters;
    this.inboxWaiters = [];
    for (const wake of waiters) wake();
  }

  private connectOnce(): Promise<WebSocketLike> {
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = new this.WS(this.url, this.protocols);
      } catch (error) {
        reject(new TransportError(`cannot connect to ${this.url}: ${String(error)}`));
        return;
      }
      const timer = setTimeout(() => {
        ws.close();
        reject(new TransportError(`no answer from ${this.url} within ${this.connectTimeoutMs} ms`));
      }, this.connectTimeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(ws);
      };
      ws.onerror = () => undefined; // a close event follows, with the code
      ws.onclose = (event) => {
        clearTimeout(timer);
        reject(new TransportError(`cannot connect to ${this.url} (close ${event.code})`, event.code));
      };
    });
  }

  private async keepConnected(): Promise<void> {
    let attempt = 0;
    while (!this.closing) {
      let ws: WebSocketLike;
      try {
        ws = await this.connectOnce();
      } catch (error) {
        attempt += 1;
        if (attempt >= this.backoff.attempts) {
          this.failure = error as TransportError;
          this.wakeConnectionWaiters();
          return;
        }
        await sleep(delay(this.backoff, attempt - 1));
        continue;
      }
      attempt = 0;
      this.connections += 1;
      const closed = new Promise<{ code: number; reason: string }>((resolve) => {
        ws.onclose = (event) => resolve({ code: event.code, reason: event.reason });
      });
      ws.onmessage = (event) => this.receive(event.data);
      if (this.accessToken !== undefined) {
        await this.authenticate(ws);
      }
      this.ws = ws;
      this.wakeConnectionWaiters();
      const { code, reason } = await closed;
      if (this.ws === ws) this.ws = undefined;
      for (const [id, waiter] of this.pending) {
        this.pending.delete(id);
        waiter.reject(new TransportError(`connection closed with ${code}${reason ? ` (${reason})` : ""}`, code));
      }
      if (code === CLOSE_REVOKED) this.forgetTokens();
      this.wakeConnectionWaiters();
    }
  }

  private async authenticate(ws: WebSocketLike): Promise<void> {
    try {
      if (this.expiresAt !== undefined && this.expiresAt - Date.now() < this.refreshMarginMs) throw new RpcError(AUTH_REQUIRED, "expired");
      await this.send(ws, "auth.authenticate", { access_token: this.accessToken });
      return;
    } catch (error) {
      if (!(error instanceof RpcError) || error.code !== AUTH_REQUIRED) throw error;
    }
    const token = this.refreshToken;
    if (token !== undefined) {
      try {
        const grant = (await this.send(ws, "auth.refresh", { refresh_token: token })) as Grant;
        this.accessToken = grant.access_token;
        this.refreshToken = grant.refresh_token;
        this.expiresAt = Date.now() + grant.expires_in * 1000;
        this.onTokens?.(grant);
        await this.send(ws, "auth.authenticate", { access_token: grant.access_token });
        return;
      } catch (error) {
        if (!(error instanceof RpcError)) throw error;
      }
    }
    this.forgetTokens(); // the session is over: calls needing a user get -32001
  }

  private receive(data: unknown): void {
    let message: unknown;
    try {
      message = JSON.parse(typeof data === "string" ? data : String(data));
    } catch {
      return;
    }
    for (const one of Array.isArray(message) ? message : [message]) {
      if (typeof one !== "object" || one === null) continue;
      const m = one as { id?: unknown; method?: unknown; params?: unknown };
      if (typeof m.method === "string" && m.id === undefined) {
        this.deliver({ method: m.method, params: m.params } as AnyNotification);
      } else if (typeof m.id === "number") {
        const waiter = this.pending.get(m.id);
        if (waiter !== undefined) {
          this.pending.delete(m.id);
          waiter.resolve(one as Parameters<Pending["resolve"]>[0]);
        }
      }
    }
  }

  private deliver(note: AnyNotification): void {
    for (const handler of this.listeners.get(note.method) ?? []) handler(note.params);
    if (this.inbox.length >= INBOX_SIZE) this.inbox.shift();
    this.inbox.push(note);
    this.wakeInbox();
  }
}

/** The wait before retry `n` (0-based) under `backoff`. */
export function delay(backoff: Backoff, n: number, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maximumMs, backoff.initialMs * backoff.factor ** n);
  return ceiling * (1 - backoff.jitter * random());
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
