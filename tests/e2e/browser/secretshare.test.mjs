// The browser's private-aggregation module (clients/web/dist/secretshare.js,
// secretshare.md §2.2–§2.5, §4) in a real Chromium: exact decoding (scenario 6),
// encoding that never rounds, CSPRNG shares that recombine (scenario 5), the
// config and batch digests against Node's SHA-256 over the spec's text and
// against the Python client, and scenario 53 in one run: on three real
// `steward serve` parties (secretshare_parties.py), R splits and submits
// (secretshare_submit.R, the R client), Python seals and sums, and the page
// fetches the endpoint and the batch from the three parties over gRPC-web (the
// generated client of clients/web) and decodes them to the same decimals.
// Run by tests/e2e/suites/browser (`node --test`).

import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";

import { PYTHON, PYTHON_ENV, REPO, STEWARD_URL, launchChromium, watchProblems } from "./harness.mjs";

const BUNDLE = path.join(REPO, "clients/web/dist/secretshare.js");
const WEB_SRC = path.join(REPO, "clients/web/src");
const ESBUILD = path.join(REPO, "clients/web/node_modules/.bin/esbuild");

const P = 18446744069414584321n;
const HALF = (P - 1n) / 2n;
/** ValueEncoding in the proto: INTEGER = 1, FIXED_POINT = 2. */
const INTEGER = 1;
const FIXED_POINT = 2;

/** A page on the stack's own origin (http://127.0.0.1: a secure context, so crypto.subtle exists). */
const PAGE_URL = `${STEWARD_URL}/__secretshare-test/`;

let chromium;
let context;
let page;
/** The page's console errors, uncaught exceptions and failed requests. */
let problems = [];
/** Scripts the page imports from its own origin, by file name. */
const scripts = new Map();
/** The running secretshare_parties.py, if any (stopped by closing its stdin). */
let partiesScript;

before(async () => {
  chromium = await launchChromium("steward-chromium-");
  ({ context } = chromium);
  scripts.set("secretshare.js", await readFile(BUNDLE, "utf8"));
  page = await context.newPage();
  problems = watchProblems(page);
  page.on("requestfailed", (request) =>
    problems.push(`request failed: ${request.method()} ${request.url()}: ${request.failure()?.errorText}`),
  );
  // The test page and the bundle are served by the browser itself, on Steward's origin.
  await page.route(`${PAGE_URL}**`, (route) => {
    const url = route.request().url();
    if (url === PAGE_URL) {
      return route.fulfill({
        contentType: "text/html; charset=utf-8",
        body: '<!doctype html><meta charset="utf-8"><title>secretshare test</title>',
      });
    }
    const script = scripts.get(url.slice(PAGE_URL.length));
    if (script !== undefined) {
      return route.fulfill({ contentType: "text/javascript; charset=utf-8", body: script });
    }
    return route.fulfill({ status: 404, body: "" });
  });
  const response = await page.goto(PAGE_URL);
  assert.equal(response.status(), 200);
  assert.equal(await page.evaluate(() => window.isSecureContext), true);
  await page.evaluate(async () => {
    window.SS = await import("./secretshare.js");
  });
});

after(async () => {
  await stopParties();
  await chromium?.close();
});

/** An endpoint as the page builds it (bigints cannot cross evaluate(): bounds as strings). */
function endpoint(fields) {
  return {
    name: "e2e_values",
    vectorLength: 1,
    encoding: FIXED_POINT,
    decimalScale: 2,
    minValue: "-100000",
    maxValue: "100000",
    minBatchSize: 5,
    ...fields,
  };
}

/** Runs `body(SS, endpoint, ...args)` in the page, with the endpoint's bounds as bigints. */
async function inPage(body, ep, ...args) {
  return page.evaluate(
    async ([source, ep, args]) => {
      const f = new Function(`return (${source})`)();
      const e = ep && { ...ep, minValue: BigInt(ep.minValue), maxValue: BigInt(ep.maxValue) };
      return f(window.SS, e, ...args);
    },
    [body.toString(), ep, args],
  );
}

/** The error message thrown by `encode(values, ep)` in the page, or null. */
async function encodeError(ep, values) {
  return inPage(
    (SS, e, values) => {
      try {
        SS.encode(values, e);
        return null;
      } catch (error) {
        return `${error.name}: ${error.message}`;
      }
    },
    ep,
    values,
  );
}

function sha256(text) {
  return createHash("sha256").update(text).digest("hex");
}

/** The §2.3 digest text, written out here independently of the module. */
function specConfigText(e, partyCount) {
  const encoding = e.encoding === INTEGER ? "integer" : "fixed_point";
  return (
    "steward-secretshare-endpoint/v1\n" +
    `name=${e.name}\nparty_count=${partyCount}\nfield=field64\nmodulus=18446744069414584321\n` +
    `vector_length=${e.vectorLength}\nencoding=${encoding}\ndecimal_scale=${e.decimalScale}\n` +
    `min_value=${e.minValue}\nmax_value=${e.maxValue}\nmin_batch_size=${e.minBatchSize}\n` +
    `max_submissions_per_contributor=${e.maxSubmissionsPerContributor ?? 1}\n`
  );
}

/** The §2.5 batch digest, computed here with Node's SHA-256. */
function specBatchDigest(name, ids) {
  const hash = createHash("sha256").update(`steward-secretshare-batch/v1\n${name}\n`);
  for (const id of ids.map((i) => i.toLowerCase()).sort()) hash.update(Buffer.from(id, "hex"));
  return hash.digest("hex");
}

/** Runs a Python snippet with the repo's steward_client and returns its stdout. */
async function python(args, timeout = 60_000) {
  const { stdout } = await promisify(execFile)(PYTHON, args, { env: PYTHON_ENV, timeout, maxBuffer: 1 << 20 });
  return stdout;
}

/** Exact decimal text with `scale` fractional digits → integer units (test-side, no floats). */
function units(text, scale) {
  const negative = text.startsWith("-");
  const [whole, fraction = ""] = text.replace(/^[+-]/, "").split(".");
  const value = BigInt(whole + fraction.padEnd(scale, "0"));
  return negative ? -value : value;
}

function fromUnits(value, scale) {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(scale + 1, "0");
  return `${negative ? "-" : ""}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

test("the module runs in a secure context, with the field's modulus as a bigint", async () => {
  assert.equal(await inPage((SS) => SS.P.toString(), null), P.toString());
  assert.equal(await inPage((SS) => typeof SS.P, null), "bigint");
});

test("scenario 6: an aggregate of p − 5 decodes to −5, and to −0.05 at decimal_scale 2", async () => {
  const decoded = (ep, elements) =>
    inPage((SS, e, elements) => SS.decode(elements.map(BigInt), e), ep, elements);
  assert.deepEqual(await decoded(endpoint({ encoding: INTEGER, decimalScale: 0 }), [(P - 5n).toString()]), ["-5"]);
  assert.deepEqual(await decoded(endpoint({}), [(P - 5n).toString()]), ["-0.05"]);
  // The boundary: (p − 1)/2 is the largest positive sum, one more is the most negative.
  const elements = [P - 5n, 5n, 0n, HALF, HALF + 1n, P - 1n].map(String);
  assert.deepEqual(await decoded(endpoint({ vectorLength: 6 }), elements), [
    "-0.05",
    "0.05",
    "0.00",
    "92233720347072921.60",
    "-92233720347072921.60",
    "-0.01",
  ]);
  // An element that is not below p is not an aggregate.
  const refused = await inPage(
    (SS, e, p) => {
      try {
        SS.decode([BigInt(p)], e);
        return null;
      } catch (error) {
        return error.message;
      }
    },
    endpoint({}),
    P.toString(),
  );
  assert.match(refused, /aggregate element 0 is not a field element/);
});

test("encoding maps values exactly into the field and refuses what it would have to round", async () => {
  const ep = endpoint({ vectorLength: 6 });
  const encoded = await inPage(
    (SS, e) => SS.encode(["-0.05", "1.230", "1e2", "-.5", 12.5, " 1000.00 "], e).map(String),
    ep,
  );
  assert.deepEqual(encoded, [(P - 5n).toString(), "123", "10000", (P - 50n).toString(), "1250", "100000"]);

  const one = endpoint({});
  assert.match(await encodeError(one, ["0.001"]), /^SecretShareError: value 0 has more than 2 fractional digits/);
  assert.match(await encodeError(one, ["1000.01"]), /value 0 is outside the range \[-1000\.00, 1000\.00\]/);
  assert.match(await encodeError(one, ["-1e4"]), /outside the range/);
  assert.match(await encodeError(one, ["1", "2"]), /takes 1 values, got 2/);
  assert.match(await encodeError(one, ["12,5"]), /value 0 is not a decimal number/);
  assert.match(await encodeError(one, [Number.NaN]), /value 0 is not a finite decimal number/);
  const integers = endpoint({ encoding: INTEGER, decimalScale: 0 });
  assert.match(await encodeError(integers, ["2.5"]), /more than 0 fractional digits/);
  assert.equal(await encodeError(integers, ["2.000"]), null);
});

test("scenario 5: split shares come from crypto.getRandomValues, recombine, and differ between submissions", async () => {
  const ep = endpoint({ vectorLength: 4 });
  const result = await inPage(
    (SS, e) => {
      // Math.random must never be used for shares.
      const random = Math.random;
      Math.random = () => {
        throw new Error("Math.random was called");
      };
      let draws = 0;
      const getRandomValues = crypto.getRandomValues.bind(crypto);
      crypto.getRandomValues = (array) => {
        draws++;
        return getRandomValues(array);
      };
      try {
        const encoded = SS.encode(["-999.99", "1000", "0.01", "0"], e);
        const first = SS.split(encoded, 3);
        const second = SS.split(encoded, 3);
        return {
          encoded: encoded.map(String),
          first: first.map((s) => s.map(String)),
          second: second.map((s) => s.map(String)),
          draws,
        };
      } finally {
        Math.random = random;
        crypto.getRandomValues = getRandomValues;
      }
    },
    ep,
  );
  assert.ok(result.draws >= 4, `two splits into 3 shares draw at least 4 random vectors, drew ${result.draws}`);
  for (const shares of [result.first, result.second]) {
    assert.equal(shares.length, 3);
    for (const share of shares) {
      assert.equal(share.length, 4);
      for (const element of share) assert.ok(BigInt(element) >= 0n && BigInt(element) < P);
    }
    const recombined = result.encoded.map((_, j) => shares.reduce((sum, share) => sum + BigInt(share[j]), 0n) % P);
    assert.deepEqual(recombined.map(String), result.encoded);
  }
  for (let i = 0; i < 3; i++) assert.notDeepEqual(result.first[i], result.second[i]);

  const refused = await inPage(
    (SS) => {
      try {
        SS.split([1n], 1);
        return null;
      } catch (error) {
        return error.message;
      }
    },
    null,
  );
  assert.match(refused, /need at least 2 parties/);
});

test("the config and batch digests equal SHA-256 over the spec's text, and the Python client's", async () => {
  const ep = endpoint({
    name: "post_eta_data",
    vectorLength: 10,
    minValue: "-250075",
    maxValue: "9223372034707292160",
    minBatchSize: 7,
    maxSubmissionsPerContributor: 0,
  });
  const browser = await inPage((SS, e) => SS.configDigest(e, 3), ep);
  assert.equal(browser, sha256(specConfigText(ep, 3)));
  assert.notEqual(await inPage((SS, e) => SS.configDigest(e, 2), ep), browser, "N is part of the digest");
  const unset = endpoint({ encoding: INTEGER, decimalScale: 0 });
  assert.equal(await inPage((SS, e) => SS.configDigest(e, 2), unset), sha256(specConfigText(unset, 2)));

  const ids = ["FFEEDDCCBBAA99887766554433221100", "00000000000000000000000000000001", "7f".repeat(16)];
  const batch = await inPage((SS, _e, ids) => SS.batchDigest("post_eta_data", ids), null, ids);
  assert.equal(batch, specBatchDigest("post_eta_data", ids));
  const reordered = await inPage(
    (SS, _e, ids) => SS.batchDigest("post_eta_data", ids),
    null,
    [ids[2], ids[0].toLowerCase(), ids[1]],
  );
  assert.equal(reordered, batch, "order and case of the ids do not matter");

  const [pyConfig, pyBatch] = (
    await python([
      "-c",
      [
        "import sys",
        "from steward_client.secretshare import config_digest, batch_digest, pb",
        "e = pb.Endpoint(name='post_eta_data', vector_length=10, field=pb.FIELD_FIELD64,",
        "    encoding=pb.VALUE_ENCODING_FIXED_POINT, decimal_scale=2, min_value=-250075,",
        "    max_value=9223372034707292160, min_batch_size=7, max_submissions_per_contributor=0)",
        "print(config_digest(e, 3))",
        "print(batch_digest('post_eta_data', sys.argv[1:]))",
      ].join("\n"),
      ...ids,
    ])
  )
    .trim()
    .split("\n");
  assert.equal(browser, pyConfig);
  assert.equal(batch, pyBatch);

  const badId = await inPage(
    (SS) =>
      SS.batchDigest("x", ["0".repeat(32)]).then(
        () => null,
        (error) => error.message,
      ),
    null,
  );
  assert.match(badId, /all-zero submission id/);
});

test("a new submission id is 32 lowercase hex digits, fresh each time", async () => {
  const [a, b] = await inPage((SS) => [SS.newSubmissionId(), SS.newSubmissionId()], null);
  assert.match(a, /^[0-9a-f]{32}$/);
  assert.match(b, /^[0-9a-f]{32}$/);
  assert.notEqual(a, b);
});

/**
 * Starts secretshare_parties.py: three parties, R's submissions and Python's
 * sealed sum. Resolves with its JSON line; the parties keep running until
 * stopParties() closes the script's stdin.
 */
function startParties(spec) {
  const script = path.join(REPO, "tests/e2e/browser/secretshare_parties.py");
  const child = spawn(PYTHON, [script, JSON.stringify(spec)], { env: PYTHON_ENV, stdio: ["pipe", "pipe", "pipe"] });
  partiesScript = child;
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-6000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`secretshare_parties.py gave no answer in 300 s: ${stderr}`)), 300_000);
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const end = stdout.indexOf("\n");
      if (end >= 0) {
        clearTimeout(timer);
        resolve(JSON.parse(stdout.slice(0, end)));
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`secretshare_parties.py exited with ${code} before answering: ${stderr}`));
    });
  });
}

/** Closes the script's stdin, so it stops its parties, and waits for it to exit. */
async function stopParties() {
  const child = partiesScript;
  partiesScript = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.stdin.end();
  const timeout = setTimeout(() => child.kill("SIGTERM"), 120_000);
  await exited;
  clearTimeout(timeout);
}

/**
 * The page's gRPC-web calls to a party, bundled from clients/web's generated
 * SecretShareService client and its transport (src/client.ts) with the web
 * client's own esbuild: what a Steward page would ship.
 */
const PARTY_CALLS = `
import { createClient } from "@connectrpc/connect";
import { stewardTransport } from "./client";
import { SecretShareService } from "./gen/steward/secretshare/v1/secretshare_service_pb";

export function party(url: string, token: string) {
  const client = createClient(SecretShareService, stewardTransport(url));
  const headers = { authorization: "Bearer " + token };
  return {
    getEndpoint: (name: string) => client.getEndpoint({ name }, { headers }),
    getBatch: (endpoint: string, batchDigest: string) => client.getBatch({ endpoint, batchDigest }, { headers }),
  };
}
`;

function bundlePartyCalls() {
  return execFileSync(
    ESBUILD,
    ["--bundle", "--format=esm", "--target=es2020", "--loader=ts", "--sourcefile=party-calls.ts", "--log-level=warning"],
    { cwd: WEB_SRC, input: PARTY_CALLS, encoding: "utf8", maxBuffer: 16 << 20 },
  );
}

test("scenario 53: R splits and submits to three parties, Python seals and sums, and the browser fetches and decodes the same batch to the same result", async () => {
  const scale = 3;
  // In encoded units: ±10^18, so values reach ±10^15 at 3 decimals, beyond 2^53
  // encoded (R holds them as gmp integers, the browser as bigints); 9 of them
  // still sum within (p − 1)/2.
  const bound = 10n ** 18n;
  // Many negatives, values at both bounds, fewer digits than the scale, and thousandths that carry.
  const rows = [
    ["-12.5", "0.001", "999999999999999.999", "-1000000000000000"],
    ["3", "-0.002", "1000000000000000", "-999999999999999.999"],
    ["-7.125", "0", "-1000000000000000", "-0.001"],
    ["0.75", "-0.999", "0.001", "-123456789.123"],
    ["-0.001", "999.999", "-999999999999999.999", "-1000000000000000"],
  ];
  const totals = rows[0].map((_, j) => rows.reduce((sum, row) => sum + units(row[j], scale), 0n));
  const expected = totals.map((total) => fromUnits(total, scale));
  assert.deepEqual(expected, ["-15.876", "998.999", "0.001", "-3000000123456789.123"]);

  const answer = await startParties({
    origin: new URL(PAGE_URL).origin,
    rows,
    endpoint: {
      vector_length: rows[0].length,
      encoding: "fixed_point",
      decimal_scale: scale,
      min_value: (-bound).toString(),
      max_value: bound.toString(),
    },
  });
  try {
    // R: one submission per contributor, encoded exactly (its field sum before splitting is the true total mod p).
    const byId = (ids) => [...ids].sort();
    assert.equal(answer.r.submissionIds.length, rows.length);
    assert.deepEqual(answer.r.encodedTotal, totals.map((total) => (((total % P) + P) % P).toString()));
    assert.equal(answer.r.configDigest, answer.configDigest, "R recomputes the parties' config digest");
    // Python: exactly R's submissions were pending on every party, and were sealed into one batch.
    assert.deepEqual(byId(answer.pendingBeforeSeal), byId(answer.r.submissionIds));
    assert.deepEqual(byId(answer.submissionIds), byId(answer.r.submissionIds));
    assert.deepEqual(answer.pendingAfterSeal, []);
    assert.equal(answer.pythonConfigDigest, answer.configDigest);
    assert.equal(answer.submissionCount, rows.length);
    assert.equal(answer.contributorCount, rows.length);
    assert.deepEqual(answer.sums, expected, "Python's sums are the exact decimal sums of what R submitted");

    scripts.set("party-calls.js", bundlePartyCalls());
    // The test page is answered by page.route(), without a network address, so
    // Chromium's Local Network Access takes it for a public page that needs the
    // person's leave to reach servers on loopback (the parties): the grant is that click.
    await context.grantPermissions(["local-network-access"], { origin: new URL(PAGE_URL).origin });
    // The browser is given the parties out of index order, and R's ids, never Python's batch.
    const given = [answer.parties[1], answer.parties[2], answer.parties[0]];
    const result = await inPage(
      async (SS, _e, name, parties, ids) => {
        const { party } = await import(new URL("party-calls.js", location.href).href);
        const calls = parties.map(({ url, token }) => party(url, token));
        const endpoints = await Promise.all(calls.map((call) => call.getEndpoint(name)));
        const endpoint = endpoints[0].endpoint;
        const digest = await SS.batchDigest(name, ids);
        const batches = (await Promise.all(calls.map((call) => call.getBatch(name, digest)))).map((r) => r.batch);
        const summed = SS.sumAggregates(batches, endpoint);
        const refusals = [];
        const attempt = (label, list) => {
          try {
            SS.sumAggregates(list, endpoint);
            refusals.push(`${label}: summed`);
          } catch (error) {
            refusals.push(`${label}: ${error.message}`);
          }
        };
        const byIndex = [...batches].sort((a, b) => a.partyIndex - b.partyIndex);
        attempt("one party missing", byIndex.slice(0, 2));
        attempt("a party twice", [byIndex[0], byIndex[1], byIndex[1]]);
        attempt("another batch", [byIndex[0], byIndex[1], { ...byIndex[2], batchDigest: "0".repeat(64) }]);
        attempt("another count", [byIndex[0], { ...byIndex[1], submissionCount: 4n }, byIndex[2]]);
        attempt("a short share", [
          byIndex[0],
          byIndex[1],
          { ...byIndex[2], aggregateShare: byIndex[2].aggregateShare.slice(1) },
        ]);
        attempt("another endpoint config", [byIndex[0], byIndex[1], { ...byIndex[2], configDigest: "1".repeat(64) }]);
        return {
          partyIndices: endpoints.map((r) => r.partyIndex),
          endpointDigests: endpoints.map((r) => r.endpoint.configDigest),
          configDigest: await SS.configDigest(endpoint, parties.length),
          endpoint: {
            vectorLength: endpoint.vectorLength,
            encoding: endpoint.encoding,
            decimalScale: endpoint.decimalScale,
            minValue: endpoint.minValue.toString(),
            maxValue: endpoint.maxValue.toString(),
          },
          batchDigest: digest,
          batchParties: batches.map((b) => `${b.partyIndex} of ${b.partyCount}`),
          typesOnTheWire: [typeof batches[0].submissionCount, typeof batches[0].aggregateShare[0]],
          sums: SS.decode(summed.aggregate, endpoint),
          submissionCount: summed.submissionCount.toString(),
          contributorCount: summed.contributorCount.toString(),
          alone: byIndex.map((b) => SS.decode(b.aggregateShare, endpoint)),
          refusals,
        };
      },
      null,
      answer.endpoint,
      given,
      answer.r.submissionIds,
    ).catch((error) => {
      // A blocked call shows only "Failed to fetch" in the page: the console says why.
      throw new Error(`${error.message}\n${problems.join("\n")}`);
    });
    assert.deepEqual(result.partyIndices, [1, 2, 0]);
    assert.deepEqual(result.endpointDigests, [answer.configDigest, answer.configDigest, answer.configDigest]);
    assert.equal(result.configDigest, answer.configDigest, "the browser recomputes the parties' config digest");
    assert.deepEqual(result.endpoint, {
      vectorLength: 4,
      encoding: FIXED_POINT,
      decimalScale: scale,
      minValue: (-bound).toString(),
      maxValue: bound.toString(),
    });
    assert.equal(result.batchDigest, answer.batchDigest, "the browser computes Python's batch digest from R's ids");
    assert.deepEqual(result.batchParties, ["1 of 3", "2 of 3", "0 of 3"]);
    assert.deepEqual(result.typesOnTheWire, ["bigint", "bigint"], "protobuf-es gives 64-bit fields as bigints");
    assert.deepEqual(result.sums, expected, "the browser decodes the exact sums");
    assert.deepEqual(result.sums, answer.sums, "the browser agrees with Python");
    assert.equal(result.submissionCount, String(rows.length));
    assert.equal(result.contributorCount, String(answer.contributorCount));
    const [missing, twice, batch, count, short, config] = result.refusals;
    assert.match(missing, /party 0 of 3, expected 0 of 2/);
    assert.match(twice, /party 1 of 3, expected 2 of 3/);
    assert.match(batch, /batch digest 0{64}, party 0 [0-9a-f]{64}.*the parties disagree, so no sum is computed/);
    assert.match(count, /4 submissions, party 0 5/);
    assert.match(short, /an aggregate share of 3 elements, expected 4 below p/);
    assert.match(config, /config digest 1{64}/);
    // No single party's share decodes to the sums: each is uniformly random.
    for (const alone of result.alone) assert.notDeepEqual(alone, expected);
    assert.deepEqual(problems, []);
  } finally {
    await stopParties();
  }
});
