// One cold start in a fresh Node process: import the library, construct a
// client, get the first token from the stand-in. Times are ms from this
// process's time origin (process start), so `firstTokenAt` includes Node's
// own bootstrap; `import`, `construct` and `firstToken` are the phases.
//
// Usage: node lib/cold-node.mjs ours|oauth2fetch|baseline STANDIN_URL

// Self-contained on purpose: nothing but the library under test is imported.
const CLIENT_ID = "demo-client";
const CLIENT_SECRET = "demo-secret";
const TOKEN_PATH = "/oauth2/access_token";
const report = (result) => {
  process.stdout.write(`@@bench-result ${JSON.stringify(result)}\n`);
  process.exit(0); // a pipe write is synchronous on Linux
};

const [lib, url] = process.argv.slice(2);
const t0 = performance.now();
let token;
let t1;
let t2;
if (lib === "ours") {
  const { TokenManager } = await import("echovideo-auth");
  t1 = performance.now();
  const tm = new TokenManager({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, baseUrl: url });
  t2 = performance.now();
  token = await tm.getAccessToken();
} else if (lib === "oauth2fetch") {
  const { OAuth2Client, OAuth2Fetch } = await import("@badgateway/oauth2-client");
  t1 = performance.now();
  const client = new OAuth2Client({ server: url, tokenEndpoint: TOKEN_PATH, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  const of = new OAuth2Fetch({ client, getNewToken: () => client.clientCredentials(), scheduleRefresh: false });
  t2 = performance.now();
  token = (await of.getToken()).accessToken;
} else if (lib === "baseline") {
  // Node's own cost: no import, one plain fetch of a token (undici's first use).
  t1 = t2 = performance.now();
  const response = await fetch(url + TOKEN_PATH, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: CLIENT_ID, client_secret: CLIENT_SECRET }),
  });
  token = (await response.json()).access_token;
} else {
  throw new Error(`unknown library ${lib}`);
}
const t3 = performance.now();
if (typeof token !== "string" || token.length < 20) throw new Error("no token");
report({
  startToImport: t0,
  import: t1 - t0,
  construct: t2 - t1,
  firstToken: t3 - t2,
  importToToken: t3 - t0,
  firstTokenAt: t3,
});
