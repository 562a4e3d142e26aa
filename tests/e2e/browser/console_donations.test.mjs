// The researcher's donation console in a real browser (Debian's Chromium,
// driven by playwright-core), signed in through the stack's sandbox OIDC
// provider: create a donation with the form, take the participant link from
// the field, the clipboard and the QR code (decoded from the pixels), see it in
// the list and the charts, let a participant donate through the sandbox
// Google, then on the donation's page follow its per-type progress to
// "processed", preview rows, export them as JSON Lines, read its events and
// delete it. A signed-in user without the researcher role is refused with a
// message. Pages are checked with axe-core on a laptop and a phone; screenshots
// go to $STEWARD_ARTIFACTS. Run by tests/e2e/suites/browser.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";

import jsQR from "jsqr";
import { PNG } from "pngjs";

import { STEWARD_URL, WAIT, assertAccessible, assertNoHorizontalScroll, env, launchChromium, screenshot, signInAs, watchProblems } from "./harness.mjs";

const RUN = Date.now().toString(36);
const RESEARCHER = `console-researcher-${RUN}@example.org`;
const OUTSIDER = `console-outsider-${RUN}@example.org`;
const LAPTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
/** Export, download, parse and finalize by the server's workers (the sandbox polls every 2 s). */
const PROCESSING = { timeout: 120_000 };

let chromium;
let context;

before(async () => {
  // The role comes from the operator's CLI, as in production; sign-in itself gives none.
  execFileSync(env("STEWARD_BIN"), ["token", "create", "--email", RESEARCHER, "--role", "researcher"], {
    stdio: "pipe",
  });
  chromium = await launchChromium("steward-console-", { viewport: LAPTOP });
  ({ context } = chromium);
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: STEWARD_URL });
});

after(async () => {
  await chromium?.close();
});

/** The text a QR code on the page encodes, read from a screenshot of it. */
async function decodeQr(locator) {
  const png = PNG.sync.read(await locator.screenshot());
  const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.ok(code, "the QR code is readable");
  return code.data;
}

/** The participant's side: link, terms, the sandbox Google consent screen. */
async function donate(link) {
  const participant = await launchChromium("steward-console-participant-", { viewport: PHONE, isMobile: true });
  try {
    const page = await participant.context.newPage();
    await page.goto(link, WAIT);
    await page.getByRole("link", { name: "Review the terms" }).click(WAIT);
    await page.getByRole("button", { name: /I agree/ }).click(WAIT);
    await page.getByRole("button", { name: "Continue to Google" }).click(WAIT);
    await page.getByRole("button", { name: "Allow" }).click(WAIT);
    await page.waitForURL(`${STEWARD_URL}/donate/`, WAIT);
  } finally {
    await participant.close();
  }
}

test("an anonymous visitor is sent to sign in and comes back to the console", async () => {
  const anonymous = await launchChromium("steward-console-anon-");
  try {
    const page = await anonymous.context.newPage();
    await page.goto(`${STEWARD_URL}/donations/12`);
    await page.waitForURL(/\/sandbox\/oidc\/authorize\?/, WAIT);
    await signInAs(page, OUTSIDER);
    await page.waitForURL(`${STEWARD_URL}/donations/12`, WAIT);
  } finally {
    await anonymous.close();
  }
});

test("a researcher creates a donation, shares its link, follows it to processed, previews, exports and deletes it", async () => {
  const page = await context.newPage();
  const problems = watchProblems(page, { except: /favicon/ });
  await page.goto(`${STEWARD_URL}/donations`);
  await signInAs(page, RESEARCHER);
  await page.waitForURL(`${STEWARD_URL}/donations`, WAIT);
  await page.locator("#donation-list p").waitFor(WAIT);
  assert.match(await page.locator("#donation-list").textContent(), /No donations yet/);
  assert.equal(await page.locator('nav.console a[aria-current="page"]').textContent(), "Donations");

  // The form: Google, two types, a window, a message.
  await page.locator("#source").selectOption({ label: "Google" });
  await page.getByLabel("Google Search history", { exact: true }).check();
  await page.getByLabel("YouTube history", { exact: true }).check();
  await page.locator("#start-date").fill("2015-01-01");
  await page.locator("#end-date").fill("2035-12-31");
  await page.locator("#description").fill("Thank you for taking part.");
  await assertAccessible(page, "donations page, empty");
  await screenshot(page, "console-donations-1-form.png");
  await page.getByRole("button", { name: "Create donation" }).click();

  // The link, shown once: in the field, on the clipboard and in the QR code.
  const link = await page.locator("#participant-link").inputValue(WAIT);
  assert.match(link, new RegExp(`^${STEWARD_URL}/donate/[A-Za-z0-9_-]+/$`));
  await page.getByRole("button", { name: "Copy link" }).click();
  await page.getByText("Copied.").waitFor(WAIT);
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);
  assert.equal(await decodeQr(page.locator("svg.qr")), link);
  const id = /Donation (\d+) is ready/.exec(await page.locator("#new-link").textContent())[1];

  // The list and the charts show it.
  const row = page.locator(`#donations-table tr[data-donation="${id}"]`);
  await row.waitFor(WAIT);
  assert.equal(await row.locator('td[data-field="status"]').textContent(), "pending");
  assert.equal(await row.locator('td[data-field="source"]').textContent(), "google");
  assert.equal(await page.locator("#status-chart rect").count(), 1, "one bar segment: one pending donation today");
  assert.match(await page.locator("#status-chart rect title").textContent(), /pending: 1$/);
  await assertAccessible(page, "donations page, link shown");
  await screenshot(page, "console-donations-2-created.png");
  await page.reload();
  await row.waitFor(WAIT);
  assert.equal(await page.locator("#participant-link").count(), 0, "the link is not shown again");

  await donate(link);

  // The donation's page follows it to processed by itself.
  await row.getByRole("link").click();
  await page.waitForURL(`${STEWARD_URL}/donations/${id}`, WAIT);
  await page.getByRole("heading", { level: 1, name: `Donation #${id}` }).waitFor(WAIT);
  await page.locator('#summary dd[data-field="status"]').getByText("processed").waitFor(PROCESSING);
  const rows = {};
  for (const type of ["search", "youtube_history"]) {
    const typeRow = page.locator(`#types-table tr[data-type="${type}"]`);
    await typeRow.locator('td[data-field="state"]').getByText("available").waitFor(WAIT);
    rows[type] = Number((await typeRow.locator('td[data-field="rows"]').textContent()).replace(/,/g, ""));
    assert.ok(rows[type] > 0, `${type} has rows`);
  }
  assert.equal(await page.locator("#donation-rows-chart rect").count(), 2);

  // Preview: the first rows of one type.
  await page.locator("#preview-type").selectOption("search");
  await page.getByRole("button", { name: "Show the first rows" }).click();
  await page.locator("#preview-table").waitFor(WAIT);
  assert.equal(await page.locator("#preview-table tr").count(), Math.min(rows.search, 20) + 1);
  assert.match(await page.locator("#preview-count").textContent(), new RegExp(`of ${rows.search} rows of search`));
  const columns = await page.locator("#preview-table th").allTextContents();
  assert.deepEqual(columns.slice(0, 4), ["data_type", "device_id", "timestamp", "platform"], "stored key order");
  assert.ok(await page.locator("#events-table tr").count() > 1, "the donation's events are listed");
  await assertAccessible(page, "donation page, processed");
  await screenshot(page, "console-donations-3-donation.png");

  // Export: every row as JSON Lines.
  await page.getByRole("button", { name: "Export as JSON Lines" }).click();
  const [download] = await Promise.all([page.waitForEvent("download", WAIT), page.locator("#export-link").click(WAIT)]);
  assert.equal(download.suggestedFilename(), `donation-${id}.jsonl`);
  const lines = (await readFile(await download.path(), "utf8")).trimEnd().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, rows.search + rows.youtube_history);
  assert.deepEqual(new Set(lines.map((l) => l.data_type)), new Set(["search", "youtube_history"]));

  // On a phone the pages fit the screen.
  await page.setViewportSize(PHONE);
  await assertNoHorizontalScroll(page, "donation page on a phone");
  await screenshot(page, "console-donations-4-phone.png");
  await page.setViewportSize(LAPTOP);

  // Delete: a second, explicit button; back on the list it is gone.
  await page.getByRole("button", { name: "Delete donation" }).click();
  await page.getByRole("button", { name: `Yes, delete donation #${id} and its data` }).click();
  await page.waitForURL(`${STEWARD_URL}/donations?deleted=${id}`, WAIT);
  await page.locator("#deleted-note").waitFor(WAIT);
  await page.locator("#donations-table, #donation-list p").first().waitFor(WAIT);
  assert.equal(await row.count(), 0);
  await page.goto(`${STEWARD_URL}/donations/${id}`);
  await page.locator("#page-status [role=alert]").waitFor(WAIT);
  assert.match(await page.locator("#page-status").textContent(), /NOT_FOUND/);
  assert.deepEqual(
    problems.filter((p) => !/NOT_FOUND|404/.test(p)),
    [],
  );
  await page.close();
});

test("a signed-in user without the researcher role is told why the donation was not created", async () => {
  const outsider = await launchChromium("steward-console-outsider-", { viewport: PHONE, isMobile: true });
  try {
    const page = await outsider.context.newPage();
    await page.goto(`${STEWARD_URL}/donations`);
    await signInAs(page, OUTSIDER);
    await page.waitForURL(`${STEWARD_URL}/donations`, WAIT);
    await page.locator("#donation-list p").waitFor(WAIT);
    await page.getByRole("button", { name: "Create donation" }).click();
    await page.locator("#create-result [role=alert]").waitFor(WAIT);
    assert.match(await page.locator("#create-result").textContent(), /PERMISSION_DENIED/);
    assert.equal(await page.locator("#participant-link").count(), 0);
    await assertNoHorizontalScroll(page, "donations page on a phone");
    await assertAccessible(page, "donations page, refused");
    await screenshot(page, "console-donations-5-refused.png");
  } finally {
    await outsider.close();
  }
});
