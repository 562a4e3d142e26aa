// The /secretshare page (src/web/mod.rs, clients/web/src/secretshare_page.ts) in a
// real Chromium against two real `steward serve` parties (local_party.py, as
// the Python client's tests start them), each configured with both parties'
// URLs and letting the other's origin call it (CORS). Five contributors submit
// through party 0's page (five tokens, shares split in the page); refusals are
// shown and leave nothing stored: a value out of range (refused in the page),
// a second submission by the same contributor (refused by the parties), and a
// person party 1 does not let contribute (party 0's share is withdrawn, §4.5).
// Python (steward_client.secretshare.Parties.seal_and_sum) seals, and the
// page's scientist section shows exactly Python's sums. A server that is not a
// party (the stack's) shows a message instead. Every state is checked with
// axe-core; screenshots go to $STEWARD_ARTIFACTS. Run by
// tests/e2e/suites/browser (`node --test`).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";

import {
  PYTHON,
  PYTHON_ENV,
  REPO,
  STEWARD_URL,
  WAIT,
  assertAccessible,
  launchChromium,
  openPage,
  screenshot,
} from "./harness.mjs";

const NAME = "page_values";
/** Five contributors' values: two decimals each, negatives, both bounds. */
const ROWS = [
  ["12.50", "-3"],
  ["-0.75", "1000"],
  ["999.99", "-1000"],
  ["0.01", "0"],
  ["-1000", "2.5"],
];
const EXPECTED = ["11.75", "-0.50"];

/**
 * Two parties and the Python scientist. Prints one JSON line when ready; then
 * answers "pending <i>" (ids pending on party i) and "seal" (seal_and_sum) with
 * one JSON line each, until stdin closes.
 */
const PARTIES_PY = String.raw`
import json, os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "clients", "python", "tests"))
from local_party import LocalParty, free_port
from steward_client.secretshare import Parties

name, contributors = sys.argv[2], int(sys.argv[3])
binary = os.environ["STEWARD_BIN"]
ports = [free_port(), free_port()]
urls = [f"http://127.0.0.1:{port}" for port in ports]
parties = []
try:
    for index, port in enumerate(ports):
        party = LocalParty(binary, index, 2, name=f"Party {'AB'[index]}", env={
            "STEWARD_LISTEN": f"127.0.0.1:{port}",
            "STEWARD_PUBLIC_URL": urls[index],
            "STEWARD_SECRETSHARE_PARTY_URLS": ",".join(urls),
            "STEWARD_CORS_ORIGINS": ",".join(urls),
        })
        party.port, party.url = port, urls[index]
        parties.append(party)
    for party in parties:
        party.wait_healthy()
    tokens = lambda email, role: [party.token(email, role) for party in parties]
    with Parties(urls, token=tokens("dev@example.org", "developer")) as developer:
        developer.create_endpoint(name=name, vector_length=2, encoding="fixed_point", decimal_scale=2,
                                  min_value=-100000, max_value=100000, min_batch_size=contributors,
                                  description="two measurements")
    ready = {
        "urls": urls,
        "contributors": [",".join(tokens(f"c{i}@example.org", "contributor")) for i in range(contributors)],
        "halfTrusted": parties[0].token("half@example.org", "contributor") + ","
                       + parties[1].token("half@example.org", "scientist"),
        "scientist": ",".join(tokens("sci@example.org", "scientist")),
        "developer": ",".join(tokens("dev2@example.org", "developer")),
    }
    print(json.dumps(ready), flush=True)
    with Parties(urls, token=tokens("python@example.org", "scientist")) as scientist:
        for line in sys.stdin:
            command = line.split()
            if command[0] == "pending":
                client = scientist._parties()[int(command[1])]
                print(json.dumps(scientist._list_pending(client, name)), flush=True)
            elif command[0] == "seal":
                result = scientist.seal_and_sum(name)
                print(json.dumps({
                    "sums": [format(value, "f") for value in result.sums],
                    "contributorCount": result.contributor_count,
                    "batchDigest": result.batch_digest,
                    "submissionIds": list(result.submission_ids),
                }), flush=True)
finally:
    for party in parties:
        party.stop()
`;

let chromium;
let context;
let script;
let lines;

before(async () => {
  chromium = await launchChromium("steward-secretshare-page-", { viewport: { width: 900, height: 900 } });
  ({ context } = chromium);
});

after(async () => {
  if (script && script.exitCode === null) {
    const exited = new Promise((resolve) => script.once("exit", resolve));
    script.stdin.end();
    const timer = setTimeout(() => script.kill("SIGTERM"), 120_000);
    await exited;
    clearTimeout(timer);
  }
  await chromium?.close();
});

/** Starts PARTIES_PY; resolves with its first JSON line. */
async function startParties() {
  script = spawn(PYTHON, ["-c", PARTIES_PY, REPO, NAME, String(ROWS.length)], {
    env: PYTHON_ENV,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  script.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-6000);
  });
  lines = createInterface({ input: script.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error(`the parties script exited: ${stderr}`);
  return JSON.parse(first.value);
}

/** Sends a command to PARTIES_PY and returns its JSON answer. */
async function ask(command) {
  script.stdin.write(`${command}\n`);
  const answer = await lines.next();
  if (answer.done) throw new Error(`the parties script exited after "${command}"`);
  return JSON.parse(answer.value);
}

/** Loads the endpoint in the contributor section with `token` and submits `values`. */
async function contribute(page, token, values) {
  await page.fill("#token", token);
  await page.fill("#endpoint", NAME);
  await page.click("#endpoint-form button");
  await page.waitForFunction(() => {
    const status = document.getElementById("contribute-status");
    return /is the same on all 2 parties/.test(status.textContent) || status.querySelector(".error") !== null;
  }, null, WAIT);
  const loaded = await page.locator("#contribute-status").innerText();
  assert.match(loaded, /is the same on all 2 parties/, "the endpoint loads");
  assert.equal(await page.locator("#values-form").isVisible(), true);
  for (const [i, value] of values.entries()) await page.getByLabel(`Value ${i + 1} of 2`).fill(value);
  // The values are split in the page with crypto.getRandomValues: Math.random is never used.
  await page.evaluate(() => {
    window.stewardRandom = Math.random;
    Math.random = () => {
      throw new Error("Math.random was called");
    };
  });
  await page.getByRole("button", { name: "Submit" }).click();
  const status = page.locator("#contribute-status");
  await status.locator(".ok, .error").first().waitFor(WAIT);
  await page.locator("#values-form button:not([disabled])").waitFor(WAIT);
  await page.evaluate(() => {
    Math.random = window.stewardRandom;
  });
  return status.innerText();
}

test("a server that is not a secret-share party says so, and calls nothing", async () => {
  const { page, problems, response } = await openPage(context, `${STEWARD_URL}/secretshare`);
  assert.match(response.headers()["content-security-policy"], /connect-src 'self'; /);
  await page.locator("#secretshare-off").waitFor(WAIT);
  assert.match(await page.locator("#secretshare-off").innerText(), /not configured as a secret-share party/);
  assert.equal(await page.locator("script").count(), 0);
  await assertAccessible(page, "not a party");
  assert.deepEqual(problems, []);
  await page.close();
});

test("five contributors submit through the page, refusals store nothing, Python seals and the page shows the sums", async () => {
  const ready = await startParties();
  const [url0, url1] = ready.urls;

  // Party 0's page: its CSP lets it reach exactly itself and the two parties.
  const { page, problems, response } = await openPage(context, `${url0}/secretshare#token=${ready.contributors[0]}`);
  const csp = response.headers()["content-security-policy"];
  assert.match(csp, new RegExp(`connect-src 'self' ${url0} ${url1}; `));
  // The fragment filled the token field and left the address bar.
  assert.equal(await page.inputValue("#token"), ready.contributors[0]);
  assert.equal(new URL(page.url()).hash, "");
  await page.locator("#party-list li").nth(1).waitFor(WAIT);
  assert.deepEqual(await page.locator("#party-list li").allInnerTexts(), [
    `Party 0: ${url0} (Party A)`,
    `Party 1: ${url1} (Party B)`,
  ]);
  assert.match(await page.locator("main").innerText(), /This page trusts the party serving it/);
  await assertAccessible(page, "the page of a party");

  const ids = [];
  for (const [i, row] of ROWS.entries()) {
    const text = await contribute(page, ready.contributors[i], row);
    assert.match(text, /Submitted to all 2 parties\. Submission id: [0-9a-f]{32}/);
    ids.push(await page.locator("#submission-id").innerText());
    if (i === 0) {
      await assertAccessible(page, "after a submission");
      await page.locator("#contribute-heading").scrollIntoViewIfNeeded();
      await screenshot(page, "secretshare-page-contribute.png");
    }
  }
  assert.equal(new Set(ids).size, ROWS.length);

  // Refused in the page: out of range, and too many fractional digits. Nothing is sent.
  let text = await contribute(page, ready.contributors[0], ["1000.01", "1"]);
  assert.match(text, /value 0 is outside the range \[-1000\.00, 1000\.00\] of endpoint "page_values"/);
  assert.match(text, /Nothing was sent/);
  await assertAccessible(page, "a refusal");
  await screenshot(page, "secretshare-page-refused.png");
  text = await contribute(page, ready.contributors[1], ["0.001", "1"]);
  assert.match(text, /value 0 has more than 2 fractional digits/);

  // Refused by the parties: contributor 0 already submitted (one submission each).
  text = await contribute(page, ready.contributors[0], ["1", "1"]);
  assert.match(text, /Party 0 \(http:\/\/127\.0\.0\.1:\d+\): [A-Z_]+: .+/);
  assert.doesNotMatch(text, /Submitted/);

  // Party 0 accepts; party 1 knows this person only as a scientist and refuses:
  // party 0's share is withdrawn.
  text = await contribute(page, ready.halfTrusted, ["5", "5"]);
  assert.match(text, /Party 1 \(http:\/\/127\.0\.0\.1:\d+\): PERMISSION_DENIED/);
  assert.match(text, /Withdrawn from party 0, which had accepted it: nothing of this submission is kept/);

  // Exactly the five submissions are stored, on each party.
  for (const index of [0, 1]) assert.deepEqual([...(await ask(`pending ${index}`))].sort(), [...ids].sort());

  // Python seals and sums; the page's scientist section shows the same sums.
  const sealed = await ask("seal");
  assert.deepEqual(sealed.sums, EXPECTED);
  assert.equal(sealed.contributorCount, ROWS.length);
  assert.deepEqual([...sealed.submissionIds].sort(), [...ids].sort());

  await page.fill("#token", ready.scientist);
  await page.fill("#sums-endpoint", NAME);
  await page.click("#sums-form button");
  await page.locator("#sums-table").waitFor(WAIT);
  const rows = await page
    .locator("#sums-table tbody tr")
    .evaluateAll((trs) => trs.map((tr) => Array.from(tr.children, (cell) => cell.textContent)));
  assert.equal(rows.length, 1);
  const [digest, sealTime, contributors, ...sums] = rows[0];
  assert.equal(digest, sealed.batchDigest.slice(0, 12));
  assert.ok(Math.abs(Date.parse(sealTime) - Date.now()) < 10 * 60_000, `sealed at ${sealTime}`);
  assert.equal(contributors, String(ROWS.length));
  assert.deepEqual(sums, EXPECTED);
  assert.deepEqual(
    await page.locator("#sums-table thead th").allInnerTexts(),
    ["Batch", "Sealed", "Contributors", "Sum 1", "Sum 2"],
  );
  assert.match(await page.locator("#sums-status").innerText(), /1 sealed batch, summed from all 2 parties/);
  // The chart: one bar per sum, the negative one below the zero line.
  const bars = await page.locator("#sums-chart rect title").allTextContents();
  assert.deepEqual(bars, EXPECTED.map((sum, i) => `${sealed.batchDigest.slice(0, 8)}, Sum ${i + 1}: ${Number(sum)}`));
  await assertAccessible(page, "the sums");
  await page.locator("#sums-heading").scrollIntoViewIfNeeded();
  await screenshot(page, "secretshare-page-sums.png");

  // A contributor's token cannot read batches: the refusal is shown.
  await page.fill("#token", ready.contributors[2]);
  await page.click("#sums-form button");
  await page.locator("#sums-status .error").waitFor(WAIT);
  assert.match(await page.locator("#sums-status").innerText(), /PERMISSION_DENIED/);

  // A developer creates a new endpoint on both parties from the page; a contributor may not.
  await page.fill("#token", ready.contributors[3]);
  await page.fill("#new-name", "page_created");
  await page.click("#create-endpoint-form button");
  await page.locator("#create-endpoint-status .error").waitFor(WAIT);
  assert.match(await page.locator("#create-endpoint-status").innerText(), /PERMISSION_DENIED/);
  await page.fill("#token", ready.developer);
  await page.fill("#new-length", "2");
  await page.selectOption("#new-encoding", "fixed_point");
  await page.fill("#new-scale", "1");
  await page.fill("#new-min", "-5");
  await page.fill("#new-max", "5.5");
  await page.fill("#new-min-batch", "3");
  await page.click("#create-endpoint-form button");
  await page.locator("#create-endpoint-done").waitFor(WAIT);
  assert.match(await page.locator("#create-endpoint-done").innerText(), /"page_created" is the same on all 2 parties/);
  await page.fill("#endpoint", "page_created");
  await page.click("#endpoint-form button");
  await page.locator("#values-form:not([hidden])").waitFor(WAIT);
  assert.equal(await page.locator("#values input").count(), 2);
  await assertAccessible(page, "a new endpoint");

  // The only console errors are the refused calls' own (Chromium logs failed fetches).
  const unexpected = problems.filter((p) => !/status of 4\d\d|Failed to load resource/.test(p));
  assert.deepEqual(unexpected, []);
  await page.close();
});
