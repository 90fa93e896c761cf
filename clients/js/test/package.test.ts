// The package as it is published: `dist/index.js` (built by `npm run build`) exports SpoolClient and its
// stores, the version is package.json's, and nothing is needed at run time.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { VERSION } from "../src/version.js";

const root = new URL("../../", import.meta.url); // build/test/ -> the package
const manifest = JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as { version: string; dependencies?: object; devDependencies: { [name: string]: string } };

test("dist/index.js is an ES module exporting SpoolClient and the stores, with its types", async () => {
  const url = new URL("dist/index.js", root);
  const dist = (await import(url.href).catch((error: unknown) => assert.fail(`${String(error)}: run npm run build first`))) as { [name: string]: unknown };
  for (const name of ["SpoolClient", "memoryStorage", "indexedDBStorage", "asyncStorage", "browserPage", "appStatePage"]) {
    assert.equal(typeof dist[name], "function", name);
  }
  assert.match(readFileSync(new URL("dist/index.d.ts", root), "utf8"), /SpoolClient/);
});

test("the version is package.json's, and there is no runtime dependency; dev dependencies are pinned", () => {
  assert.equal(VERSION, manifest.version);
  assert.deepEqual(manifest.dependencies ?? {}, {});
  for (const [name, range] of Object.entries(manifest.devDependencies)) assert.match(range, /^\d+\.\d+\.\d+$/, name);
});
