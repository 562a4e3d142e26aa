// Neuroglancer's ngauth flow in a real Chromium (spec authorization_dataset.md
// §3.6, §7.3, scenario 89): a viewer page on a second origin (localhost on
// another port, while Steward is 127.0.0.1) does what Neuroglancer's
// credentials provider does — POST /token with credentials (401: the cookie
// is SameSite=Lax here, so it stays home), then the /login?origin= popup,
// whose postMessage it accepts only from Steward's exact origin, then
// POST /gcs_token with a text/plain JSON body (a CORS simple request) — and
// gets a downscoped token from the sandbox STS, whose call log shows the exact
// exchange. A page on a refused origin gets "badorigin" and a readable 403.
// Needs STEWARD_NGAUTH_ALLOWED_ORIGINS to admit http://localhost:<port> (tests/e2e/run sets it).

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { STEWARD_URL, TOKEN, WAIT, env, launchChromium, screenshot, watchProblems } from "./harness.mjs";

const ADMIN_TOKEN = env("STEWARD_ADMIN_TOKEN");
const EMAIL = env("STEWARD_TEST_EMAIL");
const DATASET = `ngauth-e2e-${process.pid}`;
const BUCKET = `${DATASET}-bucket`;

/** The viewer: Neuroglancer's ngauth client logic, reduced to what the protocol needs. */
const VIEWER_HTML = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>viewer</title></head>
<body><main><h1>Viewer</h1><output id="log"></output></main><script>
const steward = new URL(location.href).searchParams.get("steward");
async function ngauthToken() {
  const first = await fetch(steward + "/token", { method: "POST", credentials: "include" });
  if (first.status === 200) return { via: "token", status: 200, token: await first.text() };
  if (first.status === 403) return { via: "token", status: 403, error: await first.text() };
  const popup = window.open(steward + "/login?origin=" + encodeURIComponent(self.origin));
  const message = await new Promise((resolve) => {
    window.addEventListener("message", function listen(event) {
      if (event.source !== popup || event.origin !== steward) return;
      window.removeEventListener("message", listen);
      resolve(event.data);
    });
  });
  if (message === "badorigin") return { via: "popup", status: first.status, error: "badorigin" };
  return { via: "popup", status: first.status, token: message.token };
}
window.runNgauth = async function (bucket) {
  const got = await ngauthToken();
  if (!got.token) return got;
  const response = await fetch(steward + "/gcs_token", {
    method: "POST",
    body: JSON.stringify({ token: got.token, bucket }),
  });
  return { ...got, gcsStatus: response.status, gcs: await response.json() };
};
</script></body></html>`;

let chromium;
let viewer;
let viewerOrigin;

/** Starts the viewer's static server on a free localhost port below 32768. */
async function serveViewer() {
  const server = createServer((request, response) => {
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    response.end(VIEWER_HTML);
  });
  for (let port = 18400; port < 18600; port += 1) {
    const bound = await new Promise((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (bound) return { server, origin: `http://localhost:${port}` };
  }
  throw new Error("no free port for the viewer");
}

before(async () => {
  const admin = envoyApiAs(ADMIN_TOKEN);
  let reply = await admin("POST", "/v1/datasets", { name: DATASET, access_mode: "ACCESS_MODE_CLOSED" });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  reply = await admin("POST", `/v1/datasets/${DATASET}/versions`, { version: "v1", buckets: [BUCKET] });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  reply = await admin("POST", `/v1/datasets/${DATASET}/grants`, { user_email: EMAIL, level: "ACCESS_LEVEL_VIEW" });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  ({ server: viewer, origin: viewerOrigin } = await serveViewer());
  chromium = await launchChromium("steward-ngauth-", { viewport: { width: 900, height: 700 } });
  // The user signed in to Steward earlier: its cookie, kept to first-party requests.
  const steward = new URL(STEWARD_URL);
  await chromium.context.addCookies([
    { name: "dsg_token", value: TOKEN, domain: steward.hostname, path: "/", httpOnly: true, sameSite: "Lax" },
  ]);
});

after(async () => {
  await chromium?.close();
  viewer?.close();
});

/** envoyApi with another token: the researcher helper is fixed to $STEWARD_TEST_TOKEN. */
function envoyApiAs(token) {
  const envoy = env("ENVOY_URL");
  return async (method, route, body) => {
    const response = await fetch(`${envoy}${route}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };
}

test("a viewer on an allowed origin gets its token by popup and a downscoped GCS token", async () => {
  const page = await chromium.context.newPage();
  const problems = watchProblems(page, { except: /status of 401/ });
  await page.goto(`${viewerOrigin}/?steward=${encodeURIComponent(STEWARD_URL)}`);
  const popupSeen = page.waitForEvent("popup", WAIT);
  const result = await page.evaluate((bucket) => window.runNgauth(bucket), BUCKET);
  const popup = await popupSeen;
  assert.match(popup.url(), /\/login\?origin=http%3A%2F%2Flocalhost%3A\d+$/);
  assert.equal(result.via, "popup");
  assert.equal(result.status, 401, "the cross-site /token is refused readably (CORS headers on the 401)");
  assert.ok(result.token.length > 40);
  assert.equal(result.gcsStatus, 200, JSON.stringify(result.gcs));
  assert.match(result.gcs.token, new RegExp(`^sandbox-gcs\\.${BUCKET}\\.`));

  // The sandbox STS received exactly the spec's exchange for that bucket.
  const { calls } = await (await fetch(`${STEWARD_URL}/sandbox/gcp/_calls`)).json();
  const sts = calls.filter((c) => c.route === "sts" && c.issued === result.gcs.token);
  assert.equal(sts.length, 1);
  const source = calls.filter((c) => c.route === "metadata" && c.issued).map((c) => c.issued);
  const options = `{"accessBoundary":{"accessBoundaryRules":[{"availableResource":"//storage.googleapis.com/projects/_/buckets/${BUCKET}","availablePermissions":["inRole:roles/storage.objectViewer"]}]}}`;
  const form = (subject) =>
    new URLSearchParams([
      ["grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"],
      ["options", options],
      ["requested_token_type", "urn:ietf:params:oauth:token-type:access_token"],
      ["subject_token", subject],
      ["subject_token_type", "urn:ietf:params:oauth:token-type:access_token"],
    ]).toString();
  assert.ok(source.some((s) => sts[0].body === form(s)), sts[0].body);
  assert.equal(sts[0].content_type, "application/x-www-form-urlencoded");

  // The popup closes itself once it has posted.
  if (!popup.isClosed()) await popup.waitForEvent("close", WAIT);
  await screenshot(page, "ngauth-viewer.png");
  assert.deepEqual(problems, []);
  await page.close();
});

test("a viewer on a refused origin is told so, and gets no token", async () => {
  // 127.0.0.1 on the viewer's port: a valid origin the allowlist does not admit.
  const refused = viewerOrigin.replace("localhost", "127.0.0.1");
  const page = await chromium.context.newPage();
  // The refused /token call is the one failed load Chromium reports.
  const problems = watchProblems(page, { except: /status of 403/ });
  await page.goto(`${refused}/?steward=${encodeURIComponent(STEWARD_URL)}`);
  const result = await page.evaluate((bucket) => window.runNgauth(bucket), BUCKET);
  assert.deepEqual(result, { via: "token", status: 403, error: '{"error":"Origin not allowed"}' });
  // Its popup, opened by hand, posts "badorigin" to it.
  const message = await page.evaluate(
    (steward) =>
      new Promise((resolve) => {
        const popup = window.open(`${steward}/login?origin=${encodeURIComponent(self.origin)}`);
        window.addEventListener("message", (event) => {
          if (event.source === popup && event.origin === steward) resolve(event.data);
        });
      }),
    STEWARD_URL,
  );
  assert.equal(message, "badorigin");
  assert.deepEqual(problems, []);
  await page.close();
});
