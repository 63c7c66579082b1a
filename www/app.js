// EchoVideo token inspector: one TokenManager for the configured API client,
// its tokens kept in localStorage through the package's adapter, its life
// shown live (state, countdowns, a timeline of every token request and event).
// Talks to the local EchoVideo stand-in by default.
//
// Never shown, logged or stored by this page: the client secret, the password,
// a full token (except on the user's explicit "Show token").
import { TokenManager, localStorageStorage } from "echovideo-auth";

const $ = (id) => document.getElementById(id);

/** Where the manager keeps its token set (through localStorageStorage). */
const STORAGE_KEY = "echovideo-auth-demo";
/** Where this page keeps its settings: no secret, no password. */
const SETTINGS_KEY = "echovideo-auth-demo:settings";
const TOKEN_PATH = "/oauth2/access_token";
/** A short per-request timeout against the stand-in, so a "Timeout" fault is quick to watch. */
const STANDIN_TIMEOUT_MS = 3000;
const MAX_EVENTS = 300;
const MAX_BODY_CHARS = 20_000;

const DEMO_CLIENT = { clientId: "demo-client", clientSecret: "demo-secret", username: "demo-user", password: "demo-pass" };
const REGIONS = { us: "https://echo360.org", uk: "https://echo360.org.uk", au: "https://echo360.org.au", ca: "https://echo360.ca" };
const GRANT_NAMES = { client_credentials: "client credentials", password: "password", refresh_token: "refresh" };
const STATE_LABELS = {
  unloaded: "no token yet",
  empty: "no token",
  valid: "valid",
  expiring: "expiring soon",
  expired: "expired",
  refreshing: "refreshing…",
  disposed: "disposed",
};

/** The fault toggles: what each queues on the stand-in, and which token requests it applies to. */
const FAULTS = {
  500: { spec: { kind: "status", status: 500 }, grant: null, armed: "the next token request answers 500" },
  429: { spec: { kind: "status", status: 429, retryAfter: 1 }, grant: null, armed: "the next token request answers 429 with Retry-After: 1" },
  invalid_grant: {
    spec: { kind: "oauth", status: 400, error: "invalid_grant", grant: "refresh_token" },
    grant: "refresh_token",
    armed: "the next refresh is refused with invalid_grant",
  },
  timeout: { spec: { kind: "hang" }, grant: null, armed: "the next token request never answers" },
};

// ---- Page configuration from the server -----------------------------------

async function loadConfig() {
  try {
    const response = await fetch("/config.json", { cache: "no-store" });
    if (response.ok) return await response.json();
  } catch {
    // served by something else than www/serve.mjs: the stand-in on its usual port, no relay
  }
  return { standinUrl: "http://127.0.0.1:8787", relayPrefix: null };
}
const config = await loadConfig();

// ---- Settings (persisted without secrets) -------------------------------

const form = $("settings");
/** The form's controls by name (form.elements, so no name can shadow a form property). */
const f = form.elements;
const defaults = () => ({ target: "standin", baseUrl: "", relay: true, clientId: DEMO_CLIENT.clientId, grant: "client_credentials", username: "", lifetime: null });

function loadSettings() {
  try {
    const saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? "null");
    if (saved && typeof saved === "object") return { ...defaults(), ...saved };
  } catch {
    // unreadable: start from the defaults
  }
  return defaults();
}

let settings = loadSettings();
/** Secrets live here and in the form fields only. */
const secrets = { clientSecret: "", password: "" };
if (settings.target === "standin") {
  secrets.clientSecret = settings.clientId === DEMO_CLIENT.clientId ? DEMO_CLIENT.clientSecret : "";
  secrets.password = settings.username === DEMO_CLIENT.username ? DEMO_CLIENT.password : "";
}

function saveSettings() {
  const { target, baseUrl, relay, clientId, grant, username, lifetime } = settings;
  localStorage.setItem(SETTINGS_KEY, JSON.stringify({ target, baseUrl, relay, clientId, grant, username, lifetime }));
}

/** Where the manager's requests go for the given settings. */
function connectionFor(s) {
  if (s.target === "standin") {
    return { baseUrl: config.standinUrl, apiBase: config.standinUrl, standin: true, label: "local stand-in", host: config.standinUrl };
  }
  if (Object.hasOwn(REGIONS, s.target)) {
    const host = new URL(REGIONS[s.target]).host;
    if (s.relay && config.relayPrefix) {
      const base = new URL(`${config.relayPrefix}${s.target}`, location.href).href;
      return { baseUrl: base, apiBase: base, standin: false, label: `${s.target.toUpperCase()} region via the demo server`, host };
    }
    return { region: s.target, apiBase: REGIONS[s.target], standin: false, label: `${s.target.toUpperCase()} region`, host };
  }
  const base = s.baseUrl.trim().replace(/\/+$/, "");
  let standin = false;
  let host = base;
  try {
    const url = new URL(base);
    host = url.host;
    standin = url.origin === new URL(config.standinUrl).origin && (url.pathname === "/" || url.pathname === "");
  } catch {
    // the manager reports the bad URL as invalid_config
  }
  return { baseUrl: base, apiBase: base, standin, label: standin ? "local stand-in" : "custom server", host };
}

function fillForm() {
  f.server.value = settings.target;
  f.baseUrl.value = settings.baseUrl;
  f.relay.checked = settings.relay;
  f.clientId.value = settings.clientId;
  f.clientSecret.value = secrets.clientSecret;
  f.grant.value = settings.grant;
  f.username.value = settings.username;
  f.password.value = secrets.password;
  if (settings.lifetime !== null) f.lifetime.value = settings.lifetime;
  updateConditionalFields();
}

/** Shows the fields that apply to the chosen server and grant; hidden ones are disabled (so not validated). */
function updateConditionalFields() {
  const target = f.server.value;
  const isRegion = Object.hasOwn(REGIONS, target);
  const standin = target === "standin"
    || (target === "custom" && connectionFor({ target, baseUrl: f.baseUrl.value }).standin);
  const show = { custom: target === "custom", region: isRegion, password: f.grant.value === "password", standin };
  for (const element of form.querySelectorAll("[data-when]")) {
    const visible = show[element.dataset.when];
    element.hidden = !visible;
    for (const input of element.querySelectorAll("input, select")) input.disabled = !visible;
  }
}

f.server.addEventListener("change", () => {
  const target = f.server.value;
  // The demo client exists only on the stand-in: fill it in there, take it out elsewhere.
  if (target === "standin") {
    if (f.clientId.value === "") f.clientId.value = DEMO_CLIENT.clientId;
    if (f.clientSecret.value === "" && f.clientId.value === DEMO_CLIENT.clientId) f.clientSecret.value = DEMO_CLIENT.clientSecret;
  } else if (f.clientId.value === DEMO_CLIENT.clientId) {
    f.clientId.value = "";
    f.clientSecret.value = "";
    if (f.username.value === DEMO_CLIENT.username) {
      f.username.value = "";
      f.password.value = "";
    }
  }
  updateConditionalFields();
});
form.addEventListener("change", (event) => {
  if (event.target.name === "grant" && f.grant.value === "password" && f.server.value === "standin" && f.username.value === "") {
    f.username.value = DEMO_CLIENT.username;
    f.password.value = DEMO_CLIENT.password;
  }
  if (event.target.name === "grant" || event.target.name === "baseUrl") updateConditionalFields();
});
f.baseUrl.addEventListener("input", updateConditionalFields);

// ---- Timeline --------------------------------------------------------------

const events = $("events");
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const clockTime = (ms) => timeFormat.format(new Date(ms));

/**
 * Adds a timeline entry (newest first) and returns a handle to update it.
 * `parts` are strings and { code } objects (shown as code); never tokens or secrets.
 */
function log(tag, parts, kind = tag) {
  const item = document.createElement("li");
  item.className = `event event-${kind}`;
  const now = Date.now();
  const time = document.createElement("time");
  time.dateTime = new Date(now).toISOString();
  time.textContent = `${clockTime(now)}.${String(now % 1000).padStart(3, "0")}`;
  const label = document.createElement("span");
  label.className = "tag";
  label.textContent = tag;
  const text = document.createElement("span");
  text.className = "text";
  item.append(time, label, text);
  const handle = {
    item,
    set(newParts, newKind) {
      text.replaceChildren(...[].concat(newParts).map((part) => {
        if (typeof part === "string") return document.createTextNode(part);
        const code = document.createElement("code");
        code.textContent = part.code;
        return code;
      }));
      if (newKind) item.className = `event event-${newKind}`;
      return handle;
    },
    tag(newTag) {
      label.textContent = newTag;
      return handle;
    },
  };
  handle.set(parts);
  events.prepend(item);
  while (events.children.length > MAX_EVENTS) events.lastElementChild.remove();
  return handle;
}

/** A TokenError in words: its code, HTTP status and the server's description. */
function describeError(error) {
  const parts = [{ code: error?.code ?? error?.name ?? "error" }];
  if (error?.status) parts.push(` (HTTP ${error.status})`);
  if (error?.description) parts.push(`: ${error.description}`);
  else if (error?.message) parts.push(`: ${error.message}`);
  if (error?.retryAfterMs !== undefined && error?.retryAfterMs !== null) parts.push(`, retry after ${formatSeconds(error.retryAfterMs)}`);
  return parts;
}

const formatSeconds = (ms) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

$("clear-log").addEventListener("click", () => events.replaceChildren());

// ---- The logging fetch: every token request and API call on the timeline --

/** The failed token request the next one retries, if any. */
let lastFailure = null;

function grantOf(body) {
  try {
    return new URLSearchParams(typeof body === "string" ? body : "").get("grant_type");
  } catch {
    return null;
  }
}

/**
 * The `fetch` option: calls the real fetch and writes each request and its
 * answer on the timeline. Reads the `error` field of failed token answers
 * (never a successful body, which holds tokens).
 */
function loggingFetch(input, init) {
  const request = input instanceof Request ? input : null;
  const url = new URL(request ? request.url : String(input), location.href);
  const method = (init?.method ?? request?.method ?? "GET").toUpperCase();
  if (url.pathname.endsWith(TOKEN_PATH)) return tokenRequest(input, init, url);
  return apiRequest(input, init, url, method);
}

async function tokenRequest(input, init, url) {
  const grant = grantOf(init?.body);
  const grantName = GRANT_NAMES[grant] ?? grant ?? "unknown grant";
  consumeFault(grant);
  let tag = "request";
  const prefix = [];
  if (lastFailure) {
    const waited = performance.now() - lastFailure.at;
    if (lastFailure.grant === grant) {
      lastFailure.retries += 1;
      tag = "retry";
      prefix.push(`Retry ${lastFailure.retries} after ${formatSeconds(waited)}: `);
    } else {
      tag = "fallback";
      prefix.push(`After the failed ${GRANT_NAMES[lastFailure.grant] ?? "token"} request, a ${grantName} grant: `);
    }
  }
  const entry = log(tag, [...prefix, `token request (${grantName}) to ${url.host} …`], "pending");
  const started = performance.now();
  const took = () => `${Math.round(performance.now() - started)} ms`;
  let response;
  try {
    response = await fetch(input, init);
  } catch (error) {
    const aborted = error?.name === "AbortError" || init?.signal?.aborted;
    const why = aborted
      ? [`no answer: timed out after ${formatSeconds(performance.now() - started)}, aborted`]
      : [`network error (${error?.message ?? error})`];
    entry.set([...prefix, `token request (${grantName}) → `, ...why], "failed");
    noteFailure(grant);
    scheduleCounts();
    throw error;
  }
  const status = response.type === "opaqueredirect" ? "redirect (not followed)" : String(response.status);
  entry.set([...prefix, `token request (${grantName}) → ${status} in ${took()}`], response.ok ? "ok" : "failed");
  if (response.ok) {
    lastFailure = null;
  } else {
    noteFailure(grant);
    const retryAfter = response.headers.get("retry-after");
    // Read the OAuth error code from a copy, without holding up the manager.
    response.clone().text().then((text) => {
      let code = null;
      try {
        const body = JSON.parse(text);
        if (typeof body?.error === "string") code = body.error;
      } catch {
        // not JSON: the status says it all
      }
      const extra = [];
      if (code) extra.push(" ", { code });
      if (retryAfter !== null) extra.push(` (Retry-After: ${retryAfter})`);
      if (extra.length > 0) entry.set([...prefix, `token request (${grantName}) → ${status}`, ...extra, ` in ${took()}`]);
    }, () => {});
  }
  scheduleCounts();
  return response;
}

function noteFailure(grant) {
  if (lastFailure?.grant === grant) lastFailure.at = performance.now();
  else lastFailure = { grant, at: performance.now(), retries: 0 };
}

async function apiRequest(input, init, url, method) {
  const path = url.pathname + url.search;
  const entry = log("api", [`${method} ${path} …`], "pending");
  const started = performance.now();
  try {
    const response = await fetch(input, init);
    entry.set([`${method} ${path} → ${response.status} in ${Math.round(performance.now() - started)} ms`], response.ok ? "api" : "failed");
    scheduleCounts();
    return response;
  } catch (error) {
    entry.set([`${method} ${path} → network error (${error?.message ?? error})`], "failed");
    throw error;
  }
}

// ---- The manager ------------------------------------------------------------

let tm = null;
let connection = null;
/** The last access token this page was handed (shown masked), or null. */
let token = null;

function onRefresh({ grant, expiresAt, source }) {
  const expires = ` Expires at ${clockTime(expiresAt)}.`;
  if (source === "network" && grant === "refresh_token") {
    log("rotation", ["Rotation saved: a new access and refresh token, stored in localStorage before use.", expires]);
  } else if (source === "network") {
    log("grant", [`New token set from a ${GRANT_NAMES[grant] ?? grant} grant, saved in localStorage.`, expires]);
  } else if (source === "storage") {
    log("storage", ["Adopted the token set from localStorage (saved earlier or by another tab): no request.", expires]);
  } else {
    log("import", ["Imported token set saved.", expires]);
  }
  lastFailure = null;
  syncToken();
  render();
}

function onError(error) {
  log("error", ["Reported by onError: ", ...describeError(error), ...corsHint(error)]);
  lastFailure = null;
  render();
}

function corsHint(error) {
  if (error?.code !== "network" || connection?.standin || !connection?.region) return [];
  return [". A page's request to another host fails like this when the host does not allow cross-origin requests: try “Send requests through this demo server” in the settings."];
}

/** The options for the current settings; `forDisplay` masks the secrets. */
function managerOptions(forDisplay = false) {
  const mask = (value) => (forDisplay ? "•".repeat(Math.min(value.length, 12)) : value);
  const options = { clientId: settings.clientId };
  if (secrets.clientSecret) options.clientSecret = mask(secrets.clientSecret);
  if (connection.region) options.region = connection.region;
  else options.baseUrl = connection.baseUrl;
  if (settings.grant === "password") {
    options.grant = "password";
    options.username = settings.username;
    options.password = mask(secrets.password);
  }
  if (connection.standin) options.timeoutMs = STANDIN_TIMEOUT_MS;
  return options;
}

function showCode() {
  const lines = Object.entries(managerOptions(true)).map(([key, value]) => `  ${key}: ${JSON.stringify(value)},`);
  $("code").textContent = [
    'import { TokenManager, localStorageStorage } from "echovideo-auth";',
    "",
    "const tm = new TokenManager({",
    ...lines,
    `  storage: localStorageStorage(${JSON.stringify(STORAGE_KEY)}),`,
    "  fetch: loggingFetch, // writes each request on the timeline",
    "  onRefresh: (event) => log(event), // { grant, expiresAt, source }",
    "  onError: (error) => log(error), // a TokenError with a code",
    "});",
  ].join("\n");
}

/** Replaces the manager with one for the current settings. Throws a TokenError (invalid_config). */
function createManager() {
  tm?.dispose();
  tm = null;
  token = null;
  revealed = false;
  lastFailure = null;
  connection = connectionFor(settings);
  tm = new TokenManager({
    ...managerOptions(),
    storage: localStorageStorage(STORAGE_KEY),
    fetch: loggingFetch,
    onRefresh,
    onError,
  });
  showCode();
}

/** The saved token set, if it belongs to the current client and server (read for its times only). */
function savedSetFor() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "null");
    if (!saved || saved.clientId !== settings.clientId) return null;
    const expected = connection.region ? REGIONS[connection.region] : connection.baseUrl;
    return String(saved.baseUrl).replace(/\/+$/, "") === expected.replace(/\/+$/, "") ? saved : null;
  } catch {
    return null;
  }
}

/** On load and after applying settings: take up a saved token set (no grant if there is none). */
async function restore() {
  const saved = savedSetFor();
  if (!saved) return;
  const expired = saved.expiresAt <= Date.now();
  log("info", [`Found a saved token set in localStorage${expired ? " (expired: its refresh token renews it)" : ""}.`]);
  await act("Restore", async () => {
    token = await tm.getAccessToken();
  });
}

/** Brings the shown token up to date after a background renewal, without a request. */
async function syncToken() {
  const manager = tm;
  await Promise.resolve();
  // "valid" hands out the held token; "refreshing" joins the renewal in flight. Neither sends a request.
  if (manager !== tm || !["valid", "refreshing"].includes(manager.info().state)) return;
  try {
    const fresh = await manager.getAccessToken();
    if (manager === tm) token = fresh;
  } catch {
    // the state shows what went wrong
  }
  render();
}

/** Runs a user action; a rejection goes on the timeline with its code. */
async function act(label, action) {
  try {
    await action();
  } catch (error) {
    log("error", [`${label} failed: `, ...describeError(error), ...corsHint(error)]);
    lastFailure = null;
  }
  render();
}

// ---- Rendering --------------------------------------------------------------

let revealed = false;
const stateBadge = $("state");
const revealButton = $("reveal");
let lifetimeCache = { expiresAt: null, obtainedAt: null };

function duration(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

function setText(id, text) {
  const element = $(id);
  if (element.textContent !== text) element.textContent = text;
}

/** A countdown, or a muted placeholder when there is nothing to count down to. */
function setClock(id, text) {
  setText(id, text ?? "--:--");
  $(id).classList.toggle("none", text === null);
}

function render() {
  if (!tm) return;
  const info = tm.info();
  const now = Date.now();
  if (stateBadge.dataset.state !== info.state) {
    stateBadge.dataset.state = info.state;
    stateBadge.textContent = STATE_LABELS[info.state] ?? info.state;
  }

  if (info.expiresAt) {
    const left = info.expiresAt - now;
    setClock("expires-in", left > 0 ? duration(left) : "expired");
    setText("expires-at", `at ${clockTime(info.expiresAt)}`);
  } else {
    setClock("expires-in", null);
    setText("expires-at", "");
  }
  if (info.nextRefreshAt) {
    const left = info.nextRefreshAt - now;
    setClock("refresh-in", left > 0 ? duration(left) : "due now");
    setText("refresh-at", `at ${clockTime(info.nextRefreshAt)}`);
  } else {
    setClock("refresh-in", null);
    setText("refresh-at", info.expiresAt ? "none scheduled" : "");
  }
  renderLifebar(info, now);

  setText("grant", info.lastGrant ? `${GRANT_NAMES[info.lastGrant] ?? info.lastGrant} grant` : info.expiresAt ? "saved set" : "–");
  setText("has-refresh", info.expiresAt || info.hasRefreshToken ? (info.hasRefreshToken ? "held (single use, rotates)" : "none") : "–");

  const shown = token === null ? "–" : revealed ? token : `${token.slice(0, 8)}…`;
  setText("token", shown);
  $("token").classList.toggle("revealed", revealed && token !== null);
  revealButton.disabled = token === null;
  $("copy").disabled = token === null;
  revealButton.setAttribute("aria-pressed", String(revealed && token !== null));
}

function renderLifebar(info, now) {
  const bar = $("lifebar");
  if (!info.expiresAt) {
    bar.hidden = true;
    return;
  }
  if (lifetimeCache.expiresAt !== info.expiresAt) {
    const saved = savedSetFor();
    lifetimeCache = { expiresAt: info.expiresAt, obtainedAt: saved?.expiresAt === info.expiresAt ? saved.obtainedAt : null };
  }
  const { obtainedAt } = lifetimeCache;
  if (!obtainedAt || info.expiresAt <= obtainedAt) {
    bar.hidden = true;
    return;
  }
  bar.hidden = false;
  const span = info.expiresAt - obtainedAt;
  const used = Math.min(1, Math.max(0, (now - obtainedAt) / span));
  $("lifebar-used").style.width = `${(used * 100).toFixed(2)}%`;
  const mark = $("lifebar-mark");
  if (info.nextRefreshAt && info.nextRefreshAt < info.expiresAt) {
    mark.hidden = false;
    mark.style.left = `${(Math.max(0, (info.nextRefreshAt - obtainedAt) / span) * 100).toFixed(2)}%`;
  } else {
    mark.hidden = true;
  }
}

function renderTarget() {
  const who = `${settings.clientId || "no client id"} · ${GRANT_NAMES[settings.grant]}`;
  const where = connection.standin ? `Local stand-in (${connection.host})` : `${connection.label}: ${connection.host}`;
  $("target-summary").textContent = `${where} · ${who}`;
  $("faults").hidden = !connection.standin;
  document.body.dataset.target = connection.standin ? "standin" : "remote";
}

// ---- The stand-in's controls ----------------------------------------------

/** The faults armed on the stand-in, in the order queued. */
let armed = [];

async function control(action, body) {
  const response = await fetch(`${config.standinUrl}/__standin/${action}`, {
    method: body === undefined ? "GET" : "POST",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`stand-in ${action}: HTTP ${response.status}`);
  return response.json();
}

/** A token request took the first armed fault that applies to its grant, as the stand-in does. */
function consumeFault(grant) {
  if (!connection?.standin) return;
  const index = armed.findIndex((key) => FAULTS[key].grant === null || FAULTS[key].grant === grant);
  if (index === -1) return;
  armed.splice(index, 1);
  renderFaults();
}

function renderFaults() {
  for (const button of document.querySelectorAll("[data-fault]")) {
    button.setAttribute("aria-pressed", String(armed.includes(button.dataset.fault)));
  }
}

async function toggleFault(key) {
  if (armed.includes(key)) {
    armed = armed.filter((k) => k !== key);
    await control("clear-faults", {});
    for (const k of armed) await control("fault", FAULTS[k].spec);
    log("fault", [`Disarmed: ${FAULTS[key].armed}.`]);
  } else {
    await control("fault", FAULTS[key].spec);
    armed.push(key);
    log("fault", [`Armed on the stand-in: ${FAULTS[key].armed}.`]);
  }
  renderFaults();
}

let countsPending = false;
function scheduleCounts() {
  if (countsPending || !connection?.standin) return;
  countsPending = true;
  setTimeout(async () => {
    countsPending = false;
    try {
      const counts = await control("counts");
      const g = counts.grants;
      const n = (count, one, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;
      $("counts").textContent = `The stand-in has seen ${n(counts.requests, "token request")}: `
        + `${n(g.client_credentials, "client-credentials grant")}, ${n(g.password, "password grant")}, ${n(g.refresh_token, "refresh", "refreshes")}; `
        + `${n(counts.reuse, "reused refresh token")}, ${n(counts.faultsServed, "fault")} served, ${n(counts.apiCalls, "API call")}.`;
    } catch {
      $("counts").textContent = "";
    }
  }, 50);
}

// ---- Wiring -----------------------------------------------------------------

$("get").addEventListener("click", () => act("Get token", async () => {
  token = await tm.getAccessToken();
}));
$("refresh").addEventListener("click", () => act("Refresh", async () => {
  token = await tm.refresh();
}));
$("clear").addEventListener("click", () => act("Clear", async () => {
  await tm.clear();
  token = null;
  revealed = false;
  log("clear", ["Cleared: tokens forgotten in memory and in localStorage (logout)."]);
}));
revealButton.addEventListener("click", () => {
  revealed = !revealed;
  render();
});
$("copy").addEventListener("click", async () => {
  if (token === null) return;
  try {
    await navigator.clipboard.writeText(token);
    log("info", ["Access token copied to the clipboard."]);
  } catch {
    log("info", ["The browser did not allow copying: use “Show token” and select it."]);
  }
});

$("api-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const path = $("api-path").value.trim();
  act("API call", async () => {
    if (!path.startsWith("/")) throw Object.assign(new Error("the path must start with /"), { name: "bad path" });
    const started = performance.now();
    const response = await tm.fetch(`${connection.apiBase}${path}`);
    const text = await response.text();
    let body = text;
    try {
      body = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // not JSON: shown as it is
    }
    if (body.length > MAX_BODY_CHARS) body = `${body.slice(0, MAX_BODY_CHARS)}\n… (${text.length} characters in all)`;
    $("api-result").hidden = false;
    const status = $("api-status");
    status.textContent = `${response.status} ${response.statusText}`.trim();
    status.dataset.ok = String(response.ok);
    $("api-meta").textContent = `${Math.round(performance.now() - started)} ms · ${response.headers.get("content-type") ?? "no content type"}`;
    $("api-body").textContent = body || "(empty body)";
  });
});

for (const button of document.querySelectorAll("[data-fault]")) {
  button.addEventListener("click", () => act("Fault", () => toggleFault(button.dataset.fault)));
}
$("revoke").addEventListener("click", () => act("Revoke", async () => {
  const { revoked } = await control("revoke", {});
  log("fault", [`The stand-in revoked ${revoked} access token${revoked === 1 ? "" : "s"}: the API now answers 401 to them.`]);
}));

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (!form.reportValidity()) return;
  apply(readForm());
});
$("defaults").addEventListener("click", () => {
  settings = defaults();
  settings.lifetime = Number(f.lifetime.value) || null;
  secrets.clientSecret = DEMO_CLIENT.clientSecret;
  secrets.password = "";
  fillForm();
  apply(readForm());
});

function readForm() {
  const lifetime = Number(f.lifetime.value);
  return {
    next: {
      target: f.server.value,
      baseUrl: f.baseUrl.value.trim(),
      relay: f.relay.checked,
      clientId: f.clientId.value.trim(),
      grant: f.grant.value,
      username: f.username.value,
      lifetime: Number.isFinite(lifetime) && lifetime > 0 ? lifetime : settings.lifetime,
    },
    nextSecrets: { clientSecret: f.clientSecret.value, password: f.password.value },
  };
}

async function apply({ next, nextSecrets }) {
  const error = $("settings-error");
  const previous = { settings, secrets: { ...secrets } };
  settings = next;
  Object.assign(secrets, nextSecrets);
  try {
    createManager();
  } catch (failure) {
    settings = previous.settings;
    Object.assign(secrets, previous.secrets);
    error.hidden = false;
    error.textContent = `Not applied: ${failure.code ?? failure.name}: ${failure.message}`;
    log("error", ["Settings not applied: ", ...describeError(failure)]);
    createManager();
    return;
  }
  error.hidden = true;
  error.textContent = "";
  saveSettings();
  renderTarget();
  if (connection.standin && settings.lifetime) {
    await act("Setting the lifetime", () => control("configure", { lifetimeSeconds: settings.lifetime }));
  }
  log("info", [`Settings applied: ${$("target-summary").textContent}${connection.standin && settings.lifetime ? `, tokens for ${settings.lifetime} s` : ""}.`]);
  render();
  await restore();
  scheduleCounts();
}

// Another tab logged out: the manager forgets its tokens (through the adapter's subscription); say so.
window.addEventListener("storage", (event) => {
  if (event.key === STORAGE_KEY && event.newValue === null && event.oldValue !== null) {
    token = null;
    revealed = false;
    log("clear", ["Another tab cleared the tokens (logout): this page forgot them too."]);
    render();
  }
});

// ---- Start --------------------------------------------------------------------

async function start() {
  connection = connectionFor(settings);
  if (connection.standin) {
    try {
      // Faults armed by an earlier visit would fire unannounced: start with none.
      await control("clear-faults", {});
      // The field shows what the stand-in does now (its --lifetime, or the last Apply).
      settings.lifetime = (await control("configure", {})).lifetimeSeconds;
    } catch {
      log("error", [`The local stand-in does not answer at ${config.standinUrl}: is `, { code: "npm run demo" }, " still running?"]);
    }
  }
  fillForm();
  try {
    createManager();
  } catch (failure) {
    log("error", ["Saved settings rejected: ", ...describeError(failure), ". Back to the stand-in defaults."]);
    settings = defaults();
    secrets.clientSecret = DEMO_CLIENT.clientSecret;
    connection = connectionFor(settings);
    fillForm();
    createManager();
  }
  renderTarget();
  log("info", [`TokenManager ready for ${$("target-summary").textContent}. Token sets are kept in localStorage under `, { code: STORAGE_KEY }, "."]);
  render();
  await restore();
  scheduleCounts();
  setInterval(render, 250);
  document.body.dataset.ready = "true";
}

await start();
