// The uploader's page with its second transport, UploadService's chunk RPCs
// over gRPC-web (spec upload.md §2.5, scenario 52), in a real Chromium against
// the running stack: opened with `?transport=grpc-web`, the page sends a
// 50 MiB file in 4 MiB WriteChunks with the SHA-256 it computes while reading;
// a reload in the middle, the code and the same file again continue at
// GetUpload's offset (the page hashes the bytes already sent again, sends
// nothing twice) and the file ends AVAILABLE with the SHA-256 computed here,
// as the owner's API (ListFiles, REST through Envoy) shows. Pause and resume
// continue from the server's offset, and a deployment whose `OPTIONS /files/`
// gets no tus answer makes the page use gRPC-web by itself. Screenshots go to
// $STEWARD_ARTIFACTS. Run by tests/e2e/suites/browser.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";

import { WAIT, assertAccessible, envoyApi, screenshot } from "./harness.mjs";
import {
  createDropOff,
  enterCode,
  holdRequestsAfter,
  open,
  row,
  startBrowser,
  waitForState,
} from "./upload_page_shared.mjs";

/** The owner's calls to UploadService's REST binding through Envoy. */
const api = envoyApi("Bearer");
const MiB = 1024 * 1024;
/** The server's max_chunk_bytes: the page's WriteChunk size. */
const CHUNK = 4 * MiB;
/** 50 MiB sent, then hashed and sealed by a debug build on two busy cores. */
const BIG_WAIT = { timeout: 400_000 };
const WRITE_CHUNK = "**/steward.upload.v1.UploadService/WriteChunk";

let browser;
/** The drop-off the tests share: { id, link, code }. */
let dropoff;

before(async () => {
  browser = await startBrowser();
  await browser.makeFile("survey-2026.bin", randomBytes(50 * MiB));
  await browser.makeFile("interviews.bin", randomBytes(10 * MiB + 321));
  await browser.makeFile("notes.csv", Buffer.from("id,note\n1,first\n2,second\n"));
  await browser.makeFile("wave-1.csv", Buffer.alloc(700 * 1024, "7,8\n"));
  await browser.makeFile("wave-2.csv", Buffer.alloc(700 * 1024, "9,0\n"));
  dropoff = await createDropOff(browser.context, {
    Title: "Survey exports over gRPC-web",
    "Largest file in MiB (optional)": "64",
  });
});

after(async () => {
  await browser?.close();
});

/** Reads a protobuf varint at `at`: [value, next position]. */
function varint(bytes, at) {
  let value = 0n;
  let shift = 0n;
  for (;;) {
    const byte = bytes[at++];
    value |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return [value, at];
    shift += 7n;
  }
}

/**
 * The `offset` of a WriteChunk request as the browser sent it: a gRPC-web
 * frame (flag byte, 4-byte length) around a WriteChunkRequest, whose fields
 * 1 and 2 (upload_id, upload_code) come before 3 (offset, absent when 0) and
 * 4 (data).
 */
function writeChunkOffset(body) {
  assert.equal(body[0], 0, "an uncompressed gRPC-web data frame");
  let at = 5;
  for (;;) {
    const [key, next] = varint(body, at);
    const field = Number(key >> 3n);
    if (field === 3) return Number(varint(body, next)[0]);
    if (field === 4) return 0;
    assert.equal(Number(key & 7n), 2, `field ${field} is length-delimited`);
    const [length, start] = varint(body, next);
    at = start + Number(length);
  }
}

/** Records the offset of every WriteChunk the page sends from now on (the requests go on unchanged). */
async function recordWriteChunks(page) {
  const offsets = [];
  await page.route(WRITE_CHUNK, async (route) => {
    offsets.push(writeChunkOffset(route.request().postDataBuffer()));
    await route.continue();
  });
  return offsets;
}

/** The drop-off's files as its owner sees them: ListFiles, REST through Envoy, with the researcher's token. */
async function ownerFiles() {
  const { status, body } = await api("GET", `/api/upload/v1/dropoffs/${dropoff.id}/files`);
  assert.equal(status, 200, JSON.stringify(body));
  return body.files ?? [];
}

test("?transport=grpc-web: a 50 MiB file, a reload in the middle, the code and the file again: it continues at GetUpload's offset and ends AVAILABLE", async () => {
  assert.ok(dropoff, "the drop-off made before the tests");
  const big = browser.made["survey-2026.bin"];
  const { page, problems, requests } = await open(browser.context, `${dropoff.link}?transport=grpc-web`);
  // Three chunks go through; the fourth is held, as a network that stalls would (the reload cancels it).
  const { heldNow } = await holdRequestsAfter(page, WRITE_CHUNK, 3);
  await enterCode(page, dropoff.code);
  assert.equal(await page.locator("body").getAttribute("data-transport"), "grpc-web");
  await page.getByLabel("Files to upload").setInputFiles(big.path);
  await heldNow;
  const before = await row(page, "survey-2026.bin").locator("progress").evaluate((p) => p.value);
  assert.ok(before > 0 && before < 100, `mid-upload at the reload (${before} %)`);
  assert.equal(await row(page, "survey-2026.bin").getAttribute("data-transport"), "grpc-web");
  const paths = requests.map((r) => new URL(r.url()).pathname);
  assert.ok(!paths.some((p) => p.startsWith("/files/")), `no tus request, not even OPTIONS: ${paths.join(" ")}`);
  assert.ok(paths.includes("/steward.upload.v1.UploadService/CreateUpload"));
  await screenshot(page, "upload-grpc-before-reload.png");
  // The reload cancels the held chunk before the route lets it go: it never reaches the server.
  await page.reload();
  await page.unrouteAll();
  assert.equal(new URL(page.url()).search, "?transport=grpc-web");

  const calls = [];
  page.on("request", (request) => {
    const name = new URL(request.url()).pathname.split("/").pop();
    if (new URL(request.url()).pathname.startsWith("/steward.upload.v1.UploadService/")) calls.push(name);
  });
  const offsets = await recordWriteChunks(page);
  await enterCode(page, dropoff.code);
  await page.getByLabel("Files to upload").setInputFiles(big.path);
  await waitForState(page, "survey-2026.bin", "done", BIG_WAIT);

  // Three chunks were committed before the reload: the page asks GetUpload, creates nothing, and
  // its first WriteChunk starts there.
  const resumedFrom = Number(await row(page, "survey-2026.bin").getAttribute("data-resumed-from"));
  assert.equal(resumedFrom, 3 * CHUNK, "the page continued at GetUpload's offset");
  assert.equal(calls[0], "OpenDropOff");
  assert.equal(calls[1], "GetUpload", `the remembered upload is asked first: ${calls.join(" ")}`);
  assert.ok(!calls.includes("CreateUpload"), `no new upload is created: ${calls.join(" ")}`);
  assert.equal(offsets[0], resumedFrom, `the first WriteChunk after the reload starts at ${offsets[0]}`);
  const expected = [];
  for (let at = resumedFrom; at < big.bytes.length; at += CHUNK) expected.push(at);
  assert.deepEqual(offsets, expected, "one WriteChunk of 4 MiB at a time, each once, up to the end");
  assert.ok(calls.includes("FinalizeUpload"));

  // The page shows the server's SHA-256, and it is the one of the file on disk.
  const shown = await row(page, "survey-2026.bin").locator('[data-field="sha256"]').textContent();
  assert.equal(shown, big.sha256);
  assert.equal(await row(page, "survey-2026.bin").locator("progress").evaluate((p) => p.value), 100);
  assert.equal(await page.locator("#upload-summary").textContent(), "1 of 1 files uploaded.");
  const stored = await page.evaluate(() =>
    Object.keys(localStorage).filter((key) => key.startsWith("steward-grpc-upload/")),
  );
  assert.deepEqual(stored, [], "a finished upload is forgotten by the browser");

  // The owner's API: the file is AVAILABLE, sent over the RPCs, with the same SHA-256.
  const file = (await ownerFiles()).find((f) => f.name === "survey-2026.bin");
  assert.ok(file, "the owner lists the file");
  assert.equal(file.status, "FILE_STATUS_AVAILABLE");
  assert.equal(file.protocol, "UPLOAD_PROTOCOL_GRPC");
  assert.equal(Number(file.size), big.bytes.length);
  assert.equal(file.sha256, big.sha256);
  assert.equal(file.expected_sha256, big.sha256, "the digest the page sent with FinalizeUpload");

  await assertAccessible(page, "/upload?transport=grpc-web after a resumed upload");
  await screenshot(page, "upload-grpc-resumed.png");
  assert.deepEqual(problems, []);
  await page.close();
});

test("pause stops a gRPC-web upload and resume continues it from the server's offset", async () => {
  assert.ok(dropoff, "the drop-off made before the tests");
  const file = browser.made["interviews.bin"];
  const { page, problems } = await open(browser.context, `${dropoff.link}?transport=grpc-web`);
  const { heldNow } = await holdRequestsAfter(page, WRITE_CHUNK, 1);
  await enterCode(page, dropoff.code);
  await page.getByLabel("Files to upload").setInputFiles(file.path);
  await heldNow;
  await page.getByRole("button", { name: "Pause interviews.bin" }).click();
  await waitForState(page, "interviews.bin", "paused", WAIT);
  assert.match(await row(page, "interviews.bin").locator(".file-state").textContent(), /^Paused at \d+ %\.$/);
  await page.unrouteAll();

  const offsets = await recordWriteChunks(page);
  await page.getByRole("button", { name: "Resume interviews.bin" }).click();
  await waitForState(page, "interviews.bin", "done");
  assert.deepEqual(offsets, [CHUNK, 2 * CHUNK], "after the pause, the chunks from the server's offset on");
  assert.equal(await row(page, "interviews.bin").locator('[data-field="sha256"]').textContent(), file.sha256);
  assert.deepEqual(problems, []);
  await page.close();
});

test("when OPTIONS /files/ gets no tus answer, the page sends the file with gRPC-web by itself", async () => {
  assert.ok(dropoff, "the drop-off made before the tests");
  const { page, problems, requests } = await open(browser.context, dropoff.link);
  // As a deployment that routes only gRPC-web to Steward: /files/ is not there.
  await page.route("**/files/**", (route) => route.fulfill({ status: 404, body: "no route" }));
  await enterCode(page, dropoff.code);
  assert.equal(await page.locator("body").getAttribute("data-transport"), "grpc-web");
  await page.getByLabel("Files to upload").setInputFiles(browser.made["notes.csv"].path);
  await waitForState(page, "notes.csv", "done");
  const tus = requests.filter((r) => new URL(r.url()).pathname.startsWith("/files/")).map((r) => r.method());
  assert.deepEqual(tus, ["OPTIONS"], "only the probe went to /files/");
  assert.equal(
    await row(page, "notes.csv").locator('[data-field="sha256"]').textContent(),
    browser.made["notes.csv"].sha256,
  );
  const listed = (await ownerFiles()).find((f) => f.name === "notes.csv");
  assert.equal(listed?.status, "FILE_STATUS_AVAILABLE");
  assert.equal(listed?.protocol, "UPLOAD_PROTOCOL_GRPC");
  await screenshot(page, "upload-grpc-fallback.png");
  assert.deepEqual(problems, []);
  await page.close();
});

test("a refusal of the chunk RPCs (QUOTA_EXCEEDED from CreateUpload) is explained next to the file", async () => {
  const small = await createDropOff(browser.context, {
    Title: "One mebibyte over gRPC-web",
    "Largest file in MiB (optional)": "1",
    "Total space in MiB (optional)": "1",
  });
  const { page, problems } = await open(browser.context, `${small.link}?transport=grpc-web`);
  await enterCode(page, small.code);
  await page.getByLabel("Files to upload").setInputFiles(browser.made["wave-1.csv"].path);
  await waitForState(page, "wave-1.csv", "done");
  // 700 KiB more would pass 1 MiB: RESOURCE_EXHAUSTED with the reason QUOTA_EXCEEDED.
  await page.getByLabel("Files to upload").setInputFiles(browser.made["wave-2.csv"].path);
  await waitForState(page, "wave-2.csv", "failed", WAIT);
  assert.match(await row(page, "wave-2.csv").locator("[role=alert]").textContent(), /not enough space left/);
  assert.equal(await page.locator("#upload-summary").textContent(), "1 of 2 files uploaded, 1 not uploaded.");
  await assertAccessible(page, "/upload?transport=grpc-web with a refusal");
  await screenshot(page, "upload-grpc-refusal.png");
  assert.deepEqual(problems, []);
  await page.close();
});
