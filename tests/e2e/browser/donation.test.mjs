// The whole data-donation flow in a real browser on a phone-sized screen:
// a researcher creates a donation through Envoy's REST route (the curl of
// portability-server's README), the participant opens the link in Chromium,
// accepts the terms, approves at the sandbox Google consent page, watches the
// server's own workers process the archive, sees their rows, and deletes the
// donation; the researcher then gets 404 and the sandbox saw Google's
// `authorization:reset`. Every participant page is checked with axe-core for
// WCAG 2.2 A/AA violations (spec §3.8). Screenshots go to $STEWARD_ARTIFACTS.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { STEWARD_URL, assertAccessible, assertNoHorizontalScroll, envoyApi, launchChromium, screenshot, watchProblems } from "./harness.mjs";

/** A phone: the pages must work at this width without horizontal scrolling. */
const PHONE = { width: 390, height: 844 };
/** Page loads and clicks; a debug build on two busy cores can be slow. */
const WAIT = { timeout: 20_000 };
/** Export, download, parse and finalize by the server's workers (sandbox polls every 2 s). */
const PROCESSING = { timeout: 120_000 };
const REQUESTED = ["search", "youtube_history"];

/** A researcher's call to portability-server's REST surface through Envoy. */
const api = envoyApi("Token");

let chromium;
let context;

before(async () => {
  chromium = await launchChromium("steward-donation-", { viewport: PHONE, isMobile: true, hasTouch: true });
  ({ context } = chromium);
});

after(async () => {
  await chromium?.close();
});

/** Sandbox calls to the Google API paths since the test began. */
async function sandboxCalls(since) {
  const response = await fetch(`${STEWARD_URL}/sandbox/_calls?since=${since}`);
  assert.equal(response.status, 200);
  return response.json();
}

async function lastCallSeq() {
  const calls = await sandboxCalls(0);
  return calls.length ? calls[calls.length - 1].seq : 0;
}

/** A full-page screenshot, $STEWARD_ARTIFACTS/donation-`name`.png. */
function shot(page, name) {
  return screenshot(page, `donation-${name}.png`);
}

test("a participant donates, sees and deletes their Google data; the researcher queries it", async () => {
  const since = await lastCallSeq();

  // The researcher creates the donation exactly as portability-server's README does.
  const created = await api("POST", "/api/donations/", {
    source_type: "google_portability",
    data_start_date: "2015-01-01",
    data_end_date: "2035-12-31",
    requested_data_types: REQUESTED,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const { id, donation_url: link } = created.body;
  assert.ok(link.startsWith(`${STEWARD_URL}/donate/`), link);

  const page = await context.newPage();
  const problems = watchProblems(page);

  // The link is consumed and replaced by a token-free address.
  await page.goto(link, WAIT);
  assert.equal(new URL(page.url()).pathname, "/donate/");
  await page.getByRole("heading", { level: 1, name: /Donate your Google data/ }).waitFor(WAIT);
  assert.ok(!(await page.content()).includes(link.split("/donate/")[1].replace(/\/$/, "")), "no raw token in the page");
  await assertNoHorizontalScroll(page, "status page");
  await assertAccessible(page, "status page");
  await shot(page, "1-status");

  // Terms, then Google.
  await page.getByRole("link", { name: "Review the terms" }).click(WAIT);
  await page.getByRole("heading", { level: 1, name: "Before you donate" }).waitFor(WAIT);
  await assertNoHorizontalScroll(page, "terms page");
  await assertAccessible(page, "terms page");
  await page.getByRole("button", { name: /I agree/ }).click(WAIT);
  await page.getByRole("button", { name: "Continue to Google" }).click(WAIT);

  // The sandbox consent page stands in for Google's.
  await page.getByRole("button", { name: "Allow" }).waitFor(WAIT);
  assert.ok(new URL(page.url()).pathname.startsWith("/sandbox/google/"), page.url());
  await assertNoHorizontalScroll(page, "sandbox consent page");
  await assertAccessible(page, "sandbox consent page");
  await shot(page, "2-consent");
  await page.getByRole("button", { name: "Allow" }).click(WAIT);

  // Back on the status page; the server's workers process the archive and the
  // page follows live until "See my data" appears.
  await page.waitForURL(`${STEWARD_URL}/donate/`, WAIT);
  const participantLink = await page.locator("#participant-link").inputValue(WAIT);
  assert.match(participantLink, new RegExp(`^${STEWARD_URL}/participant/[A-Za-z0-9_-]{43}/$`));
  await page.getByRole("link", { name: "See my data" }).waitFor(PROCESSING);
  await assertAccessible(page, "processed status page");
  await shot(page, "3-processed");

  const researcher = await api("GET", `/api/donations/${id}/`);
  assert.equal(researcher.status, 200);
  assert.equal(researcher.body.status, "processed");

  // Every requested type has rows; the participant sees the same count the researcher gets.
  const types = await api("GET", `/api/donations/${id}/data/`);
  assert.deepEqual([...types.body.data_types].sort(), [...REQUESTED].sort());
  const search = await api("GET", `/api/donations/${id}/data/?data_type=search&limit=1`);
  assert.ok(search.body.count > 0, "the sandbox archive has search rows");

  await page.getByRole("link", { name: "See my data" }).click(WAIT);
  await page.getByRole("heading", { level: 1, name: /Your donated Google data/ }).waitFor(WAIT);
  await page.getByLabel("Data type").selectOption("search");
  await page.getByRole("button", { name: "Show" }).click(WAIT);
  const shown = await page.getByRole("status").first().textContent(WAIT);
  assert.equal(Number(shown.match(/([\d,]+) items/)[1].replaceAll(",", "")), search.body.count, shown);
  assert.ok((await page.locator("table.data tbody tr").count()) > 0, "rows are listed");
  await assertNoHorizontalScroll(page, "data page");
  await assertAccessible(page, "data page");
  await shot(page, "4-data");

  // Delete: confirm, then the result page; the donation is gone everywhere.
  await page.getByRole("link", { name: "Delete my data" }).click(WAIT);
  await assertAccessible(page, "delete page");
  await page.getByRole("button", { name: /delete my (data|donation)/i }).click(WAIT);
  await page.getByRole("heading", { level: 1, name: /deleted/ }).waitFor(WAIT);
  await assertAccessible(page, "deleted page");
  await shot(page, "5-deleted");

  assert.deepEqual(problems, []);
  assert.equal((await api("GET", `/api/donations/${id}/`)).status, 404);
  const opened = await page.goto(link, WAIT);
  assert.equal(opened.status(), 404, "the donation link no longer works");

  // Google's access was released: the sandbox saw authorization:reset.
  const calls = await sandboxCalls(since);
  assert.ok(
    calls.some((c) => c.method === "POST" && c.path.endsWith("/v1/authorization:reset")),
    `no authorization:reset among ${calls.map((c) => `${c.method} ${c.path}`).join(", ")}`,
  );
  await page.close();
});
