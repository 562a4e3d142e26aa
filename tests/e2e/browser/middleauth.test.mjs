// Neuroglancer's middleauth popup in a real Chromium (spec
// authorization_dataset.md §3.5 step 5, §7.3): a viewer page on a second
// origin (localhost on another port, while Steward is 127.0.0.1) opens
// <steward>/api/v1/authorize in a popup with no parameters, as Neuroglancer
// does for `middleauth+https://` sources; the user picks an account at the
// sandbox provider, and the viewer receives {token, app_urls} by postMessage
// from Steward's exact origin, with the app an admin registered through
// /v1/middleauth-apps. The token then works as a Bearer token for user/cache.
// A page on an origin that is not allowed gets no message.
// Needs STEWARD_MIDDLEAUTH_ALLOWED_ORIGINS (by default the ngauth list, which
// tests/e2e/run sets) to admit http://localhost:<port>.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { STEWARD_URL, WAIT, env, launchChromium, screenshot, watchProblems } from "./harness.mjs";

const ENVOY_URL = env("ENVOY_URL");
const ADMIN_TOKEN = env("STEWARD_ADMIN_TOKEN");
const APP_URL = `https://cave-${process.pid}.example.org/pcg`;

/** The viewer: Neuroglancer's middleauth login, reduced to what the protocol needs. */
const VIEWER_HTML = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>viewer</title></head>
<body><main><h1>Viewer</h1></main><script>
const steward = new URL(location.href).searchParams.get("steward");
window.runMiddleauth = function (waitMs) {
  const popup = window.open(steward + "/api/v1/authorize");
  return new Promise((resolve) => {
    const timer = waitMs ? setTimeout(() => resolve({ timedOut: true }), waitMs) : undefined;
    window.addEventListener("message", function listen(event) {
      if (event.source !== popup || event.origin !== steward) return;
      window.removeEventListener("message", listen);
      clearTimeout(timer);
      resolve({ data: event.data });
    });
  });
};
</script></body></html>`;

let chromium;
let viewer;
let viewerOrigin;
let appId;

/** Starts the viewer's static server on a free localhost port below 32768. */
async function serveViewer() {
  const server = createServer((request, response) => {
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    response.end(VIEWER_HTML);
  });
  for (let port = 18600; port < 18800; port += 1) {
    const bound = await new Promise((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (bound) return { server, origin: `http://localhost:${port}` };
  }
  throw new Error("no free port for the viewer");
}

async function admin(method, route, body) {
  const response = await fetch(`${ENVOY_URL}${route}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

before(async () => {
  const reply = await admin("POST", "/v1/middleauth-apps", { name: "PCG", url: APP_URL });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  appId = reply.body.app.id;
  ({ server: viewer, origin: viewerOrigin } = await serveViewer());
  chromium = await launchChromium("steward-middleauth-", { viewport: { width: 900, height: 700 } });
});

after(async () => {
  if (appId !== undefined) await admin("DELETE", `/v1/middleauth-apps/${appId}`);
  await chromium?.close();
  viewer?.close();
});

/** In `popup`, picks `email` at the sandbox provider's account picker. */
async function pick(popup, email) {
  await popup.waitForURL(/\/sandbox\/oidc\/authorize\?/, WAIT);
  await popup.locator(`button[data-email="${email}"]`).click();
}

test("a viewer on an allowed origin receives the login token and app_urls from the popup", async () => {
  const page = await chromium.context.newPage();
  const problems = watchProblems(page);
  await page.goto(`${viewerOrigin}/?steward=${encodeURIComponent(STEWARD_URL)}`);
  const popupSeen = page.waitForEvent("popup", WAIT);
  const result = page.evaluate(() => window.runMiddleauth(0));
  const popup = await popupSeen;
  const popupProblems = watchProblems(popup);
  await pick(popup, "carol@example.org");
  const { data } = await result;
  assert.match(data.token, /^[0-9a-f]{64}$/);
  assert.ok(Array.isArray(data.app_urls) && data.app_urls.every((u) => typeof u === "string"));
  assert.ok(data.app_urls.includes(APP_URL), JSON.stringify(data.app_urls));
  // The popup closes itself once it has posted.
  if (!popup.isClosed()) await popup.waitForEvent("close", WAIT);

  // Neuroglancer sends the token to the CAVE app, which asks Steward about it.
  const cache = await fetch(`${ENVOY_URL}/api/v1/user/cache`, { headers: { Authorization: `Bearer ${data.token}` } });
  assert.equal(cache.status, 200);
  assert.equal((await cache.json()).email, "carol@example.org");
  await screenshot(page, "middleauth-viewer.png");
  assert.deepEqual(problems, []);
  assert.deepEqual(popupProblems, []);
  await page.close();
});

test("a viewer on an origin that is not allowed gets no message", async () => {
  const page = await chromium.context.newPage();
  const refused = viewerOrigin.replace("localhost", "127.0.0.1");
  await page.goto(`${refused}/?steward=${encodeURIComponent(STEWARD_URL)}`);
  const popupSeen = page.waitForEvent("popup", WAIT);
  const result = page.evaluate(() => window.runMiddleauth(5000));
  const popup = await popupSeen;
  await pick(popup, "carol@example.org");
  // The popup shows who signed in instead, and posts nothing.
  await popup.locator("#signed-in-as").waitFor(WAIT);
  assert.equal(await popup.locator("#signed-in-as").textContent(), "carol@example.org");
  assert.deepEqual(await result, { timedOut: true });
  await screenshot(popup, "middleauth-refused.png");
  await page.close();
});
