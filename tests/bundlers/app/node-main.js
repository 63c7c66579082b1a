// A Node program bundled by esbuild (platform node): gets a token from the
// stand-in whose URL is the first argument, and prints how many parts it has.
import { TokenManager } from "echovideo-auth";

const tm = new TokenManager({ clientId: "demo-client", clientSecret: "demo-secret", baseUrl: process.argv[2] });
const token = await tm.getAccessToken();
tm.dispose();
console.log(token.split(".").length);
