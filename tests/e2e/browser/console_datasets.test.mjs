// The dataset console in a real browser (Debian's Chromium, driven by
// playwright-core), signed in through the stack's sandbox OIDC provider: a
// global admin creates a dataset, adds a version, a bucket, a grant, a dataset
// admin and terms of service, revokes and deletes them again, then finds the
// creation in the audit log with filters; manages a service account's tokens
// and a group's members; a user without the role is refused
// with a message on both pages. Pages are checked with axe-core on a laptop
// and a phone; screenshots go to $STEWARD_ARTIFACTS. Run by tests/e2e/suites/browser.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";

import { STEWARD_URL, WAIT, assertAccessible, assertNoHorizontalScroll, env, launchChromium, screenshot, signInAs, watchProblems } from "./harness.mjs";

const RUN = Date.now().toString(36);
const ADMIN = `console-admin-${RUN}@example.org`;
const MEMBER = `console-member-${RUN}@example.org`;
const CURATOR = `console-curator-${RUN}@example.org`;
const DATASET = `console-fish-${RUN}`;
const LAPTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

let chromium;
let context;

before(async () => {
  // Global admin comes from the operator's CLI, as in production.
  execFileSync(env("STEWARD_BIN"), ["user", "make-admin", ADMIN], { stdio: "pipe" });
  // Dataset admins must be existing users; a token of their own makes one.
  execFileSync(env("STEWARD_BIN"), ["token", "create", "--email", CURATOR], { stdio: "pipe" });
  chromium = await launchChromium("steward-console-datasets-", { viewport: LAPTOP });
  ({ context } = chromium);
});

after(async () => {
  await chromium?.close();
});

test("a global admin creates a dataset and manages its versions, buckets, grants, admins and terms", async () => {
  const page = await context.newPage();
  const problems = watchProblems(page, { except: /favicon/ });
  await page.goto(`${STEWARD_URL}/datasets`);
  await signInAs(page, ADMIN);
  await page.waitForURL(`${STEWARD_URL}/datasets`, WAIT);
  await page.locator("#page-status:empty").waitFor({ ...WAIT, state: "attached" });

  await page.getByLabel("Name").fill(DATASET);
  await page.getByLabel("Description (optional)").fill("Zebrafish light-sheet volumes");
  await page.getByRole("button", { name: "Create dataset" }).click();
  await page.locator("#dataset-result .ok").waitFor(WAIT);
  const row = page.locator(`#datasets-table tr[data-dataset="${DATASET}"]`);
  await row.waitFor(WAIT);
  assert.equal(await row.locator('td[data-field="access"]').textContent(), "closed");
  await assertAccessible(page, "datasets page");
  await screenshot(page, "console-datasets-1-list.png");

  await row.getByRole("link", { name: DATASET }).click();
  await page.waitForURL(`${STEWARD_URL}/datasets/${DATASET}`, WAIT);
  await page.locator('#summary dd[data-field="access"]').waitFor(WAIT);
  assert.equal(await page.locator('#summary dd[data-field="description"]').textContent(), "Zebrafish light-sheet volumes");

  // A version with its bucket and prefix.
  await page.getByLabel("Version", { exact: true }).fill("v1");
  await page.getByLabel("Path prefix in the buckets (optional)").fill("fish/v1");
  await page.getByLabel("Buckets (optional, separated by commas)").fill(`bucket-${RUN}`);
  await page.getByRole("button", { name: "Add version" }).click();
  const version = page.locator('#versions-table tr[data-version="v1"]');
  await version.waitFor(WAIT);
  assert.equal(await version.locator('td[data-field="buckets"]').textContent(), `bucket-${RUN}`);
  assert.equal(await version.locator('td[data-field="public"]').textContent(), "no");

  // A dataset-level bucket.
  await page.getByLabel("Bucket", { exact: true }).fill(`extra-${RUN}`);
  await page.getByRole("button", { name: "Add bucket" }).click();
  await page.locator(`#buckets-table tr[data-bucket="extra-${RUN}"]`).waitFor(WAIT);

  // A grant of view to a user, limited to v1.
  await page.getByLabel("E-mail or name").fill(MEMBER);
  await page.getByLabel("Only this version (optional)").fill("v1");
  await page.getByRole("button", { name: "Grant", exact: true }).click();
  const grant = page.locator(`#grants-table tr[data-grantee="${MEMBER}"]`);
  await grant.waitFor(WAIT);
  assert.equal(await grant.locator('td[data-field="level"]').textContent(), "view");
  assert.equal(await grant.locator('td[data-field="version"]').textContent(), "v1");
  assert.equal(await grant.locator('td[data-field="source"]').textContent(), "manual");

  // A dataset admin: listed, and holding an admin grant.
  await page.locator("#admin-email").fill(CURATOR);
  await page.getByRole("button", { name: "Make admin" }).click();
  await page.locator(`#admins-table tr[data-admin="${CURATOR}"]`).waitFor(WAIT);
  await page.locator(`#grants-table tr[data-grantee="${CURATOR}"][data-level="admin"]`).waitFor(WAIT);

  // Terms of service for the dataset.
  await page.locator("#tos-name").fill(`Fish terms ${RUN}`);
  await page.locator("#tos-text").fill("Cite the **fish** paper.");
  await page.getByRole("button", { name: "Add terms" }).click();
  const terms = page.locator(`#terms-table tr[data-terms="Fish terms ${RUN}"]`);
  await terms.waitFor(WAIT);
  assert.equal(await terms.locator('td[data-field="accepted"]').textContent(), "0");
  assert.match(await terms.getByRole("link", { name: "invite page" }).getAttribute("href"), /^\/web\/tos\/[^/]+\/$/);

  await assertAccessible(page, "dataset page");
  await screenshot(page, "console-datasets-2-dataset.png");
  await page.setViewportSize(PHONE);
  await assertNoHorizontalScroll(page, "dataset page on a phone");
  await screenshot(page, "console-datasets-3-phone.png");
  await page.setViewportSize(LAPTOP);

  // And back: revoke the grant, remove the admin, the bucket and the version.
  await grant.getByRole("button", { name: `Revoke view of ${MEMBER}` }).click();
  await grant.waitFor({ ...WAIT, state: "detached" });
  await page.getByRole("button", { name: `Remove ${CURATOR}` }).click();
  await page.locator(`#admins-table tr[data-admin="${CURATOR}"]`).waitFor({ ...WAIT, state: "detached" });
  await page.getByRole("button", { name: `Remove extra-${RUN}` }).click();
  await page.locator(`#buckets-table tr[data-bucket="extra-${RUN}"]`).waitFor({ ...WAIT, state: "detached" });
  await page.getByRole("button", { name: "Delete v1" }).click();
  await version.waitFor({ ...WAIT, state: "detached" });
  await page.reload();
  await page.locator("#page-status:empty").waitFor({ ...WAIT, state: "attached" });
  assert.equal(await page.locator(`#grants-table tr[data-grantee="${MEMBER}"]`).count(), 0, "the revocation is stored");
  assert.deepEqual(problems, []);

  // The audit log, filtered to this admin's dataset creations.
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.waitForURL(`${STEWARD_URL}/audit`, WAIT);
  await page.locator("#audit-table").waitFor(WAIT);
  await page.getByLabel("Who (e-mail)").fill(ADMIN);
  await page.getByLabel("Action").fill("dataset_created");
  await page.getByRole("button", { name: "Show entries" }).click();
  await page.locator("#audit-table tr[data-action] >> nth=0").waitFor(WAIT);
  await page.waitForFunction(() => document.querySelectorAll("#audit-table tr[data-action]").length === 1, null, WAIT);
  const entry = page.locator("#audit-table tr[data-action]");
  assert.equal(await entry.locator('td[data-field="actor"]').textContent(), ADMIN);
  assert.equal(await entry.locator('td[data-field="change"]').textContent(), `name: — → ${DATASET}`);
  await assertAccessible(page, "audit page");
  await screenshot(page, "console-datasets-4-audit.png");
  await page.close();
});

/** WhoAmI through Envoy with `token` as a Bearer token: the HTTP status. */
async function principalStatus(token) {
  const response = await fetch(`${env("ENVOY_URL")}/v1/principal`, { headers: { Authorization: `Bearer ${token}` } });
  await response.text();
  return response.status;
}

test("a global admin creates a service account and a token shown once that works until revoked", async () => {
  const page = await context.newPage();
  const problems = watchProblems(page, { except: /favicon/ });
  await page.goto(`${STEWARD_URL}/service-accounts`);
  await page.locator("#page-status:empty").waitFor({ ...WAIT, state: "attached" });
  const account = `pipeline-${RUN}`;
  await page.getByLabel("Name (letters, digits and hyphens)").fill(account);
  await page.getByLabel("Description (optional)").fill("Nightly export");
  await page.getByRole("button", { name: "Create service account" }).click();
  const row = page.locator(`#sa-table tr[data-account="${account}"]`);
  await row.waitFor(WAIT);
  assert.equal(await row.locator('td[data-field="active"]').textContent(), "yes");

  await row.getByRole("button", { name: `Tokens of ${account}` }).click();
  await page.getByRole("heading", { name: `Tokens of ${account}` }).waitFor(WAIT);
  await page.getByLabel("What the token is for").fill("cron on the lab server");
  await page.getByRole("button", { name: "Create token" }).click();
  const token = await page.locator("#new-sa-token").inputValue(WAIT);
  assert.match(token, /^[0-9a-f]{64}$|^[A-Za-z0-9_-]{20,}$/);
  assert.equal(await principalStatus(token), 200, "the new token works");
  const tokenRow = page.locator("#sa-token-table tr[data-token]");
  await tokenRow.waitFor(WAIT);
  assert.equal(await tokenRow.locator('td[data-field="description"]').textContent(), "cron on the lab server");
  assert.equal(await row.locator('td[data-field="tokens"]').textContent(), "1");
  await assertAccessible(page, "service accounts page");
  await screenshot(page, "console-datasets-6-service-accounts.png");

  await tokenRow.getByRole("button", { name: /^Revoke token / }).click();
  await tokenRow.waitFor({ ...WAIT, state: "detached" });
  const deadline = Date.now() + 5000;
  while ((await principalStatus(token)) !== 401) {
    assert.ok(Date.now() < deadline, "the revoked token is refused within seconds");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await row.getByRole("button", { name: `Deactivate ${account}` }).click();
  await page.locator(`#sa-table tr[data-account="${account}"] td[data-field="active"]`).getByText("no").waitFor(WAIT);
  assert.deepEqual(problems, []);
  await page.close();
});

test("a global admin creates a group, adds a member, makes them group admin and removes them", async () => {
  const page = await context.newPage();
  const problems = watchProblems(page, { except: /favicon/ });
  await page.goto(`${STEWARD_URL}/groups`);
  await page.locator("#page-status:empty").waitFor({ ...WAIT, state: "attached" });
  const group = `lab-${RUN}`;
  await page.getByLabel("New group").fill(group);
  await page.getByRole("button", { name: "Create group" }).click();
  const row = page.locator(`#groups-table tr[data-group="${group}"]`);
  await row.waitFor(WAIT);
  assert.equal(await row.locator('td[data-field="members"]').textContent(), "0");

  await row.getByRole("button", { name: `Members of ${group}` }).click();
  await page.getByRole("heading", { name: `Members of ${group}` }).waitFor(WAIT);
  await page.getByLabel("E-mail of the person to add").fill(MEMBER);
  await page.getByRole("button", { name: "Add member" }).click();
  const member = page.locator(`#members-table tr[data-member="${MEMBER}"]`);
  await member.waitFor(WAIT);
  assert.equal(await member.locator('td[data-field="admin"]').textContent(), "no");
  await page.locator(`#groups-table tr[data-group="${group}"] td[data-field="members"]`).getByText("1").waitFor(WAIT);
  await member.getByRole("button", { name: `Make ${MEMBER} group admin` }).click();
  await member.locator('td[data-field="admin"]').getByText("yes").waitFor(WAIT);
  await assertAccessible(page, "groups page");
  await screenshot(page, "console-datasets-7-groups.png");

  await member.getByRole("button", { name: `Remove ${MEMBER}` }).click();
  await member.waitFor({ ...WAIT, state: "detached" });
  await page.locator(`#groups-table tr[data-group="${group}"] td[data-field="members"]`).getByText("0").waitFor(WAIT);
  assert.deepEqual(problems, []);
  await page.close();
});

test("a user without the role is told why a dataset was not created and the audit log stays closed", async () => {
  const outsider = await launchChromium("steward-console-datasets-outsider-", { viewport: PHONE, isMobile: true });
  try {
    const page = await outsider.context.newPage();
    await page.goto(`${STEWARD_URL}/datasets`);
    await signInAs(page, MEMBER);
    await page.waitForURL(`${STEWARD_URL}/datasets`, WAIT);
    await page.getByLabel("Name").fill(`console-refused-${RUN}`);
    await page.getByRole("button", { name: "Create dataset" }).click();
    await page.locator("#dataset-result [role=alert]").waitFor(WAIT);
    assert.match(await page.locator("#dataset-result").textContent(), /PERMISSION_DENIED/);
    await assertNoHorizontalScroll(page, "datasets page on a phone");
    await assertAccessible(page, "datasets page, refused");

    await page.goto(`${STEWARD_URL}/audit`);
    await page.locator("#audit-result [role=alert]").waitFor(WAIT);
    assert.match(await page.locator("#audit-result").textContent(), /PERMISSION_DENIED/);
    assert.equal(await page.locator("#audit-table").count(), 0);
    await screenshot(page, "console-datasets-5-refused.png");
  } finally {
    await outsider.close();
  }
});
