import { TokenManager } from "echovideo-auth";
import { startStandIn } from "../standin/server.mjs";
const s = await startStandIn({ lifetimeSeconds: 4 });
const tm = new TokenManager({ clientId: "demo-client", clientSecret: "demo-secret", baseUrl: s.url, refreshMarginSeconds: 1 });
console.log(tm.info());
const t = await tm.getAccessToken();
console.log(t.slice(0,20), tm.info(), JSON.stringify(tm));
console.log(s.log());
s.fault({kind:"refuse"});
try { console.log((await tm.refresh()).slice(0,10)); } catch (e) { console.log(e.name, e.code, e.message); }
console.log(s.counts());
try { new TokenManager({clientId:"x", foo:1}) } catch(e) { console.log(e.name, e.code, e.message, e instanceof Error) }
await s.close();
