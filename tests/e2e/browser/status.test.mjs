// The /status page in a real browser (Debian's Chromium, driven by
// playwright-core) against the running stack: health over gRPC-web, WhoAmI for
// a pasted token, readable errors, and no console errors. Leaves screenshots in
// $STEWARD_ARTIFACTS. Run by tests/e2e/suites/browser (`node --test`).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { STEWARD_URL, TOKEN, env, launchChromium, openPage, screenshot } from "./harness.mjs";

const EMAIL = env("STEWARD_TEST_EMAIL");
const ADMIN_TOKEN = env("STEWARD_ADMIN_TOKEN");
/** Set by the suite when the stack has Envoy in front (as production does). */
const ENVOY_URL = process.env.STEWARD_BROWSER_ENVOY ? env("ENVOY_URL") : "";

/** Long enough for a debug build on two busy cores; a healthy answer takes milliseconds. */
const WAIT = { timeout: 15_000 };

let chromium;
let context;

before(async () => {
  // A fresh profile every run: no cookies, cache or service workers from earlier runs.
  chromium = await launchChromium("steward-chromium-", { viewport: { width: 900, height: 900 } });
  ({ context } = chromium);
});

after(async () => {
  await chromium?.close();
});

/**
 * Opens `${base}/status` in a new tab and records what a user would call
 * breakage: console errors, uncaught exceptions, and every request (so the
 * tests can find requests to any other origin).
 */
async function openStatus(base = STEWARD_URL) {
  const { page, problems, requests } = await openPage(context, `${base}/status`);
  return { page, problems, requests };
}

/** The health check as the page shows it, once it has an answer. */
async function healthState(page) {
  const state = page.locator("#health-state");
  await state.and(page.locator(":not([data-state=checking])")).waitFor(WAIT);
  return { text: await state.textContent(), state: await state.getAttribute("data-state") };
}

/** Pastes `token`, submits, and waits for the page's answer (identity or alert). */
async function submitToken(page, token) {
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Show my identity" }).click();
  await page.locator("#whoami-result dl, #whoami-result [role=alert]").first().waitFor(WAIT);
}

/** The identity list the page shows, as { email, name, roles, administrator, … }. */
async function shownIdentity(page) {
  const fields = {};
  for (const dd of await page.locator("#whoami-result dd").all()) {
    fields[await dd.getAttribute("data-field")] = await dd.textContent();
  }
  return fields;
}

test("the page reports the server SERVING, asked over gRPC-web, from its own origin only", async () => {
  const check = context.waitForEvent("response", {
    predicate: (r) => r.url() === `${STEWARD_URL}/grpc.health.v1.Health/Check`,
    ...WAIT,
  });
  const { page, problems, requests } = await openStatus();
  const reply = await check;
  assert.equal(reply.request().method(), "POST");
  assert.match(reply.headers()["content-type"], /^application\/grpc-web/);
  assert.deepEqual(await healthState(page), { text: "SERVING", state: "ok" });
  assert.equal(await page.title(), "API status · Steward");
  const foreign = requests.map((r) => r.url()).filter((url) => !url.startsWith(`${STEWARD_URL}/`));
  assert.deepEqual(foreign, [], "the page must load nothing from other origins");
  assert.deepEqual(problems, []);
  await page.close();
});

test("a pasted token shows the user's email, roles and admin flag", async () => {
  const { page, problems } = await openStatus();
  assert.equal((await healthState(page)).text, "SERVING");

  await submitToken(page, TOKEN);
  const me = await shownIdentity(page);
  assert.equal(me.email, EMAIL);
  assert.match(me.roles, /\bresearcher\b/);
  assert.equal(me.administrator, "no");
  assert.equal(me.account, "person");
  // The token field is a password field: a screenshot or a shoulder never shows it.
  assert.equal(await page.getByLabel("API token").getAttribute("type"), "password");

  await screenshot(page, "status-page.png");
  assert.deepEqual(problems, []);
  await page.close();
});

test("an admin's token, pasted with its scheme and stray spaces, shows admin", async () => {
  const { page, problems } = await openStatus();
  await submitToken(page, `  Bearer ${ADMIN_TOKEN}\n`);
  const me = await shownIdentity(page);
  assert.equal(me.email, "admin@example.org");
  assert.match(me.roles, /\badmin\b/);
  assert.equal(me.administrator, "yes");
  assert.deepEqual(problems, []);
  await page.close();
});

test("a bad token is explained as UNAUTHENTICATED and replaces an earlier identity", async () => {
  const { page, problems } = await openStatus();
  await submitToken(page, TOKEN);
  assert.equal((await shownIdentity(page)).email, EMAIL);

  await submitToken(page, "0".repeat(64));
  const alert = page.locator("#whoami-result [role=alert]");
  await alert.waitFor(WAIT);
  const text = await alert.textContent();
  assert.match(text, /UNAUTHENTICATED/);
  assert.match(text, /did not accept this credential/);
  assert.equal(await page.locator("#whoami-result dl").count(), 0, "the earlier identity must be gone");

  await screenshot(page, "status-page-unauthenticated.png");
  assert.deepEqual(problems, [], "a refused token is an answer, not a console error");
  await page.close();
});

test("text that cannot be a token is refused on the page without a call", async () => {
  const { page, problems } = await openStatus();
  let calls = 0;
  page.on("request", (r) => r.url().includes("/WhoAmI") && calls++);
  await submitToken(page, "not a token");
  assert.match(await page.locator("#whoami-result [role=alert]").textContent(), /That is not a token/);
  assert.equal(calls, 0);
  assert.deepEqual(problems, []);
  await page.close();
});

test("a server that stops answering is shown as unreachable, with the address", async () => {
  const { page, problems } = await openStatus();
  assert.equal((await healthState(page)).text, "SERVING");

  // From here on the connection is refused, as when the server has gone away.
  await page.route("**/grpc.health.v1.Health/Check", (route) => route.abort("connectionrefused"));
  await page.route("**/WhoAmI", (route) => route.abort("connectionrefused"));
  await page.getByRole("button", { name: "Check again" }).click();
  assert.deepEqual(await healthState(page), { text: "Unreachable", state: "bad" });
  const healthAlert = await page.locator("#health-detail [role=alert]").textContent();
  assert.match(healthAlert, new RegExp(`Cannot reach Steward at ${STEWARD_URL}`));

  await submitToken(page, TOKEN);
  assert.match(await page.locator("#whoami-result [role=alert]").textContent(), /Cannot reach Steward/);

  // Chromium itself logs each refused request; the page must add nothing else.
  const fromPage = problems.filter((p) => !/Failed to load resource: net::ERR_CONNECTION_REFUSED/.test(p));
  assert.deepEqual(fromPage, []);
  await page.close();
});

if (ENVOY_URL) {
  test("through Envoy, the page works the same (health and WhoAmI over gRPC-web)", async () => {
    const { page, problems, requests } = await openStatus(ENVOY_URL);
    assert.deepEqual(await healthState(page), { text: "SERVING", state: "ok" });
    await submitToken(page, TOKEN);
    assert.equal((await shownIdentity(page)).email, EMAIL);
    assert.deepEqual(
      requests.map((r) => r.url()).filter((url) => !url.startsWith(`${ENVOY_URL}/`)),
      [],
      "behind Envoy the page must call Envoy's origin, not Steward's",
    );
    assert.deepEqual(problems, []);
    await page.close();
  });
}
