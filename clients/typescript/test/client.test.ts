// The TypeScript client against a real gateway: typed calls, errors, token refresh,
// notifications, reconnection with back-off; and the subprotocol it offers.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket, { WebSocketServer } from "ws";

import { GatewayClient, RpcError, TransportError, delay, type ClientOptions, type WebSocketConstructor } from "../src/index.js";
import { METHOD_NAMES, type Grant } from "../src/types.js";
import { Gateway } from "./gateway.js";

// The client's default offer: the gateway selects `jsonrpc` (Node's `ws` refuses a
// connection whose server selects none of the offered subprotocols).
const PROTOCOLS: string[] = ["jsonrpc"];
const QUICK = { initialMs: 20, maximumMs: 200, attempts: 200 };

let gateway: Gateway;
before(async () => { gateway = await Gateway.start(); });
after(async () => { await gateway.stop(); });

function client(options: ClientOptions = {}, url = gateway.url): GatewayClient {
  return new GatewayClient(url, { WebSocket: WebSocket as unknown as WebSocketConstructor, protocols: PROTOCOLS,
    backoff: QUICK, ...options });
}

let serial = 0;
function email(): string {
  serial += 1;
  return `ts${serial}-${process.pid}-${Date.now()}@example.com`;
}
const PASSWORD = "correct horse battery staple";

test("typed calls, the session kept, errors with code and data", async () => {
  const c = client();
  await c.open();
  try {
    assert.deepEqual(await c.call("system.ping"), { pong: true });
    const who = email();
    const { user_id } = await c.call("auth.register", { email: who, password: PASSWORD });
    await c.call("auth.login", { email: who, password: PASSWORD });
    const profile = await c.call("user.profile");
    assert.equal(profile.user_id, user_id);
    assert.equal(profile.email, who);
    await assert.rejects(c.call("content.get", { id: "nothing-here" }),
      (e: unknown) => e instanceof RpcError && e.code === -32004);
    await assert.rejects(c.call("search.query", { query: "x", limit: 1000 }), (e: unknown) =>
      e instanceof RpcError && e.code === -32602
      && (e.data as { errors: Array<{ field: string }> }).errors[0]?.field === "limit");
    const found = await c.call("search.query", { query: "anything", limit: 5 });
    assert.ok(Array.isArray(found.items) && found.page_info.has_next_page === false);
  } finally {
    await c.close();
  }
});

test("an access token about to expire is refreshed before the call", async () => {
  const grants: Grant[] = [];
  const c = client({ onTokens: (g) => grants.push(g) });
  await c.open();
  try {
    const who = email();
    await c.call("auth.register", { email: who, password: PASSWORD });
    await c.call("auth.login", { email: who, password: PASSWORD });
    c.expiresAt = Date.now(); // as if 15 minutes had passed
    assert.equal((await c.call("user.profile")).email, who);
    assert.equal(grants.length, 2);
    assert.equal(grants[1]?.family_id, grants[0]?.family_id);
    assert.notEqual(c.refreshToken, grants[0]?.refresh_token);
  } finally {
    await c.close();
  }
});

test("a refused access token is refreshed with the refresh token on connect", async () => {
  const setup = client();
  await setup.open();
  const who = email();
  await setup.call("auth.register", { email: who, password: PASSWORD });
  const grant = await setup.call("auth.login", { email: who, password: PASSWORD });
  await setup.close();
  const c = client({ accessToken: "not-a-token", refreshToken: grant.refresh_token });
  await c.open();
  try {
    assert.equal((await c.call("user.profile")).email, who);
    assert.notEqual(c.accessToken, "not-a-token");
  } finally {
    await c.close();
  }
});

test("system.shutdown arrives, then the client reconnects with back-off and authenticates again", async () => {
  const first = await Gateway.start();
  const c = client({}, first.url);
  await c.open();
  let second: Gateway | undefined;
  try {
    const who = email();
    await c.call("auth.register", { email: who, password: PASSWORD });
    await c.call("auth.login", { email: who, password: PASSWORD });
    const seen: string[] = [];
    c.on("system.shutdown", () => seen.push("system.shutdown"));
    const notes = c.notifications();
    assert.equal(await first.stop(), 0);
    const note = await notes.next();
    assert.deepEqual(note.value, { method: "system.shutdown", params: {} });
    assert.deepEqual(seen, ["system.shutdown"]);
    second = await Gateway.start({ port: first.port, dataDir: first.dataDir });
    assert.equal((await c.call("user.profile")).email, who); // waits for the new connection
    assert.ok(c.connections >= 2);
  } finally {
    await c.close();
    await second?.stop();
  }
});

test("it gives up after the back-off's attempts", async () => {
  const c = client({ backoff: { initialMs: 5, attempts: 3 } }, "ws://127.0.0.1:9/v1");
  await assert.rejects(c.open(), (e: unknown) => e instanceof TransportError);
  assert.ok(c.failure instanceof TransportError);
  await c.close();
});

test("it offers the jsonrpc subprotocol by default", async () => {
  const offered: string[][] = [];
  const server = new WebSocketServer({ port: 0, handleProtocols: (protocols) => {
    offered.push([...protocols]);
    return protocols.has("jsonrpc") ? "jsonrpc" : false;
  } });
  await new Promise((ok) => server.once("listening", ok));
  const port = (server.address() as { port: number }).port;
  const c = new GatewayClient(`ws://127.0.0.1:${port}/v1`, { WebSocket: WebSocket as unknown as WebSocketConstructor });
  try {
    await c.open();
    assert.deepEqual(offered, [["jsonrpc"]]);
    assert.equal(c.protocol, "jsonrpc");
  } finally {
    await c.close();
    server.close();
  }
});

test("the method list is the gateway's", async () => {
  const c = client();
  await c.open();
  try {
    const doc = await c.call("rpc.discover");
    assert.deepEqual((doc.methods as Array<{ name: string }>).map((m) => m.name), [...METHOD_NAMES]);
  } finally {
    await c.close();
  }
});

test("back-off delays grow to the maximum, with jitter", () => {
  const backoff = { initialMs: 100, factor: 2, maximumMs: 1000, jitter: 0.5, attempts: 10 };
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => delay(backoff, n, () => 0)), [100, 200, 400, 800, 1000, 1000]);
  assert.equal(delay(backoff, 0, () => 1), 50);
});
