// What the drop-off page tests share (upload_page.test.mjs: tus;
// upload_page_grpc.test.mjs: the chunk RPCs over gRPC-web), beyond
// harness.mjs: a Chromium with a folder of test files, pages whose CSP is
// checked, and the steps a person takes on /dropoffs and /upload/{id}.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { STEWARD_URL, TOKEN, WAIT, launchChromium, openPage } from "./harness.mjs";

/** A 20 MiB upload, sealed and hashed by a debug build, plus its finalize job. */
export const UPLOAD_WAIT = { timeout: 180_000 };

/**
 * Debian's Chromium with a profile of its own (so localStorage lasts across
 * reloads) and a folder for test files. `makeFile(name, bytes)` writes one and
 * returns { path, bytes, sha256 } (also kept in `made[name]`, so a file chosen
 * again after a reload is the same file). `close()` removes both folders.
 */
export async function startBrowser() {
  const chromium = await launchChromium("steward-chromium-", { viewport: { width: 900, height: 1000 } });
  const files = await mkdtemp(path.join(tmpdir(), "steward-upload-files-"));
  const { context } = chromium;
  const made = {};
  return {
    context,
    made,
    async makeFile(name, bytes) {
      const file = path.join(files, name);
      await writeFile(file, bytes);
      made[name] = { path: file, bytes, sha256: createHash("sha256").update(bytes).digest("hex") };
      return made[name];
    },
    async close() {
      await chromium.close();
      await rm(files, { recursive: true, force: true });
    },
  };
}

/**
 * A new tab of `context` at `url` that records console errors, uncaught
 * exceptions and every request; the page may connect only to its own origin.
 */
export async function open(context, url) {
  // A refused request or a wrong code is logged by Chromium as a failed resource load.
  const { page, problems, requests, response } = await openPage(context, url, { except: /Failed to load resource/ });
  const csp = response.headers()["content-security-policy"];
  assert.match(csp, /connect-src 'self';/);
  assert.match(csp, /script-src 'self';/);
  return { page, problems, requests };
}

/** Enters `code` on the uploader's page and waits for the page's answer. */
export async function enterCode(page, code) {
  await page.getByRole("textbox", { name: "Upload code" }).fill(code);
  await page.getByRole("button", { name: "Open drop-off" }).click();
  await page.locator("#code-status .ok, #code-status [role=alert]").first().waitFor(WAIT);
}

/** The row of `name` on the uploader's page. */
export function row(page, name) {
  return page.locator(`li.upload[data-name="${name}"]`);
}

export async function waitForState(page, name, state, options = UPLOAD_WAIT) {
  await page.locator(`li.upload[data-name="${name}"][data-state="${state}"]`).waitFor(options);
}

/** Fills the /dropoffs form (label → value) with the researcher's token and returns { id, link, code }. */
export async function createOnPage(page, fields) {
  await page.getByLabel("API token").fill(TOKEN);
  for (const [label, value] of Object.entries(fields)) await page.getByLabel(label, { exact: true }).fill(value);
  await page.getByRole("button", { name: "Create drop-off" }).click();
  await page.locator("#new-code, #create-result [role=alert]").first().waitFor(WAIT);
  const link = await page.locator("#new-link").getAttribute("href");
  const code = await page.locator("#new-code").textContent();
  assert.match(link, new RegExp(`^${STEWARD_URL}/upload/[0-9a-f-]{36}$`));
  assert.match(code, /^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$/);
  return { id: link.split("/").pop(), link, code };
}

/**
 * Holds every request to `url` (a route pattern) that `counts` after the first
 * `pass` of them: never answered, as a network that stalls (a reload cancels
 * it). `heldNow` resolves when one is held.
 */
export async function holdRequestsAfter(page, url, pass, counts = () => true) {
  let seen = 0;
  let held;
  const heldNow = new Promise((resolve) => {
    held = resolve;
  });
  await page.route(url, async (route) => {
    if (counts(route.request()) && ++seen > pass) {
      held();
      return;
    }
    await route.continue();
  });
  return { heldNow };
}

/** A drop-off made on a fresh /dropoffs tab of `context`: { id, link, code }. */
export async function createDropOff(context, fields) {
  const { page, problems } = await open(context, `${STEWARD_URL}/dropoffs`);
  const dropoff = await createOnPage(page, fields);
  assert.deepEqual(problems, []);
  await page.close();
  return dropoff;
}
