// The groups console (/groups) in a real browser (Debian's Chromium, driven by
// playwright-core), signed in through the stack's sandbox OIDC provider: a
// global admin renames a group in its row (the server's refusal of a bad name
// shown first) and deletes another after a second, explicit button, both
// lasting across a reload; a user who lost the admin role with the page open
// is refused both with the server's reason, and after a reload sees no table.
// Keyboard use and where focus goes are checked, pages with axe-core on a
// laptop and a phone; screenshots go to $STEWARD_ARTIFACTS. Run by
// tests/e2e/suites/browser.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";

import { STEWARD_URL, WAIT, assertAccessible, assertNoHorizontalScroll, env, launchChromium, screenshot, signInAs, watchProblems } from "./harness.mjs";

const RUN = Date.now().toString(36);
const ADMIN = `groups-admin-${RUN}@example.org`;
const FORMER = `groups-former-admin-${RUN}@example.org`;
const MEMBER = `groups-member-${RUN}@example.org`;
const LAPTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

let chromium;
let context;

before(async () => {
  // Global admins come from the operator's CLI, as in production.
  for (const email of [ADMIN, FORMER]) execFileSync(env("STEWARD_BIN"), ["user", "make-admin", email], { stdio: "pipe" });
  chromium = await launchChromium("steward-console-groups-", { viewport: LAPTOP });
  ({ context } = chromium);
});

after(async () => {
  await chromium?.close();
});

const row = (page, group) => page.locator(`#groups-table tr[data-group="${group}"]`);

/** The visible text of the focused element. */
const focused = (page) => page.evaluate(() => document.activeElement?.textContent ?? "");

async function createGroup(page, group) {
  await page.getByLabel("New group").fill(group);
  await page.getByRole("button", { name: "Create group" }).click();
  await row(page, group).waitFor(WAIT);
}

test("a global admin renames a group and deletes another after confirming, and both last", async () => {
  const page = await context.newPage();
  const problems = watchProblems(page, { except: /favicon/ });
  await page.goto(`${STEWARD_URL}/groups`);
  await signInAs(page, ADMIN);
  await page.waitForURL(`${STEWARD_URL}/groups`, WAIT);
  await page.locator("#page-status:empty").waitFor({ ...WAIT, state: "attached" });
  const [team, renamed, gone, next] = ["team", "renamed", "gone", "next"].map((n) => `${n}-${RUN}`);
  for (const group of [team, gone, next]) await createGroup(page, group);

  // Rename: the form opens in the row with its label, focus in the field.
  await row(page, team).getByRole("button", { name: `Rename ${team}` }).click();
  const field = page.getByLabel(`New name for ${team}`);
  await field.waitFor(WAIT);
  assert.equal(await field.evaluate((input) => input === document.activeElement), true);
  assert.equal(await field.inputValue(), team);
  await assertAccessible(page, "groups page, rename form open");
  await page.setViewportSize(PHONE);
  await assertNoHorizontalScroll(page, "groups page on a phone, rename form open");
  await screenshot(page, "console-groups-1-phone-rename.png");
  await page.setViewportSize(LAPTOP);

  // The server's validation message, in the page's result region; the form stays.
  await field.fill("no/slashes");
  await page.getByRole("button", { name: "Save name" }).click();
  const result = page.locator("#group-result");
  await result.locator("[role=alert]").waitFor(WAIT);
  assert.match(await result.textContent(), /INVALID_ARGUMENT: new_name must not contain '\/'/);
  assert.equal(await field.isVisible(), true);

  // Escape closes the form and gives focus back to its button; Enter submits.
  await field.press("Escape");
  await field.waitFor({ ...WAIT, state: "detached" });
  assert.equal(await row(page, team).locator('td[data-field="name"]').textContent(), team);
  assert.equal(await focused(page), `Rename ${team}`);
  await page.keyboard.press("Enter");
  await field.fill(renamed);
  await field.press("Enter");
  await row(page, renamed).waitFor(WAIT);
  assert.equal(await row(page, team).count(), 0);
  assert.match(await result.textContent(), new RegExp(`Group ${team} is now called ${renamed}\\.`));
  assert.equal(await focused(page), `Rename ${renamed}`);
  await screenshot(page, "console-groups-2-renamed.png");

  // Delete: "Keep it" leaves the group and returns focus; the second button
  // deletes, and the members shown for the group go with it.
  await row(page, gone).getByRole("button", { name: `Members of ${gone}` }).click();
  await page.getByLabel("E-mail of the person to add").fill(MEMBER);
  await page.getByRole("button", { name: "Add member" }).click();
  await page.locator(`#members-table tr[data-member="${MEMBER}"]`).waitFor(WAIT);
  await row(page, gone).locator('td[data-field="members"]').getByText("1").waitFor(WAIT);
  const remove = row(page, gone).getByRole("button", { name: `Delete ${gone}` });
  await remove.click();
  const confirm = page.getByRole("button", { name: `Yes, delete group ${gone}` });
  await confirm.waitFor(WAIT);
  assert.equal(await focused(page), `Yes, delete group ${gone}`);
  assert.match(await page.locator("#group-confirm").textContent(), /also removes its 1 membership, .* This cannot be undone\./);
  await assertAccessible(page, "groups page, delete to confirm");
  await screenshot(page, "console-groups-3-confirm-delete.png");
  await page.getByRole("button", { name: "Keep it" }).click();
  await confirm.waitFor({ ...WAIT, state: "detached" });
  assert.equal(await focused(page), `Delete ${gone}`);
  assert.equal(await row(page, gone).count(), 1);
  await page.keyboard.press("Enter");
  await confirm.waitFor(WAIT);
  await page.keyboard.press("Enter");
  await row(page, gone).waitFor({ ...WAIT, state: "detached" });
  assert.match(await result.textContent(), new RegExp(`Group ${gone} was deleted\\.`));
  assert.equal(await page.locator("#members").isHidden(), true);
  // Focus moves to the row that took its place.
  assert.equal(await focused(page), `Members of ${next}`);
  await assertAccessible(page, "groups page after a delete");

  await page.reload();
  await page.locator("#page-status:empty").waitFor({ ...WAIT, state: "attached" });
  await row(page, renamed).waitFor(WAIT);
  assert.equal(await row(page, team).count(), 0);
  assert.equal(await row(page, gone).count(), 0);
  await screenshot(page, "console-groups-4-after-reload.png");
  assert.deepEqual(problems, []);
  await page.close();
});

test("a user who lost the admin role with the page open is refused renaming and deleting, with the server's reason", async () => {
  const former = await launchChromium("steward-console-groups-former-", { viewport: PHONE, isMobile: true });
  try {
    const page = await former.context.newPage();
    await page.goto(`${STEWARD_URL}/groups`);
    await signInAs(page, FORMER);
    await page.waitForURL(`${STEWARD_URL}/groups`, WAIT);
    await page.locator("#page-status:empty").waitFor({ ...WAIT, state: "attached" });
    const kept = `kept-${RUN}`;
    await createGroup(page, kept);

    execFileSync(env("STEWARD_BIN"), ["user", "make-admin", FORMER, "--remove"], { stdio: "pipe" });

    await row(page, kept).getByRole("button", { name: `Rename ${kept}` }).click();
    await page.getByLabel(`New name for ${kept}`).fill(`taken-over-${RUN}`);
    await page.getByRole("button", { name: "Save name" }).click();
    const result = page.locator("#group-result");
    await result.locator("[role=alert]").waitFor(WAIT);
    assert.match(await result.textContent(), /PERMISSION_DENIED: Only global admins may do this\./);
    assert.match(await result.textContent(), /not allowed to do this/);
    await page.getByRole("button", { name: "Cancel" }).click();

    await row(page, kept).getByRole("button", { name: `Delete ${kept}` }).click();
    await page.getByRole("button", { name: `Yes, delete group ${kept}` }).click();
    const box = page.locator("#group-confirm");
    await box.locator("[role=alert]").waitFor(WAIT);
    assert.match(await box.textContent(), /PERMISSION_DENIED: Only global admins may do this\./);
    assert.equal(await focused(page), `Delete ${kept}`);
    assert.equal(await row(page, kept).count(), 1);
    await assertAccessible(page, "groups page, refused");
    await assertNoHorizontalScroll(page, "groups page on a phone, refused");
    await screenshot(page, "console-groups-5-refused.png");

    // After a reload the page knows: no table, so no buttons, and why.
    await page.reload();
    await page.locator("#page-status [role=alert]").waitFor(WAIT);
    assert.match(await page.locator("#page-status").textContent(), /PERMISSION_DENIED/);
    assert.equal(await page.locator("#groups-table").count(), 0);
  } finally {
    await former.close();
  }

  // The group is still there under its name.
  const page = await context.newPage();
  await page.goto(`${STEWARD_URL}/groups`);
  await page.locator("#page-status:empty").waitFor({ ...WAIT, state: "attached" });
  await row(page, `kept-${RUN}`).waitFor(WAIT);
  assert.equal(await row(page, `taken-over-${RUN}`).count(), 0);
  await page.close();
});
