// What the drop-off page tests share (upload_page.test.mjs: tus;
// upload_page_grpc.test.mjs: the chunk RPCs over gRPC-web): the stack's
// settings, a Chromium with its own profile and a folder of test files, pages
// that record problems and requests, axe-core, and the steps a person takes on
// /dropoffs and /upload/{id}.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";

import { chromium } from "playwright-core";

export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through tests/e2e/run`);
  return value;
}

export const STEWARD_URL = env("STEWARD_URL");
export const TOKEN = env("STEWARD_TEST_TOKEN");
export const ARTIFACTS = env("STEWARD_ARTIFACTS");

/** Long enough for a debug build on two busy cores. */
export const WAIT = { timeout: 30_000 };
/** A 20 MiB upload, sealed and hashed by a debug build, plus its finalize job. */
export const UPLOAD_WAIT = { timeout: 180_000 };

/** axe-core's source, evaluated in the page (DevTools evaluation is not subject to the page's CSP). */
const AXE = await readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/**
 * Debian's Chromium with a profile of its own (so localStorage lasts across
 * reloads) and a folder for test files. `makeFile(name, bytes)` writes one and
 * returns { path, bytes, sha256 } (also kept in `made[name]`, so a file chosen
 * again after a reload is the same file). `close()` removes both folders.
 */
export async function startBrowser() {
  await mkdir(ARTIFACTS, { recursive: true });
  const profile = await mkdtemp(path.join(tmpdir(), "steward-chromium-"));
  const files = await mkdtemp(path.join(tmpdir(), "steward-upload-files-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 900, height: 1000 },
  });
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
      await context.close();
      for (const dir of [profile, files]) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A new tab of `context` at `url` that records console errors, uncaught exceptions and every request. */
export async function open(context, url) {
  const page = await context.newPage();
  const problems = [];
  const requests = [];
  page.on("console", (message) => {
    // A refused request or a wrong code is logged by Chromium as a failed resource load.
    if (message.type() === "error" && !/Failed to load resource/.test(message.text())) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
  page.on("request", (request) => requests.push(request));
  const response = await page.goto(url);
  assert.equal(response.status(), 200);
  const csp = response.headers()["content-security-policy"];
  assert.match(csp, /connect-src 'self';/);
  assert.match(csp, /script-src 'self';/);
  return { page, problems, requests };
}

/** Fails on any WCAG 2.x A/AA rule axe-core finds violated on the page. */
export async function assertAccessible(page, where) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];
    const result = await globalThis.axe.run(document, { runOnly: { type: "tag", values: tags } });
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
  assert.deepEqual(violations, [], `${where}: accessibility violations`);
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
