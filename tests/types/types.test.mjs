// `tsc --noEmit --strict` on the samples against the installed package's
// index.d.ts, as three kinds of project: browser/bundler (DOM lib), Node
// (nodenext, @types/node, ESM and CommonJS require) and Cloudflare Workers
// (@cloudflare/workers-types). Each sample also holds `@ts-expect-error`
// lines, which fail the check if the types stop rejecting what they should.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { promisify } from "node:util";

const root = fileURLToPath(new URL("../..", import.meta.url));
const tsc = `${root}/node_modules/typescript/bin/tsc`;

for (const project of ["browser", "node", "worker"]) {
  test(`tsc --noEmit --strict: ${project} project`, async () => {
    const config = `tests/types/tsconfig.${project}.json`;
    try {
      await promisify(execFile)(process.execPath, [tsc, "-p", config], { cwd: root });
    } catch (error) {
      assert.fail(`${config}:\n${error.stdout}${error.stderr}`);
    }
  });
}
