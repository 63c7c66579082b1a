// Type test in a Node project (ESM, `module: nodenext`, @types/node, no DOM
// lib): the same import resolves to the same types.
import { readFileSync } from "node:fs";
import { TokenManager, memoryStorage, type StoredTokenSet, type TokenStorage } from "echovideo-auth";

const fileStorage: TokenStorage = {
  load: () => JSON.parse(readFileSync("tokens.json", "utf8")) as StoredTokenSet,
  save: () => {},
  clear: () => {},
};

export async function main(): Promise<number> {
  const tm = new TokenManager({
    clientId: process.env.ECHO_CLIENT_ID ?? "",
    clientSecret: process.env.ECHO_CLIENT_SECRET,
    storage: process.env.TOKENS_FILE ? fileStorage : memoryStorage(),
    fetch,
  });
  using disposable = tm;
  const response = await disposable.fetch("https://echo360.org/public/api/v1/courses");
  return response.status;
}
