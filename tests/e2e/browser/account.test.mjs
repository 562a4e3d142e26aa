// "My account" and the TOS invite page in a real browser (Debian's Chromium,
// driven by playwright-core), signed in through the stack's sandbox OIDC
// provider (spec authorization_dataset.md §3.5, §5.6; scenarios 74, 76): the
// user's groups and dataset access with their sources, accepting a missing
// TOS, a token shown once that works as a Bearer token until revoked, and the
// invite page for an anonymous visitor, a user without grant and a grantee;
// the service-check page (scenario 77) with Markdown terms.
// Leaves screenshots in $STEWARD_ARTIFACTS. Run by tests/e2e/suites/browser.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { STEWARD_URL, WAIT, assertAccessible, env, launchChromium, screenshot, signInAs, watchProblems } from "./harness.mjs";

const ADMIN_TOKEN = env("STEWARD_ADMIN_TOKEN");
const RUN = Date.now().toString(36);
const EMAIL = `account-${RUN}@example.org`;
const GROUP = `account-lab-${RUN}`;
/** Closed, reached through GROUP, with terms the user has still to accept. */
const BY_GROUP = `account-group-${RUN}`;
/** Closed, a direct grant, no terms. */
const DIRECT = `account-direct-${RUN}`;
/** Closed, no grant for the user. */
const OTHERS = `account-others-${RUN}`;
/** Closed, a direct grant, terms accepted on the invite page. */
const INVITED = `account-invited-${RUN}`;
/** Closed, a direct grant, Markdown terms accepted on the service-check page. */
const CHECKED = `account-checked-${RUN}`;

let chromium;
let context;
let groupTerms;
let othersTerms;
let invitedTerms;
let checkedTerms;

/** Steward's REST routes through Envoy as the admin. */
async function admin(method, route, body) {
  const response = await fetch(`${env("ENVOY_URL")}${route}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  assert.equal(response.status, 200, `${method} ${route}: ${text}`);
  return parsed;
}

/** WhoAmI through Envoy with `token` as a Bearer token: the HTTP status. */
async function principalStatus(token) {
  const response = await fetch(`${env("ENVOY_URL")}/v1/principal`, { headers: { Authorization: `Bearer ${token}` } });
  await response.text();
  return response.status;
}

async function closedDataset(name) {
  await admin("POST", "/v1/datasets", { name, access_mode: "ACCESS_MODE_CLOSED" });
}

async function terms(dataset, name) {
  const reply = await admin("POST", "/v1/tos-documents", { name, text: `${name}\n\nBe kind to the data.`, dataset });
  const d = reply.document;
  return { id: d.id, invite: d.inviteToken ?? d.invite_token };
}

before(async () => {
  await closedDataset(BY_GROUP);
  await closedDataset(DIRECT);
  await closedDataset(OTHERS);
  await closedDataset(INVITED);
  await closedDataset(CHECKED);
  await admin("POST", "/v1/groups", { name: GROUP });
  await admin("POST", `/v1/groups/${GROUP}/members`, { user_email: EMAIL });
  await admin("POST", `/v1/datasets/${BY_GROUP}/grants`, { group: GROUP, level: "ACCESS_LEVEL_VIEW" });
  await admin("POST", `/v1/datasets/${DIRECT}/grants`, { user_email: EMAIL, level: "ACCESS_LEVEL_EDIT" });
  await admin("POST", `/v1/datasets/${INVITED}/grants`, { user_email: EMAIL, level: "ACCESS_LEVEL_VIEW" });
  await admin("POST", `/v1/datasets/${CHECKED}/grants`, { user_email: EMAIL, level: "ACCESS_LEVEL_VIEW" });
  groupTerms = await terms(BY_GROUP, `Group terms ${RUN}`);
  othersTerms = await terms(OTHERS, `Others terms ${RUN}`);
  invitedTerms = await terms(INVITED, `Invited terms ${RUN}`);
  const text = "# Checked data\n\nBe **kind** to the data.\n\n<script>window.ran = true</script>";
  const checked = await admin("POST", "/v1/tos-documents", { name: `Checked terms ${RUN}`, text, dataset: CHECKED });
  checkedTerms = checked.document;
  chromium = await launchChromium("steward-account-", { viewport: { width: 1000, height: 900 } });
  ({ context } = chromium);
});

after(async () => {
  await chromium?.close();
});

/** The "From" cell of `dataset`'s row on My account. */
function source(page, dataset) {
  return page.locator(`#access-table tr[data-dataset="${dataset}"] td[data-field="source"]`);
}

test("an anonymous visitor of an invite page gets the terms and a sign-in link that comes back", async () => {
  const anonymous = await launchChromium("steward-account-anon-");
  try {
    const page = await anonymous.context.newPage();
    const problems = watchProblems(page, { except: /404|favicon/ });
    const response = await page.goto(`${STEWARD_URL}/web/tos/${invitedTerms.invite}/`);
    assert.equal(response.status(), 200);
    assert.match(await page.locator("#document").textContent(), /Be kind to the data\./);
    const link = page.locator("#sign-in");
    assert.equal(await link.getAttribute("href"), `/auth/login?next=%2Fweb%2Ftos%2F${invitedTerms.invite}%2F`);
    assert.equal(await page.locator("#accept").count(), 0);
    await assertAccessible(page, "invite page, anonymous");
    await screenshot(page, "account-invite-anonymous.png");

    const unknown = await page.goto(`${STEWARD_URL}/web/tos/no-such-invite/`);
    assert.equal(unknown.status(), 404);
    assert.deepEqual(problems.filter((p) => !/404/.test(p)), []);
  } finally {
    await anonymous.close();
  }
});

test("My account: sign in, groups, dataset access with sources, accepting a missing TOS", async () => {
  const page = await context.newPage();
  const problems = watchProblems(page, { except: /favicon/ });
  await page.goto(`${STEWARD_URL}/account`);
  await signInAs(page, EMAIL);
  await page.waitForURL(`${STEWARD_URL}/account`, WAIT);
  await page.locator('#profile dd[data-field="email"]').waitFor(WAIT);
  assert.equal(await page.locator('#profile dd[data-field="email"]').textContent(), EMAIL);
  await page.locator("#group-list").waitFor(WAIT);
  assert.ok((await page.locator("#group-list li").allTextContents()).includes(GROUP));
  assert.equal(await source(page, DIRECT).textContent(), "direct grant");
  assert.equal(await source(page, BY_GROUP).textContent(), "waiting for accepted terms");

  const item = page.locator(`#missing-list li[data-tos-id="${groupTerms.id}"]`);
  assert.match(await item.textContent(), new RegExp(`Group terms ${RUN}`));
  await assertAccessible(page, "My account");
  await screenshot(page, "account-before-accept.png");
  await item.getByRole("button").click();
  await page.locator("#tos-result .ok").waitFor(WAIT);
  // The permission document follows the acceptance (one NOTIFY away at most).
  for (let i = 0; ; i += 1) {
    await page.reload();
    await source(page, BY_GROUP).waitFor(WAIT);
    if ((await source(page, BY_GROUP).textContent()) === "group") break;
    assert.ok(i < 20, "the group's access never showed after accepting");
    await page.waitForTimeout(250);
  }
  assert.equal(await page.locator(`#missing-list li[data-tos-id="${groupTerms.id}"]`).count(), 0);
  await screenshot(page, "account-after-accept.png");
  assert.deepEqual(problems, []);
  await page.close();
});

test("a new token is shown once, works as a Bearer token, and is refused once revoked", async () => {
  const page = await context.newPage();
  const problems = watchProblems(page, { except: /favicon/ });
  await page.goto(`${STEWARD_URL}/account`);
  await page.locator("#token-table").waitFor(WAIT);
  const description = `e2e script ${RUN}`;
  await page.getByLabel("Description").fill(description);
  await page.getByRole("button", { name: "Create token" }).click();
  const shown = page.locator("#new-token-value");
  await shown.waitFor(WAIT);
  const token = await shown.inputValue();
  assert.match(token, /^[0-9a-f]{64}$/);
  const row = page.locator("#token-table tr", { hasText: description });
  await row.waitFor(WAIT);
  await screenshot(page, "account-token-created.png");
  assert.equal(await principalStatus(token), 200);

  await page.reload();
  await page.locator("#token-table").waitFor(WAIT);
  assert.equal(await page.locator("#new-token-value").count(), 0, "the token is not shown again");
  assert.ok(!(await page.content()).includes(token), "nowhere on the page");

  page.once("dialog", (dialog) => void dialog.accept());
  await page.locator("#token-table tr", { hasText: description }).getByRole("button", { name: /Revoke/ }).click();
  await page.locator("#token-table tr", { hasText: description }).waitFor({ state: "detached", ...WAIT });
  assert.equal(await principalStatus(token), 401);
  assert.deepEqual(problems, []);
  await page.close();
});

test("the invite page: 403 without grant, and a grantee accepts once", async () => {
  const page = await context.newPage();
  const problems = watchProblems(page, { except: /status of 403|favicon/ });
  const refused = await page.goto(`${STEWARD_URL}/web/tos/${othersTerms.invite}/`);
  assert.equal(refused.status(), 403);
  assert.equal(await page.locator("h1").textContent(), "Access Restricted");
  await screenshot(page, "account-invite-restricted.png");

  const invite = `${STEWARD_URL}/web/tos/${invitedTerms.invite}/`;
  const open = await page.goto(invite);
  assert.equal(open.status(), 200);
  await assertAccessible(page, "invite page, grantee");
  await page.getByRole("button", { name: "I accept" }).click();
  await page.waitForURL(`${STEWARD_URL}/`, WAIT);
  await page.goto(invite);
  await page.locator("#accepted").waitFor(WAIT);
  assert.equal(await page.getByRole("button", { name: "I accept" }).count(), 0);
  await screenshot(page, "account-invite-accepted.png");
  const document = (await admin("GET", `/v1/tos-documents/${invitedTerms.id}`)).document;
  assert.equal(Number(document.acceptanceCount ?? document.acceptance_count), 1, "one acceptance");
  assert.deepEqual(problems, []);
  await page.close();
});

test("service-check: rendered terms, Accept all, then on to next", async () => {
  const page = await context.newPage();
  const problems = watchProblems(page, { except: /favicon/ });
  const next = `${STEWARD_URL}/account?from=tos`;
  const check = `${STEWARD_URL}/web/tos/service-check/?dataset=${CHECKED}&next=${encodeURIComponent(next)}`;
  const response = await page.goto(check);
  assert.equal(response.status(), 200);
  const document = page.locator(`#document-${checkedTerms.id}`);
  assert.equal(await document.locator("h1").textContent(), "Checked data");
  assert.equal(await document.locator("strong").textContent(), "kind");
  // Raw HTML in the terms is shown as text, never run.
  assert.match(await document.textContent(), /<script>window\.ran = true<\/script>/);
  assert.equal(await page.evaluate(() => window.ran), undefined);
  await assertAccessible(page, "service-check page");
  await screenshot(page, "account-service-check.png");
  await page.getByRole("button", { name: "Accept all" }).click();
  await page.waitForURL(next, WAIT);
  // Nothing pending any more: straight on.
  await page.goto(check);
  await page.waitForURL(next, WAIT);
  const accepted = (await admin("GET", `/v1/tos-documents/${checkedTerms.id}`)).document;
  assert.equal(Number(accepted.acceptanceCount ?? accepted.acceptance_count), 1, "one acceptance");
  assert.deepEqual(problems, []);
  await page.close();
});
