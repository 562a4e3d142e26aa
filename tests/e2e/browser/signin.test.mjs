// Sign-in in a real browser (Debian's Chromium, driven by playwright-core)
// against the running stack's sandbox OIDC provider (spec
// authorization_dataset.md §3.5, §4.2, §4.5): the account picker, the
// dsg_token cookie's attributes as the browser stored them, the redirect
// allow-list, and logout. Leaves screenshots in $STEWARD_ARTIFACTS. Run by
// tests/e2e/suites/browser (`node --test`).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { STEWARD_URL, WAIT, launchChromium, screenshot, watchProblems } from "./harness.mjs";

const SEVEN_DAYS = 604_800;

let chromium;
let context;

before(async () => {
  chromium = await launchChromium("steward-signin-", { viewport: { width: 900, height: 900 } });
  ({ context } = chromium);
});

after(async () => {
  await chromium?.close();
});

/** The browser's cookie `name` for Steward, or undefined. */
async function cookie(name) {
  return (await context.cookies(STEWARD_URL)).find((c) => c.name === name);
}

/**
 * Opens `start` (a sign-in URL), picks the account button for `email` on the
 * sandbox's picker and waits until the browser is back on Steward at `landing`
 * (a URL, or a RegExp).
 */
async function signIn(page, start, email, landing, shot) {
  await page.goto(`${STEWARD_URL}${start}`);
  await page.waitForURL(/\/sandbox\/oidc\/authorize\?/, WAIT);
  assert.equal(await page.title(), "Sandbox sign-in");
  if (shot) await screenshot(page, shot);
  await page.locator(`button[data-email="${email}"]`).click();
  await page.waitForURL(typeof landing === "string" ? (url) => url.href === landing : landing, WAIT);
}

test("signing in sets an HttpOnly, Secure, SameSite=None dsg_token cookie that the server knows", async () => {
  const page = await context.newPage();
  const problems = watchProblems(page, { except: /404|favicon/ });
  await signIn(page, "/auth/login?next=%2Fhealthz", "alice@example.org", `${STEWARD_URL}/healthz`, "signin-picker.png");

  const token = await cookie("dsg_token");
  assert.ok(token, "the browser stored dsg_token");
  assert.match(token.value, /^[0-9a-f]{64}$/);
  assert.equal(token.httpOnly, true);
  assert.equal(token.secure, true);
  assert.equal(token.sameSite, "None");
  assert.equal(token.path, "/");
  const lifetime = token.expires - Date.now() / 1000;
  assert.ok(Math.abs(lifetime - SEVEN_DAYS) < 120, `expires in ${lifetime} s`);
  assert.equal(await cookie("steward_login"), undefined, "the pending sign-in was cleared");
  assert.ok(!(await page.evaluate(() => document.cookie)).includes("dsg_token"), "scripts cannot read it");

  // The cookie travels with the page's own requests, and Steward knows whose it is.
  const hint = await page.evaluate(async () => {
    const response = await fetch("/api/v1/authorize", { headers: { "X-Requested-With": "fetch" } });
    const url = new URL((await response.json()).authorization_url);
    return url.searchParams.get("login_hint");
  });
  assert.equal(hint, "alice@example.org");

  // Without a redirect the callback shows who signed in.
  await signIn(page, "/api/v1/authorize", "bob@example.org", /\/api\/v1\/oauth2callback\?code=/, null);
  await page.locator("#signed-in-as").waitFor(WAIT);
  assert.equal(await page.locator("#signed-in-as").textContent(), "bob@example.org");
  await screenshot(page, "signin-done.png");
  assert.deepEqual(problems, []);
  await page.close();
});

test("redirects go only to relative paths and Steward's own host", async () => {
  const page = await context.newPage();
  await signIn(page, "/auth/login?next=%2Fhealthz%3Fx%3D1", "alice@example.org", `${STEWARD_URL}/healthz?x=1`);
  const own = `${STEWARD_URL}/healthz`;
  await signIn(page, `/auth/login?next=${encodeURIComponent(own)}`, "alice@example.org", own);
  for (const evil of ["https://evil.example/steal", "//evil.example/steal", "/\\evil.example", "javascript:alert(1)"]) {
    await signIn(page, `/auth/login?next=${encodeURIComponent(evil)}`, "alice@example.org", `${STEWARD_URL}/`);
    await signIn(page, `/api/v1/authorize?redirect=${encodeURIComponent(evil)}`, "alice@example.org", `${STEWARD_URL}/`);
  }
  await page.close();
});

test("logout clears the cookie and never follows a foreign redirect", async () => {
  const page = await context.newPage();
  await signIn(page, "/auth/login?next=%2Fhealthz", "carol@example.org", `${STEWARD_URL}/healthz`);
  assert.ok(await cookie("dsg_token"));
  await page.goto(`${STEWARD_URL}/api/v1/logout?redirect=${encodeURIComponent("https://evil.example/")}`);
  await page.waitForURL(`${STEWARD_URL}/`, WAIT);
  assert.equal(await cookie("dsg_token"), undefined, "the cookie is gone");
  await screenshot(page, "signin-logged-out.png");
  await page.close();
});
