// Type test of `require("echovideo-auth")` from CommonJS (TypeScript 5.8+ with
// `module: nodenext` types Node's require(esm)).
import echovideo = require("echovideo-auth");

const tm: echovideo.TokenManager = new echovideo.TokenManager({ clientId: "client", storage: echovideo.memoryStorage() });
export const token: Promise<string> = tm.getAccessToken();
