// A real tus client, tus-js-client 4.3.1 under Node (not the browser), against
// Steward's /files/ on the running stack (spec upload.md §3, §5; scenarios 37,
// 67, 68 and 71): the drop-off id travels in the metadata key `dropoff`, the
// code in the `Dropoff-Code` header. Uploads with the client's defaults, with
// `overridePatchMethod` and 1 MiB chunks, with creation-with-upload (also
// through Envoy), with a deferred length from a stream, and of an empty file
// finish AVAILABLE with the SHA-256 computed here; `abort(true)` gets 204 and
// the upload is gone (410); `parallelUploads` fails at once with 400
// ERR_CONCATENATION_UNSUPPORTED; a wrong code is 403, none is 401. A TCP link
// in this file that cuts a PATCH mid-body shows the client resuming from the
// server's committed offset (by its own retry, and by a second Upload found
// through FileUrlStorage) with identical bytes. Drop-offs are made and files
// checked over the owner's REST API through Envoy (harness.mjs's envoyApi).
// Run by tests/e2e/suites/browser.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import * as tus from "tus-js-client";

import { STEWARD_URL, env, envoyApi } from "./harness.mjs";

const ENVOY_URL = env("ENVOY_URL");
const ENDPOINT = `${STEWARD_URL}/files/`;
const MiB = 1 << 20;
/** A debug build on two busy cores seals and hashes tens of MiB in the finalize job. */
const SETTLE_MS = 180_000;

let dir;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "steward-tus-node-"));
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

// ---------------------------------------------------------------- owner's API

/** The researcher's call to UploadService's REST binding through Envoy. */
const api = envoyApi("Bearer");

/** A new drop-off: { id, code } (the code is shown this once). */
async function createDropoff(title) {
  const { status, body } = await api("POST", "/api/upload/v1/dropoffs", { title });
  assert.equal(status, 200, JSON.stringify(body));
  assert.match(body.dropoff.dropoff_id, /^[0-9a-f-]{36}$/);
  assert.ok(body.upload_code);
  return { id: body.dropoff.dropoff_id, code: body.upload_code };
}

async function listFiles(dropoffId) {
  const { status, body } = await api("GET", `/api/upload/v1/dropoffs/${dropoffId}/files`);
  assert.equal(status, 200, JSON.stringify(body));
  return body.files ?? [];
}

/** The owner's view of file `name` once it left UPLOADING and PROCESSING. */
async function settled(dropoffId, name) {
  const deadline = Date.now() + SETTLE_MS;
  let seen;
  while (Date.now() < deadline) {
    seen = (await listFiles(dropoffId)).find((f) => f.name === name);
    if (seen && !["FILE_STATUS_UPLOADING", "FILE_STATUS_PROCESSING"].includes(seen.status)) return seen;
    await sleep(200);
  }
  assert.fail(`${name} did not settle: ${JSON.stringify(seen)}`);
}

async function assertStored(dropoffId, name, bytes) {
  const file = await settled(dropoffId, name);
  assert.equal(file.status, "FILE_STATUS_AVAILABLE", JSON.stringify(file));
  assert.equal(Number(file.size), bytes.length, `${name}: size`);
  assert.equal(file.sha256, sha256(bytes), `${name}: SHA-256 computed by the server`);
  return file;
}

/** A tus HEAD as a script would send it: { status, offset }. */
async function head(url, code) {
  const response = await fetch(url, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0", "Dropoff-Code": code } });
  const offset = response.headers.get("upload-offset");
  return { status: response.status, offset: offset === null ? null : Number(offset) };
}

// ------------------------------------------------------------ the tus client

/** Runs an Upload to its end: resolves { upload, lastResponse } on onSuccess, rejects with onError's error. */
function upload(input, options) {
  return new Promise((resolve, reject) => {
    const u = new tus.Upload(input, {
      ...options,
      onSuccess: ({ lastResponse }) => resolve({ upload: u, lastResponse }),
      onError: reject,
    });
    u.start();
  });
}

/** A drop-off's tus options: the code in the header, the drop-off id in the metadata. */
function dropoffOptions(dropoff, filename, filetype = "application/octet-stream") {
  return {
    endpoint: ENDPOINT,
    headers: { "Dropoff-Code": dropoff.code },
    metadata: { dropoff: dropoff.id, filename, filetype },
  };
}

/**
 * tus-js-client's own Node HTTP stack, with every request written down as it
 * goes out and comes back: { method, url, headers (the tus ones), bytes (a
 * buffer body's size), status, offset (the answer's Upload-Offset), body, error }.
 */
class Recorder {
  constructor(requestOptions = {}) {
    this.inner = new tus.DefaultHttpStack(requestOptions);
    this.log = [];
  }

  createRequest(method, url) {
    const request = this.inner.createRequest(method, url);
    const entry = { method, url };
    this.log.push(entry);
    const send = request.send.bind(request);
    request.send = async (body = null) => {
      entry.headers = {};
      for (const name of [
        "X-HTTP-Method-Override",
        "Upload-Offset",
        "Upload-Length",
        "Upload-Defer-Length",
        "Upload-Concat",
        "Content-Type",
        "Dropoff-Code",
      ]) {
        const value = request.getHeader(name);
        if (value !== undefined) entry.headers[name] = String(value);
      }
      entry.bytes = body instanceof Uint8Array ? body.length : null;
      try {
        const response = await send(body);
        entry.status = response.getStatus();
        const offset = response.getHeader("Upload-Offset");
        entry.offset = offset === undefined ? null : Number(offset);
        entry.body = response.getBody();
        return response;
      } catch (error) {
        entry.error = error.code ?? error.message;
        throw error;
      }
    };
    return request;
  }

  getName() {
    return `Recorder(${this.inner.getName()})`;
  }

  /** The log as "METHOD status" lines, for assertion messages. */
  get summary() {
    return this.log
      .map((e) => {
        const override = e.headers?.["X-HTTP-Method-Override"];
        return `${e.method}${override ? `(${override})` : ""} ${e.status ?? e.error ?? "pending"}`;
      })
      .join(", ");
  }
}

// --------------------------------------------------- a link that breaks a PATCH

const steward = new URL(STEWARD_URL);

/**
 * Finds the first PATCH to /files/ in a connection's client-to-server bytes
 * and counts its body bytes (tus-js-client's Node stack gives buffer and file
 * bodies a Content-Length, so these are the file's bytes). `feed(chunk)`
 * returns how many bytes of `chunk` may pass before the limit, or null when all may.
 */
class PatchBodyCounter {
  constructor(limit) {
    this.limit = limit;
    this.phase = "request-line";
    this.tail = Buffer.alloc(0);
    this.count = 0;
  }

  feed(chunk) {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.phase === "body") {
        const take = Math.min(this.limit - this.count, chunk.length - pos);
        this.count += take;
        pos += take;
        if (this.count >= this.limit) return pos;
        continue;
      }
      const needle = this.phase === "request-line" ? "PATCH /files/" : "\r\n\r\n";
      const hay = Buffer.concat([this.tail, chunk.subarray(pos)]);
      const at = hay.indexOf(needle);
      if (at < 0) {
        this.tail = hay.subarray(Math.max(0, hay.length - needle.length + 1));
        return null;
      }
      pos += at + needle.length - this.tail.length;
      this.tail = Buffer.alloc(0);
      this.phase = this.phase === "request-line" ? "headers" : "body";
    }
    return null;
  }
}

/**
 * A TCP link to Steward that breaks the first PATCH once `after` bytes of its
 * body went through. `mode: "cut"`: the server's side is closed at once and,
 * once `onFault()` settled, the client's; `mode: "hold"`: nothing more passes
 * either way (what the client sends is dropped, so the upload is in progress
 * for as long as the client waits), and `onFault()` is told; the client
 * closing its side closes the server's. Every other connection and request passes untouched.
 */
async function brokenLink({ after: limit, mode, onFault }) {
  let armed = true;
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(steward.port), steward.hostname);
    sockets.add(client).add(upstream);
    const counter = new PatchBodyCounter(limit);
    let faulted = false;
    client.on("error", () => {});
    upstream.on("error", () => client.destroy());
    // A cut connection's server side ends by itself, once what went through reached it.
    client.on("close", () => {
      sockets.delete(client);
      if (!(faulted && mode === "cut")) upstream.destroy();
    });
    upstream.on("close", () => {
      sockets.delete(upstream);
      if (!faulted) client.destroy();
    });
    upstream.on("data", (data) => {
      if (!faulted) client.write(data);
    });
    upstream.on("drain", () => {
      if (!faulted) client.resume();
    });
    client.on("data", (chunk) => {
      if (faulted) return;
      const pass = armed ? counter.feed(chunk) : null;
      if (pass === null) {
        if (!upstream.write(chunk)) client.pause();
        return;
      }
      armed = false;
      faulted = true;
      if (mode === "cut") {
        client.pause();
        upstream.end(chunk.subarray(0, pass), () => {
          Promise.resolve(onFault?.()).finally(() => client.destroy());
        });
      } else {
        upstream.write(chunk.subarray(0, pass));
        client.resume();
        onFault?.();
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = server.address().port;

  /** Routes every connection of the client's HTTP stack through the link, whatever host its URLs name. */
  class ThroughLink extends http.Agent {
    createConnection() {
      return net.connect(port, "127.0.0.1");
    }
  }
  const agent = new ThroughLink({ keepAlive: true });
  return {
    agent,
    get faulted() {
      return !armed;
    },
    async close() {
      agent.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Polls HEAD until the committed offset reaches `atLeast` (the server stored what it received). */
async function committedOffset(url, code, atLeast) {
  const deadline = Date.now() + 30_000;
  let last;
  while (Date.now() < deadline) {
    last = await head(url, code);
    assert.equal(last.status, 200);
    if (last.offset >= atLeast) return last.offset;
    await sleep(100);
  }
  assert.fail(`HEAD never showed ${atLeast} committed bytes; last ${JSON.stringify(last)}`);
}

// ------------------------------------------------------------------- the tests

test("scenario 67: the client's defaults plus Dropoff-Code and the dropoff metadata store the file", async () => {
  const dropoff = await createDropoff("tus-js-client defaults");
  const bytes = randomBytes(3 * MiB + 4321);
  const file = path.join(dir, "survey.bin");
  await writeFile(file, bytes);
  // A Node fs.ReadStream: the client reads the file's size and slices it itself.
  const { upload: done, lastResponse } = await upload(createReadStream(file), dropoffOptions(dropoff, "survey.bin"));
  assert.equal(lastResponse.getStatus(), 204);
  assert.equal(Number(lastResponse.getHeader("Upload-Offset")), bytes.length);
  assert.match(done.url, new RegExp(`^${STEWARD_URL}/files/[0-9a-f-]{36}$`));
  const stored = await assertStored(dropoff.id, "survey.bin", bytes);
  assert.equal(stored.metadata.dropoff, dropoff.id);
  assert.equal(stored.metadata.filetype, "application/octet-stream");
  assert.equal(stored.protocol, "UPLOAD_PROTOCOL_TUS");
  // The code travels in a header only: it is not part of what the owner sees.
  assert.ok(!JSON.stringify(stored).includes(dropoff.code), "the code is not stored with the file");
});

test("scenario 68: overridePatchMethod with 1 MiB chunks sends POST + X-HTTP-Method-Override: PATCH", async () => {
  const dropoff = await createDropoff("tus-js-client overridePatchMethod");
  const bytes = randomBytes(3 * MiB + 512 * 1024 + 9);
  const recorder = new Recorder();
  await upload(bytes, {
    ...dropoffOptions(dropoff, "override.bin"),
    overridePatchMethod: true,
    chunkSize: MiB,
    httpStack: recorder,
  });
  const [create, ...chunks] = recorder.log;
  assert.equal(create.method, "POST");
  assert.equal(create.status, 201);
  assert.equal(chunks.length, 4, recorder.summary);
  chunks.forEach((chunk, i) => {
    assert.equal(chunk.method, "POST");
    assert.equal(chunk.headers["X-HTTP-Method-Override"], "PATCH");
    assert.equal(chunk.headers["Upload-Offset"], String(i * MiB));
    assert.equal(chunk.status, 204, chunk.body);
    assert.equal(chunk.offset, Math.min((i + 1) * MiB, bytes.length));
  });
  await assertStored(dropoff.id, "override.bin", bytes);
});

test("scenario 68: uploadDataDuringCreation stores the whole file with the creation POST", async () => {
  const dropoff = await createDropoff("tus-js-client creation-with-upload");
  const bytes = randomBytes(2 * MiB + 77);
  const recorder = new Recorder();
  const { lastResponse } = await upload(bytes, {
    ...dropoffOptions(dropoff, "created-with-data.bin"),
    uploadDataDuringCreation: true,
    httpStack: recorder,
  });
  assert.equal(recorder.log.length, 1, recorder.summary);
  const [create] = recorder.log;
  assert.equal(create.method, "POST");
  assert.equal(create.headers["Content-Type"], "application/offset+octet-stream");
  assert.equal(create.bytes, bytes.length);
  assert.equal(lastResponse.getStatus(), 201);
  assert.equal(create.offset, bytes.length);
  await assertStored(dropoff.id, "created-with-data.bin", bytes);
});

test("through Envoy: a 6 MiB creation-with-upload passes /files/ (beyond Envoy's 4 MiB REST body limit)", async () => {
  const dropoff = await createDropoff("tus-js-client through Envoy");
  const bytes = randomBytes(6 * MiB + 1);
  const recorder = new Recorder();
  await upload(bytes, {
    ...dropoffOptions(dropoff, "via-envoy.bin"),
    endpoint: `${ENVOY_URL}/files/`,
    uploadDataDuringCreation: true,
    httpStack: recorder,
  });
  assert.deepEqual(
    recorder.log.map((e) => [e.method, e.status, e.offset]),
    [["POST", 201, bytes.length]],
  );
  assert.equal(recorder.log[0].url, `${ENVOY_URL}/files/`);
  await assertStored(dropoff.id, "via-envoy.bin", bytes);
});

test("scenario 68: uploadLengthDeferred from a Node stream sends the length with the last PATCH", async () => {
  const dropoff = await createDropoff("tus-js-client deferred length");
  // Not a multiple of chunkSize: 4.3.1 stalls, without a request, on a stream that ends exactly
  // at a chunk boundary (tus-js-client issue 779, on the client's side; the server never hears of it).
  const bytes = randomBytes(2 * MiB + 512 * 1024 + 11);
  // Pieces of odd sizes, as a pipe or a socket would hand them over.
  async function* pieces() {
    for (let at = 0; at < bytes.length; at += 100_003) yield bytes.subarray(at, at + 100_003);
  }
  const recorder = new Recorder();
  // A byte stream (as a pipe or socket is), so the client cuts it into chunkSize PATCHes.
  await upload(Readable.from(pieces(), { objectMode: false }), {
    ...dropoffOptions(dropoff, "streamed.bin"),
    uploadLengthDeferred: true,
    chunkSize: MiB,
    httpStack: recorder,
  });
  // Creation without a length; 1 MiB PATCHes; the one that reaches the stream's end declares the length.
  const size = bytes.length;
  assert.equal(recorder.log[0].headers["Upload-Defer-Length"], "1");
  assert.deepEqual(
    recorder.log.map((e) => [e.method, e.headers["Upload-Offset"], e.headers["Upload-Length"], e.bytes, e.status, e.offset]),
    [
      ["POST", undefined, undefined, null, 201, 0],
      ["PATCH", "0", undefined, MiB, 204, MiB],
      ["PATCH", String(MiB), undefined, MiB, 204, 2 * MiB],
      ["PATCH", String(2 * MiB), String(size), size - 2 * MiB, 204, size],
    ],
    recorder.summary,
  );
  await assertStored(dropoff.id, "streamed.bin", bytes);
});

test("an empty file is complete with its creation: AVAILABLE with the SHA-256 of nothing", async () => {
  const dropoff = await createDropoff("tus-js-client empty file");
  const recorder = new Recorder();
  await upload(Buffer.alloc(0), { ...dropoffOptions(dropoff, "empty.csv", "text/csv"), httpStack: recorder });
  assert.deepEqual(
    recorder.log.map((e) => [e.method, e.headers["Upload-Length"], e.status, e.offset]),
    [["POST", "0", 201, 0]],
  );
  await assertStored(dropoff.id, "empty.csv", Buffer.alloc(0));
});

test("scenario 68: abort(true) on an upload in progress terminates it with 204; HEAD then answers 410", async () => {
  const dropoff = await createDropoff("tus-js-client abort");
  const bytes = randomBytes(16 * MiB);
  let inProgress;
  const held = new Promise((resolve) => (inProgress = resolve));
  // The link holds the PATCH after 2 MiB: the upload is in progress for as long as we like.
  const link = await brokenLink({ after: 2 * MiB, mode: "hold", onFault: () => inProgress() });
  try {
    const recorder = new Recorder({ agent: link.agent });
    const failures = [];
    const u = new tus.Upload(bytes, {
      ...dropoffOptions(dropoff, "aborted.bin"),
      httpStack: recorder,
      onError: (error) => failures.push(error),
      onSuccess: () => failures.push(new Error("the upload finished before abort")),
    });
    u.start();
    await held;
    assert.ok(u.url, "the upload was created");
    await u.abort(true);
    const deletes = recorder.log.filter((e) => e.method === "DELETE");
    assert.equal(deletes.length, 1, recorder.summary);
    assert.equal(deletes[0].status, 204, deletes[0].body);
    assert.equal(deletes[0].url, u.url);
    assert.deepEqual(failures, []);
    assert.deepEqual(await head(u.url, dropoff.code), { status: 410, offset: null });
    const file = await settled(dropoff.id, "aborted.bin");
    assert.equal(file.status, "FILE_STATUS_TERMINATED", JSON.stringify(file));
  } finally {
    await link.close();
  }
});

test("scenario 71: parallelUploads: 2 fails at once with 400 ERR_CONCATENATION_UNSUPPORTED", async () => {
  const dropoff = await createDropoff("tus-js-client parallelUploads");
  const bytes = randomBytes(2 * MiB);
  const recorder = new Recorder();
  const started = Date.now();
  const error = await upload(bytes, {
    ...dropoffOptions(dropoff, "parallel.bin"),
    parallelUploads: 2,
    httpStack: recorder,
  }).then(
    () => assert.fail("a parallel upload was accepted"),
    (e) => e,
  );
  assert.ok(Date.now() - started < 10_000, "no retries: a 400 is final");
  assert.ok(error instanceof tus.DetailedError, String(error));
  assert.equal(error.originalResponse.getStatus(), 400, error.message);
  assert.match(error.originalResponse.getBody(), /^ERR_CONCATENATION_UNSUPPORTED: \S.*\n$/);
  assert.equal(error.originalRequest.getHeader("Upload-Concat"), "partial");
  // Only the partial creations went out (no PATCH, no final concatenation), and nothing was stored.
  const partial = (e) => e.method === "POST" && e.headers["Upload-Concat"] === "partial";
  assert.ok(recorder.log.every(partial), recorder.summary);
  assert.deepEqual(await listFiles(dropoff.id), []);
});

test("onError shows 403 ERR_DROPOFF_CODE_INVALID for a wrong code, 401 ERR_DROPOFF_CODE_REQUIRED for none", async () => {
  const dropoff = await createDropoff("tus-js-client codes");
  const bytes = randomBytes(1000);
  const wrong = dropoff.code.startsWith("A") ? `B${dropoff.code.slice(1)}` : `A${dropoff.code.slice(1)}`;
  const refused = await upload(bytes, { ...dropoffOptions({ ...dropoff, code: wrong }, "wrong.bin") }).then(
    () => assert.fail("a wrong code was accepted"),
    (e) => e,
  );
  assert.equal(refused.originalResponse.getStatus(), 403, refused.message);
  assert.match(refused.originalResponse.getBody(), /^ERR_DROPOFF_CODE_INVALID: /);
  assert.ok(!refused.originalResponse.getBody().includes(wrong), "the code is not echoed");

  const { headers, ...noCode } = dropoffOptions(dropoff, "nocode.bin");
  assert.ok(headers["Dropoff-Code"]);
  const missing = await upload(bytes, noCode).then(
    () => assert.fail("an upload without a code was accepted"),
    (e) => e,
  );
  assert.equal(missing.originalResponse.getStatus(), 401, missing.message);
  assert.match(missing.originalResponse.getBody(), /^ERR_DROPOFF_CODE_REQUIRED: /);
  assert.equal(missing.originalResponse.getHeader("WWW-Authenticate"), "Dropoff-Code");
  assert.deepEqual(await listFiles(dropoff.id), []);
});

test("scenario 37: a PATCH cut off mid-body is resumed by the client's own retry (HEAD, PATCH from there)", async () => {
  const dropoff = await createDropoff("tus-js-client retry after a cut");
  const bytes = randomBytes(40 * MiB + 123);
  const link = await brokenLink({ after: 24 * MiB, mode: "cut" });
  try {
    const recorder = new Recorder({ agent: link.agent });
    // Defaults (retryDelays [0, 1000, 3000, 5000], one PATCH for the whole file).
    const { lastResponse } = await upload(bytes, { ...dropoffOptions(dropoff, "cut.bin"), httpStack: recorder });
    assert.ok(link.faulted, "the link cut a PATCH");
    assert.equal(lastResponse.getStatus(), 204);
    const log = recorder.log;
    assert.equal(log[0].method, "POST");
    assert.equal(log[1].method, "PATCH");
    assert.ok(log[1].error && log[1].status === undefined, `the first PATCH got no answer: ${recorder.summary}`);
    // After the cut: HEAD gives the committed offset and the next PATCH starts exactly there
    // (a PATCH may meet 409/423 while the server lets go of the cut one; the client asks HEAD again).
    const after = log.slice(2);
    assert.equal(after[0].method, "HEAD", recorder.summary);
    for (let i = 0; i < after.length; i++) {
      if (after[i].method !== "PATCH") continue;
      const before = after[i - 1];
      assert.equal(before.method, "HEAD", recorder.summary);
      assert.equal(after[i].headers["Upload-Offset"], String(before.offset), recorder.summary);
      assert.ok(before.offset <= 24 * MiB);
    }
    const final = after.at(-1);
    assert.equal(final.method, "PATCH");
    assert.equal(final.status, 204);
    assert.equal(final.bytes, bytes.length - Number(final.headers["Upload-Offset"]), "only the rest was sent again");
    await assertStored(dropoff.id, "cut.bin", bytes);
  } finally {
    await link.close();
  }
});

test("scenario 37: after a cut, a second Upload finds the stored URL and resumes at the committed offset", async () => {
  const dropoff = await createDropoff("tus-js-client resume from storage");
  const bytes = randomBytes(24 * MiB + 5);
  const file = path.join(dir, "resumed.bin");
  await writeFile(file, bytes);
  const urlStorage = new tus.FileUrlStorage(path.join(dir, "tus-urls.json"));
  await writeFile(urlStorage.path, "{}");
  const cutAt = 10 * MiB;
  const link = await brokenLink({ after: cutAt, mode: "cut" });
  try {
    const first = await upload(createReadStream(file), {
      ...dropoffOptions(dropoff, "resumed.bin"),
      httpStack: new Recorder({ agent: link.agent }),
      urlStorage,
      retryDelays: null,
    }).then(
      () => assert.fail("the cut upload finished"),
      (e) => e,
    );
    assert.ok(link.faulted);
    assert.ok(first instanceof tus.DetailedError, String(first));
    assert.equal(first.originalResponse, null, "a network error, not an answer");
    assert.equal(first.originalRequest.getMethod(), "PATCH");
  } finally {
    await link.close();
  }

  const stored = await urlStorage.findAllUploads();
  assert.equal(stored.length, 1, "the first Upload stored its URL");
  const url = stored[0].uploadUrl;
  // The server stored every byte it received before the cut ("store as much as possible").
  const committed = await committedOffset(url, dropoff.code, cutAt);
  assert.equal(committed, cutAt);

  const recorder = new Recorder();
  const second = await new Promise((resolve, reject) => {
    const u = new tus.Upload(createReadStream(file), {
      ...dropoffOptions(dropoff, "resumed.bin"),
      httpStack: recorder,
      urlStorage,
      onSuccess: () => resolve(u),
      onError: reject,
    });
    u.findPreviousUploads().then((previous) => {
      assert.equal(previous.length, 1);
      assert.equal(previous[0].uploadUrl, url);
      u.resumeFromPreviousUpload(previous[0]);
      u.start();
    }, reject);
  });
  assert.equal(second.url, url);
  assert.deepEqual(
    recorder.log.map((e) => [e.method, e.status]),
    [
      ["HEAD", 200],
      ["PATCH", 204],
    ],
    recorder.summary,
  );
  assert.equal(recorder.log[0].offset, committed);
  assert.equal(recorder.log[1].headers["Upload-Offset"], String(committed));
  assert.equal(recorder.log[1].offset, bytes.length);
  await assertStored(dropoff.id, "resumed.bin", bytes);
});
