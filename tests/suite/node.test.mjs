// The shared suite (tests/suite/cases.mjs) in Node, against the installed
// package: once through `import`, and `require("echovideo-auth")` checked in a
// separate CommonJS process (Node's require(esm) of the node entry).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import * as pkg from "echovideo-auth";
import { startStandIn } from "../standin/server.mjs";
import { createSuite } from "./cases.mjs";
import { standinControl } from "./control.mjs";

const standIn = await startStandIn();
after(() => standIn.close());

describe("shared suite in Node (import)", () => {
  const suite = createSuite({ pkg, standinUrl: standIn.url, control: standinControl(standIn.url) });
  for (const { name, run } of suite) test(name, run);
});

describe("require() in Node", () => {
  before(() => standIn.reset());

  test("resolves to the node entry, the same module as import", () => {
    const require = createRequire(import.meta.url);
    assert.match(require.resolve("echovideo-auth"), /node_modules\/echovideo-auth\/node\.js$/);
    assert.equal(require("echovideo-auth").TokenManager, pkg.TokenManager);
  });

  test("a CommonJS program gets a token with require and no init call", async () => {
    const program = `
      const { TokenManager, memoryStorage } = require("echovideo-auth");
      const tm = new TokenManager({ clientId: "demo-client", clientSecret: "demo-secret",
        baseUrl: process.argv[1], storage: memoryStorage() });
      tm.getAccessToken().then((token) => { console.log(token.split(".").length); tm.dispose(); });
    `;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["-e", program, standIn.url], {
      cwd: new URL("../..", import.meta.url),
    });
    assert.equal(stdout.trim(), "3", "printed the parts of a JWT");
    assert.equal(stderr, "", "no warning on stderr");
    assert.equal(standIn.counts().grants.client_credentials, 1);
  });
});
