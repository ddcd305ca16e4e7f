// The media-gateway console: a browser app over the public WebSocket API, the way any
// web client would use it: connect anonymously, auth.login, then auth.authenticate on
// the connection (a page cannot set an Authorization header on a WebSocket handshake).

const $ = (id) => document.getElementById(id);
const TICK_MS = 250;        // how often a playing title reports its position
const SPEED = 40;           // the console "plays" 40x faster than real time
const SEARCH_DELAY_MS = 120;

class Rpc {
  constructor(url, onNotification, onStatus) {
    this.url = url;
    this.onNotification = onNotification;
    this.onStatus = onStatus;
    this.nextId = 1;
    this.pending = new Map();
    this.ws = null;
    this.accessToken = null;
    this.attempt = 0;
    this.waiters = [];
    this.connections = 0;
  }

  connect() {
    const ws = new WebSocket(this.url);
    ws.onopen = async () => {
      this.attempt = 0;
      this.ws = ws;
      if (this.accessToken) {
        try {
          await this.call("auth.authenticate", { access_token: this.accessToken });
        } catch (e) {
          this.accessToken = null;
          this.onStatus("session expired: log in again");
        }
      }
      this.connections += 1;
      document.body.dataset.connections = String(this.connections);
      this.onStatus("connected to " + this.url);
      this.waiters.splice(0).forEach((wake) => wake());
    };
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      for (const m of Array.isArray(message) ? message : [message]) {
        if (m.method && m.id === undefined) this.onNotification(m.method, m.params);
        else if (this.pending.has(m.id)) {
          const { resolve, reject } = this.pending.get(m.id);
          this.pending.delete(m.id);
          if (m.error) reject(Object.assign(new Error(`${m.error.code} ${m.error.message}`), m.error));
          else resolve(m.result);
        }
      }
    };
    ws.onclose = (event) => {
      if (this.ws === ws) this.ws = null;
      for (const { reject } of this.pending.values()) reject(new Error(`connection closed (${event.code})`));
      this.pending.clear();
      if (event.code === 4401) this.accessToken = null;
      const delay = Math.min(10000, 200 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt += 1;
      this.onStatus(`disconnected (${event.code}); reconnecting in ${(delay / 1000).toFixed(1)} s`);
      setTimeout(() => this.connect(), delay);
    };
  }

  async ready() {
    while (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      await new Promise((wake) => this.waiters.push(wake));
    }
    return this.ws;
  }

  async call(method, params) {
    const ws = this.ws && this.ws.readyState === WebSocket.OPEN ? this.ws : await this.ready();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }

  notify(method, params) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ jsonrpc: "2.0", method, params }));
    }
  }
}

const state = { user: null, genres: new Set(), platforms: new Set(), searchSeq: 0, item: null, session: null,
                position: 0, timer: null };

function note(method, params) {
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()} ${method} ${JSON.stringify(params ?? {})}`;
  li.dataset.method = method;
  $("notes").prepend(li);
  if (method === "auth.revoked") {
    state.user = null;
    $("who").textContent = "session revoked: log in again";
    stopTimer();
  }
  if (method === "system.shutdown") $("status").textContent = "the server is shutting down";
  if (method === "playback.changed") refreshContinue();
}

const rpc = new Rpc(await wsUrl(), note, (text) => { $("status").textContent = text; });

async function wsUrl() {
  const config = await (await fetch("/console/config.json")).json();
  return `ws://${location.hostname}:${config.ws_port}${config.ws_path}`;
}

function clock(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const grant = await rpc.call("auth.login", { email: $("email").value, password: $("password").value });
    await rpc.call("auth.authenticate", { access_token: grant.access_token });
    rpc.accessToken = grant.access_token;
    const profile = await rpc.call("user.profile");
    state.user = profile;
    $("who").textContent = `logged in as ${profile.email}`;
    $("who").dataset.family = grant.family_id;
    $("password").value = "";
    refreshContinue();
  } catch (e) {
    $("who").textContent = `login failed: ${e.message}`;
  }
});

async function search() {
  const seq = ++state.searchSeq;
  const filters = {};
  if (state.genres.size) filters.genres = [...state.genres];
  if (state.platforms.size) filters.platforms = [...state.platforms];
  const params = { query: $("search").value, include_facets: true, limit: 10 };
  if (Object.keys(filters).length) params.filters = filters;
  let found;
  try {
    found = await rpc.call("search.query", params);
  } catch (e) {
    $("correction").textContent = e.message;
    return;
  }
  if (seq !== state.searchSeq) return; // a newer keystroke's answer is coming
  const corrections = (found.corrections ?? []).map((c) => `${c.from} → ${c.to}`).join(", ");
  $("correction").textContent = found.corrected_query
    ? `showing results for “${found.corrected_query}”${corrections ? ` (${corrections})` : ""}` : "";
  $("correction").dataset.corrected = found.corrected_query ?? "";
  renderFacets(found.facets);
  const list = $("results");
  list.replaceChildren(...found.items.map((item) => {
    const li = document.createElement("li");
    li.dataset.id = item.id;
    li.textContent = `${item.title} (${item.year}, ${item.type})`;
    li.addEventListener("click", () => openItem(item));
    return li;
  }));
  list.dataset.total = String(found.total);
}

function renderFacets(facets) {
  const chips = [];
  for (const [group, selected] of [["genres", state.genres], ["platforms", state.platforms]]) {
    for (const { value, count } of facets?.[group] ?? []) {
      const chip = document.createElement("span");
      chip.className = "facet" + (selected.has(value) ? " on" : "");
      chip.dataset.group = group;
      chip.dataset.value = value;
      chip.textContent = `${value} ${count}`;
      chip.addEventListener("click", () => {
        if (selected.has(value)) selected.delete(value); else selected.add(value);
        search();
      });
      chips.push(chip);
    }
  }
  $("facets").replaceChildren(...chips);
}

let searchTimer = null;
$("search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(search, SEARCH_DELAY_MS);
});

async function openItem(item) {
  stopTimer();
  state.item = item;
  $("detail").hidden = false;
  $("detail-title").textContent = item.title;
  $("detail-meta").textContent = `${item.type}, ${item.year}, ${item.genres.join(", ")} · ${clock(item.duration_ms)}`;
  showPosition(0);
  $("resume").textContent = "";
  if (state.user) {
    const resume = await rpc.call("playback.resume", { content_id: item.id });
    $("resume").textContent = resume.offer_resume ? `resume at ${clock(resume.position_ms)}` : "";
  }
}

function showPosition(ms) {
  state.position = ms;
  $("position").textContent = clock(ms);
  $("position-ms").textContent = `${ms} ms`;
  $("position-ms").dataset.ms = String(ms);
}

$("play").addEventListener("click", async () => {
  if (!state.item) return;
  if (!state.user) {
    $("resume").textContent = "log in to play";
    return;
  }
  const started = await rpc.call("playback.start", { content_id: state.item.id, device_id: "console" });
  state.session = started.session_id;
  showPosition(started.resume.offer_resume ? started.resume.position_ms : 0);
  $("play").disabled = true;
  $("stop").disabled = false;
  state.timer = setInterval(() => {
    const end = state.item.duration_ms || Infinity;
    showPosition(Math.min(end, state.position + TICK_MS * SPEED));
    rpc.notify("playback.position", { session_id: state.session, position_ms: state.position });
  }, TICK_MS);
});

$("stop").addEventListener("click", async () => {
  const session = state.session;
  stopTimer();
  if (!session) return;
  const stopped = await rpc.call("playback.stop", { session_id: session, position_ms: state.position });
  $("resume").textContent = stopped.completed ? "finished" : `stopped at ${clock(stopped.position_ms)}`;
  refreshContinue();
});

function stopTimer() {
  clearInterval(state.timer);
  state.timer = null;
  state.session = null;
  $("play").disabled = false;
  $("stop").disabled = true;
}

async function refreshContinue() {
  if (!state.user) return;
  const found = await rpc.call("playback.continue_watching", { limit: 10 });
  $("continue").replaceChildren(...found.items.map((entry) => {
    const li = document.createElement("li");
    li.dataset.id = entry.content.id;
    li.textContent = `${entry.content.title} · ${Math.round(entry.progress * 100)}%`;
    li.addEventListener("click", () => openItem(entry.content));
    return li;
  }));
}

rpc.connect();
await rpc.ready();
search();
