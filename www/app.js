// The demo page: one TokenManager, its tokens kept in localStorage, its
// events on a timeline. Talks to the local stand-in by default.
import { TokenManager } from "echovideo-auth";

const $ = (id) => document.getElementById(id);
const STORAGE_KEY = "echovideo-auth-demo";
const config = await (await fetch("/config.json")).json();

/** Storage callbacks on localStorage: what a page would write itself. */
const storage = {
  load: () => JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "null"),
  save: (set) => localStorage.setItem(STORAGE_KEY, JSON.stringify(set)),
  clear: () => localStorage.removeItem(STORAGE_KEY),
};

const form = $("settings");
form.baseUrl.value = config.standinUrl;
form.clientId.value = "demo-client";
form.clientSecret.value = "demo-secret";

let manager;
let token = null;

function log(text, kind = "info") {
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  $("events").prepend(item);
}

function create() {
  manager?.dispose();
  token = null;
  manager = new TokenManager({
    baseUrl: form.baseUrl.value,
    clientId: form.clientId.value,
    clientSecret: form.clientSecret.value || undefined,
    refreshMarginSeconds: 10,
    storage,
    onRefresh: (event) => log(`new token set: ${event.source}${event.grant ? ` (${event.grant})` : ""}`),
    onError: (error) => log(`background error: ${error.code}: ${error.message}`, "error"),
  });
}

async function act(label, action) {
  try {
    await action();
  } catch (error) {
    log(`${label} failed: ${error.code ?? error.name}: ${error.message}`, "error");
  }
  render();
}

function render() {
  if (!manager) return;
  const info = manager.info();
  $("state").textContent = info.state;
  $("expires").textContent = info.expiresAt ? `${Math.max(0, Math.round((info.expiresAt - Date.now()) / 1000))} s` : "–";
  $("grant").textContent = info.lastGrant ?? "–";
  $("token").textContent = token ? `${token.slice(0, 12)}…` : "–";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  act("apply", async () => {
    create();
    log("settings applied");
  });
});
$("get").addEventListener("click", () => act("get token", async () => {
  token = await manager.getAccessToken();
  log("getAccessToken() resolved");
}));
$("refresh").addEventListener("click", () => act("refresh", async () => {
  token = await manager.refresh();
  log("refresh() resolved");
}));
$("call").addEventListener("click", () => act("API call", async () => {
  const response = await fetch(`${form.baseUrl.value}/public/api/v1/courses`, {
    headers: { Authorization: `Bearer ${await manager.getAccessToken()}` },
  });
  const out = $("api");
  out.hidden = false;
  out.textContent = `${response.status}\n${await response.text()}`;
  log(`API answered ${response.status}`);
}));
$("fault").addEventListener("click", () => act("fault", async () => {
  await fetch(`${form.baseUrl.value}/__standin/fault`, { method: "POST", body: JSON.stringify({ kind: "status", status: 500 }) });
  log("the stand-in will fail the next token request with 500");
}));
$("clear").addEventListener("click", () => act("clear", async () => {
  await manager.clear();
  token = null;
  log("cleared");
}));

create();
render();
setInterval(render, 1000);
document.body.dataset.ready = "true";
