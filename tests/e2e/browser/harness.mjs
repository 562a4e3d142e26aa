// What the tests in this folder share: the stack's settings (set by
// tests/e2e/run), Debian's Chromium driven by playwright-core with a profile
// of its own, pages that record what a person would call breakage, axe-core,
// screenshots into $STEWARD_ARTIFACTS, and the researcher's REST calls through
// Envoy. Each test file keeps its own helpers and its own waits.

import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

/** The environment variable `name`, which tests/e2e/run sets. */
export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through tests/e2e/run`);
  return value;
}

export const STEWARD_URL = env("STEWARD_URL");
/** A researcher's token. */
export const TOKEN = env("STEWARD_TEST_TOKEN");
/** Where screenshots go. */
export const ARTIFACTS = env("STEWARD_ARTIFACTS");

/** The repository's root. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const VENV = process.env.STEWARD_VENV || path.join(homedir(), ".cache/steward/venv");
/** The shared venv's Python, run with PYTHON_ENV: the repo's Python client (steward_client) importable. */
export const PYTHON = path.join(VENV, "bin/python");
export const PYTHON_ENV = { ...process.env, PYTHONPATH: path.join(REPO, "clients/python/src") };

/** Long enough for a debug build on two busy cores. */
export const WAIT = { timeout: 30_000 };

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
 * Debian's Chromium (never a downloaded one) with a fresh profile in a
 * temporary folder named `prefix…`: no cookies, cache or service workers from
 * earlier runs, and localStorage that lasts across reloads. `options` go to
 * launchPersistentContext (viewport, isMobile, …). Returns { context, close },
 * where close() ends the browser and removes the profile.
 */
export async function launchChromium(prefix, options = {}) {
  const profile = await mkdtemp(path.join(tmpdir(), prefix));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: CHROMIUM_ARGS,
      ...options,
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Records console errors and uncaught exceptions of `page` as they happen, in
 * the array returned. Console errors matching `except` (a RegExp) are left out.
 */
export function watchProblems(page, { except } = {}) {
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error" && !except?.test(message.text())) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
  return problems;
}

/**
 * A new tab of `context` at `url`, which must answer 200, recording problems
 * (as watchProblems, with `except`) and every request: { page, problems, requests, response }.
 */
export async function openPage(context, url, { except } = {}) {
  const page = await context.newPage();
  const problems = watchProblems(page, { except });
  const requests = [];
  page.on("request", (request) => requests.push(request));
  const response = await page.goto(url);
  assert.equal(response.status(), 200);
  return { page, problems, requests, response };
}

/** axe-core's source, read on first use and evaluated in the page (DevTools evaluation is not subject to the page's CSP). */
let axeSource;

/** Fails on any WCAG 2.x A/AA rule axe-core finds violated on the page. */
export async function assertAccessible(page, where) {
  axeSource ??= await readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];
    const result = await globalThis.axe.run(document, { runOnly: { type: "tag", values: tags } });
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
  assert.deepEqual(violations, [], `${where}: accessibility violations`);
}

/** A full-page screenshot of `page` as $STEWARD_ARTIFACTS/`file`. */
export async function screenshot(page, file) {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true });
}

/**
 * The researcher's calls to a REST surface through Envoy, with the token in
 * `Authorization: ${scheme} …` ("Bearer" for Steward's own APIs, "Token" for
 * portability-server's): api(method, route, body) → { status, body (parsed JSON or null) }.
 */
export function envoyApi(scheme) {
  const envoy = env("ENVOY_URL");
  return async function api(method, route, body) {
    const response = await fetch(`${envoy}${route}`, {
      method,
      headers: { Authorization: `${scheme} ${TOKEN}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };
}

/** From a page that sent the browser to sign in: the sandbox OIDC picker's free entry as `email`. */
export async function signInAs(page, email) {
  await page.waitForURL(/\/sandbox\/oidc\/authorize\?/, WAIT);
  await page.locator('#free-entry input[name="email"]').fill(email);
  await page.locator('#free-entry button[type="submit"]').click();
}

/** Fails when the page is wider than the screen (a phone must not scroll sideways). */
export async function assertNoHorizontalScroll(page, where) {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.ok(scroll <= client, `${where}: page is ${scroll}px wide on a ${client}px screen`);
}
