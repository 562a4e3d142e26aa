// The drop-off pages in a real browser (Debian's Chromium, driven by
// playwright-core) against the running stack (spec upload.md §2.1, §3.2,
// scenarios 52 and 70 in the page's tus form): the researcher creates a
// drop-off on /dropoffs and sees the link and the code once; an uploader opens
// the link, a wrong code is explained, the right one shows the drop-off, and
// files dropped or chosen go to /files/ with tus-js-client (code in
// Dropoff-Code, drop-off id in the metadata); a reload in the middle of a big
// file and choosing it again continues at the server's offset; the owner's
// page lists every file AVAILABLE with the SHA-256 computed here, and its
// download link returns the bytes. axe-core finds no WCAG A/AA violation.
// Screenshots go to $STEWARD_ARTIFACTS. Run by tests/e2e/suites/browser.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";

import { STEWARD_URL, TOKEN, WAIT, assertAccessible, screenshot } from "./harness.mjs";
import {
  UPLOAD_WAIT,
  createOnPage,
  enterCode,
  holdRequestsAfter,
  open as openIn,
  row,
  startBrowser,
  waitForState,
} from "./upload_page_shared.mjs";

let browser;
let context;
/** The drop-off the tests share: { id, link, code }. */
let dropoff;
/** Files on disk (so a file chosen again after a reload is the same file): name → { path, sha256, bytes }. */
let made;

before(async () => {
  browser = await startBrowser();
  ({ context, made } = browser);
  await browser.makeFile("measurements.csv", Buffer.from("id,value\n1,42\n2,17\n3,-5\n"));
  await browser.makeFile("scan-a.bin", randomBytes(20 * 1024 * 1024 + 12345));
  await browser.makeFile("scan-b.bin", randomBytes(20 * 1024 * 1024 + 777));
  await browser.makeFile("scan-c.bin", randomBytes(12 * 1024 * 1024 + 3));
  await browser.makeFile("photo.png", randomBytes(1000));
  await browser.makeFile("huge.csv", Buffer.alloc(2 * 1024 * 1024, "1,2\n"));
  await browser.makeFile("first.csv", Buffer.alloc(700 * 1024, "3,4\n"));
  await browser.makeFile("second.csv", Buffer.alloc(700 * 1024, "5,6\n"));
});

after(async () => {
  await browser?.close();
});

/** A new tab at `url` that records console errors, uncaught exceptions and every request. */
function open(url) {
  return openIn(context, url);
}

/** Holds every PATCH to /files/ after the first `pass`; `heldNow` resolves when one is held. */
function holdPatchesAfter(page, pass) {
  return holdRequestsAfter(page, "**/files/**", pass, (request) => request.method() === "PATCH");
}

test("the owner creates a drop-off on /dropoffs and sees its link and code once", async () => {
  const landing = await context.newPage();
  await landing.goto(STEWARD_URL);
  assert.equal(await landing.locator('a[href="/dropoffs"]').count(), 1, "the landing page links /dropoffs");
  await landing.close();

  const { page, problems } = await open(`${STEWARD_URL}/dropoffs`);
  dropoff = await createOnPage(page, {
    Title: "Interview recordings, wave 2",
    "Description (optional)": "Please upload the CSV exports and the scans.",
    "Largest file in MiB (optional)": "64",
  });
  assert.match(await page.locator("#create-result").textContent(), /shown only now/);

  await assertAccessible(page, "/dropoffs after creating");
  // The code is on screen here by design (shown once); it belongs to this test's drop-off.
  await screenshot(page, "dropoffs-created.png");
  assert.deepEqual(problems, []);
  await page.close();
});

test("a wrong code is explained and shows nothing of the drop-off", async () => {
  assert.ok(dropoff, "the drop-off from the first test");
  const { page, problems } = await open(dropoff.link);
  await assertAccessible(page, "/upload before the code");
  await enterCode(page, "AAAAA-AAAAA");
  const alert = page.locator("#code-status [role=alert]");
  assert.match(await alert.textContent(), /code is not right for this drop-off/);
  assert.equal(await page.locator("#dropoff").isHidden(), true);
  assert.equal(await page.locator("#dropoff-title").textContent(), "Drop-off", "no title leaks with a wrong code");
  await screenshot(page, "upload-wrong-code.png");
  assert.deepEqual(problems, []);
  await page.close();
});

test("two files, one dropped and one of 20 MiB chosen, are uploaded with tus and complete", async () => {
  assert.ok(dropoff, "the drop-off from the first test");
  const { page, problems, requests } = await open(`${STEWARD_URL}/drop/${dropoff.id}`);
  // The code as people retype it: lower case, without the hyphen.
  await enterCode(page, dropoff.code.replace("-", "").toLowerCase());
  assert.equal(await page.locator("#dropoff-title").textContent(), "Interview recordings, wave 2");
  assert.equal(await page.locator("#dropoff-description").textContent(), "Please upload the CSV exports and the scans.");
  assert.equal(await page.locator('#dropoff-limits dd[data-field="max-file"]').textContent(), "64.0 MiB");
  assert.equal(await page.locator('#dropoff-limits dd[data-field="types"]').textContent(), "any");
  assert.equal(await page.locator("body").getAttribute("data-transport"), "tus", "tus unless asked otherwise");

  // Dropped onto the drop zone, as a drag from the desktop would.
  const csv = made["measurements.csv"];
  const transfer = await page.evaluateHandle((text) => {
    const data = new DataTransfer();
    data.items.add(new File([text], "measurements.csv", { type: "text/csv" }));
    return data;
  }, csv.bytes.toString("utf8"));
  await page.dispatchEvent("#drop-zone", "drop", { dataTransfer: transfer });
  // Chosen with the file picker.
  await page.getByLabel("Files to upload").setInputFiles(made["scan-a.bin"].path);

  await waitForState(page, "measurements.csv", "done");
  await waitForState(page, "scan-a.bin", "done");
  assert.equal(await row(page, "scan-a.bin").locator("progress").evaluate((p) => p.value), 100);
  assert.equal(await page.locator("#upload-summary").textContent(), "2 of 2 files uploaded.");

  const creations = requests.filter((r) => r.method() === "POST" && new URL(r.url()).pathname === "/files/");
  assert.equal(creations.length, 2, "one tus creation per file");
  for (const creation of creations) {
    const headers = await creation.allHeaders();
    assert.equal(headers["dropoff-code"], dropoff.code.replace("-", "").toLowerCase());
    assert.match(headers["upload-metadata"], new RegExp(`dropoff ${Buffer.from(dropoff.id).toString("base64")}`));
  }
  for (const request of requests) {
    assert.ok(request.url().startsWith(`${STEWARD_URL}/`), `only this server: ${request.url()}`);
    assert.ok(!request.url().includes(dropoff.code.replace("-", "")), "the code never goes in a URL");
  }
  await assertAccessible(page, "/drop after two uploads");
  await screenshot(page, "upload-two-files.png");
  assert.deepEqual(problems, []);
  await page.close();
});

test("a reload in the middle of a 20 MiB upload, the code and the same file again: it continues at the server's offset", async () => {
  assert.ok(dropoff, "the drop-off from the first test");
  const big = made["scan-b.bin"];
  const { page, problems } = await open(dropoff.link);
  // The first chunk goes through; the second is held, as a network that stalls would (the reload cancels it).
  const { heldNow } = await holdPatchesAfter(page, 1);
  await enterCode(page, dropoff.code);
  await page.getByLabel("Files to upload").setInputFiles(big.path);
  await heldNow;
  const before = await row(page, "scan-b.bin").locator("progress").evaluate((p) => p.value);
  assert.ok(before > 0 && before < 100, `mid-upload at the reload (${before} %)`);
  await page.unrouteAll({ behavior: "ignoreErrors" });
  await page.reload();

  const resumed = [];
  page.on("request", (request) => {
    if (new URL(request.url()).pathname.startsWith("/files/")) resumed.push(request);
  });
  await enterCode(page, dropoff.code);
  await page.getByLabel("Files to upload").setInputFiles(big.path);
  await waitForState(page, "scan-b.bin", "done");

  const methods = resumed.map((r) => r.method());
  // OPTIONS: the page's check that tus answers (else it sends with gRPC-web); then HEAD of the stored URL.
  assert.deepEqual(methods.slice(0, 2), ["OPTIONS", "HEAD"], `the stored upload URL is asked first: ${methods.join(" ")}`);
  assert.ok(!methods.includes("POST"), "no new upload is created");
  const firstPatch = resumed.find((r) => r.method() === "PATCH");
  const offset = Number((await firstPatch.allHeaders())["upload-offset"]);
  assert.ok(offset > 0, `the first PATCH after the reload starts at ${offset}, not 0`);
  await screenshot(page, "upload-resumed.png");
  assert.deepEqual(problems, []);
  await page.close();
});

test("pause stops a running upload and resume continues it from the server's offset", async () => {
  assert.ok(dropoff, "the drop-off from the first test");
  const { page, problems } = await open(dropoff.link);
  const { heldNow } = await holdPatchesAfter(page, 1);
  await enterCode(page, dropoff.code);
  await page.getByLabel("Files to upload").setInputFiles(made["scan-c.bin"].path);
  await heldNow;
  await page.getByRole("button", { name: "Pause scan-c.bin" }).click();
  await waitForState(page, "scan-c.bin", "paused", WAIT);
  assert.match(await row(page, "scan-c.bin").locator(".file-state").textContent(), /^Paused at \d+ %\.$/);
  await page.unrouteAll({ behavior: "ignoreErrors" });

  const resumed = [];
  page.on("request", (request) => {
    if (request.method() === "PATCH") resumed.push(request);
  });
  await page.getByRole("button", { name: "Resume scan-c.bin" }).click();
  await waitForState(page, "scan-c.bin", "done");
  const offset = Number((await resumed[0].allHeaders())["upload-offset"]);
  assert.ok(offset > 0, `the first PATCH after resuming starts at ${offset}, not 0`);
  assert.deepEqual(problems, []);
  await page.close();
});

test("a file of a type not allowed, one too large, and one beyond the space left are refused next to the file", async () => {
  const creator = await open(`${STEWARD_URL}/dropoffs`);
  const small = await createOnPage(creator.page, {
    Title: "Spreadsheets only",
    "Allowed types (optional)": ".csv, text/*",
    "Largest file in MiB (optional)": "1",
    "Total space in MiB (optional)": "1",
  });
  await creator.page.close();

  const { page, problems } = await open(small.link);
  await enterCode(page, small.code);
  assert.equal(await page.locator('#dropoff-limits dd[data-field="types"]').textContent(), ".csv, text/*");
  await page.getByLabel("Files to upload").setInputFiles([made["photo.png"].path, made["huge.csv"].path]);
  await waitForState(page, "photo.png", "failed", WAIT);
  await waitForState(page, "huge.csv", "failed", WAIT);
  assert.match(await row(page, "photo.png").locator("[role=alert]").textContent(), /does not accept files of this type/);
  assert.match(await row(page, "huge.csv").locator("[role=alert]").textContent(), /larger than this drop-off accepts/);

  await page.getByLabel("Files to upload").setInputFiles(made["first.csv"].path);
  await waitForState(page, "first.csv", "done");
  // 700 KiB more would pass 1 MiB: the server refuses it (413 ERR_QUOTA_EXCEEDED) and the page says why.
  await page.getByLabel("Files to upload").setInputFiles(made["second.csv"].path);
  await waitForState(page, "second.csv", "failed");
  assert.match(await row(page, "second.csv").locator("[role=alert]").textContent(), /not enough space left/);
  assert.equal(await page.locator("#upload-summary").textContent(), "1 of 4 files uploaded, 3 not uploaded.");
  await assertAccessible(page, "/upload with refusals");
  await screenshot(page, "upload-refusals.png");
  assert.deepEqual(problems, []);
  await page.close();
});

test("the owner's page lists every file AVAILABLE with its SHA-256, and the download link returns the bytes", async () => {
  assert.ok(dropoff, "the drop-off from the first test");
  // The browser's sign-in: the dsg_token cookie, sent by the page's calls and by the plain download link.
  await context.addCookies([{ name: "dsg_token", value: TOKEN, url: STEWARD_URL, httpOnly: true, sameSite: "Strict" }]);
  const { page, problems } = await open(`${STEWARD_URL}/dropoffs/${dropoff.id}`);
  const expected = ["measurements.csv", "scan-a.bin", "scan-b.bin", "scan-c.bin"];
  // The finalize job hashes and seals each file after its last byte: ask again until all are stored.
  const deadline = Date.now() + UPLOAD_WAIT.timeout;
  let shown = [];
  for (;;) {
    await page.locator("#file-table, #files p, #dropoff-details [role=alert]").first().waitFor(WAIT);
    shown = await page.locator("#file-table tbody tr").evaluateAll((rows) =>
      rows.map((r) => ({
        name: r.querySelector("td")?.firstChild?.textContent,
        status: r.querySelector('[data-field="status"]')?.textContent,
        sha256: r.querySelector('[data-field="sha256"]')?.textContent,
        href: r.querySelector("a.download")?.getAttribute("href") ?? null,
      })),
    );
    if (shown.length === expected.length && shown.every((f) => f.status === "available")) break;
    assert.ok(Date.now() < deadline, `files never all AVAILABLE: ${JSON.stringify(shown)}`);
    await page.waitForTimeout(1000);
    await page.getByRole("button", { name: "Show drop-off" }).click();
  }
  assert.deepEqual(shown.map((f) => f.name).sort(), expected);
  for (const file of shown) {
    assert.equal(file.sha256, made[file.name].sha256, `${file.name}: SHA-256 computed by the server`);
    assert.match(file.href, new RegExp(`^/dropoffs/${dropoff.id}/files/[0-9a-f-]{36}/content$`));
  }
  assert.equal(await page.locator('#dropoff-details dd[data-field="file-count"]').textContent(), "4");
  // Upload volume: all four files completed today, one bar with their total size.
  const total = expected.reduce((sum, name) => sum + made[name].bytes.length, 0);
  const today = new Date().toISOString().slice(0, 10);
  const volume = await page.locator("#volume-chart table tr").evaluateAll((rows) =>
    rows.slice(1).map((r) => [r.querySelector("th")?.textContent, r.querySelector("td")?.textContent]),
  );
  assert.equal(volume.length, 1, JSON.stringify(volume));
  assert.equal(volume[0][0], today);
  assert.equal(await page.locator("#volume-chart rect").count(), 1);
  assert.equal(volume[0][1], `${(total / 1024 / 1024).toFixed(1)} MiB`, `${total} bytes`);

  // The link as the browser follows it, with the cookie.
  for (const name of ["measurements.csv", "scan-b.bin"]) {
    const file = shown.find((f) => f.name === name);
    const response = await context.request.get(`${STEWARD_URL}${file.href}`);
    assert.equal(response.status(), 200);
    assert.match(response.headers()["content-disposition"], /^attachment;/);
    const body = await response.body();
    assert.equal(body.length, made[name].bytes.length);
    assert.equal(createHash("sha256").update(body).digest("hex"), made[name].sha256, `${name}: downloaded bytes`);
  }
  // A click on the link downloads the file.
  const [download] = await Promise.all([
    page.waitForEvent("download", WAIT),
    page.locator("a.download", { hasText: "measurements.csv" }).click(),
  ]);
  assert.equal(download.suggestedFilename(), "measurements.csv");
  const saved = await readFile(await download.path());
  assert.equal(createHash("sha256").update(saved).digest("hex"), made["measurements.csv"].sha256);

  await assertAccessible(page, "/dropoffs/{id}");
  await screenshot(page, "dropoff-owner.png");
  assert.deepEqual(problems, []);
  await page.close();
  await context.clearCookies();
});
