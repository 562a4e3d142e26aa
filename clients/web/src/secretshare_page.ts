// The private-aggregation page (/secretshare, HTML in src/web/mod.rs; spec
// secretshare.md §4): a contributor's values are encoded and split here with
// crypto.getRandomValues (./secretshare) and share i goes to party i over
// gRPC-web; a scientist sees the sealed batches' decoded sums. The parties are
// this server's configured party URLs (GetPartyInfo.party_urls), so the page
// trusts the party serving it. The token is never stored, and values, shares
// and tokens are never logged. Errors are shown on the page.

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { Client } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { explain, stewardTransport } from "./client";
import type { Explained } from "./client";
import { groupedBars } from "./charts";
import type { Column } from "./charts";
import { byId, el, errorBox, tokenField } from "./dom";
import {
  Field,
  SecretShareService,
  ValueEncoding,
} from "./gen/steward/secretshare/v1/secretshare_service_pb";
import type { Batch, Endpoint } from "./gen/steward/secretshare/v1/secretshare_service_pb";
import {
  P,
  SecretShareError,
  configDigest,
  decode,
  encode,
  newSubmissionId,
  split,
  sumAggregates,
} from "./secretshare";

/** One party: its index (= position), base URL and client. */
interface Party {
  index: number;
  url: string;
  client: Client<typeof SecretShareService>;
}

/** An error with the party it came from. */
class PartyError extends Error {
  constructor(
    readonly error: unknown,
    readonly party: Party,
  ) {
    super("party error");
  }
}

/** A refusal by party `party`, or a problem found in the page. */
function explainAt(error: unknown, party?: Party): Explained {
  if (error instanceof SecretShareError) {
    return { summary: error.message, hint: "Nothing was sent for this refusal. Correct it and try again." };
  }
  if (party === undefined) {
    return explain(error);
  }
  const { summary, hint } = explain(error, party.url);
  return { summary: `Party ${party.index} (${party.url}): ${summary}`, hint };
}

/** A call that got no answer (the same submission may be retried), not a refusal. */
function isNetworkError(error: unknown): boolean {
  const e = ConnectError.from(error);
  return e.cause instanceof TypeError || e.code === Code.Unavailable || e.code === Code.DeadlineExceeded;
}

// --- parties and token ---------------------------------------------------------

const partiesBox = byId<HTMLElement>("parties");
const tokenInput = tokenField("token");

/** The party list, checked as §4.1 asks; rejects with a message for the page. */
const partiesReady: Promise<Party[]> = (async () => {
  const own = createClient(SecretShareService, stewardTransport());
  const info = await own.getPartyInfo({});
  const urls = info.partyUrls;
  if (urls.length < 2) {
    throw new SecretShareError("this server lists no party URLs, so the page cannot reach the parties");
  }
  const parties = urls.map((url, index) => ({
    index,
    url,
    client: createClient(SecretShareService, stewardTransport(url)),
  }));
  const infos = await Promise.all(
    parties.map((party) =>
      party.client.getPartyInfo({}).catch((error: unknown) => {
        throw new PartyError(error, party);
      }),
    ),
  );
  infos.forEach((answer, i) => {
    if (answer.partyIndex !== i || answer.partyCount !== urls.length) {
      throw new SecretShareError(
        `${urls[i]} says it is party ${answer.partyIndex} of ${answer.partyCount}, ` +
          `but this server lists it as party ${i} of ${urls.length}; the parties disagree, so this page refuses to continue`,
      );
    }
  });
  const list = document.createElement("ul");
  list.className = "plain";
  list.id = "party-list";
  infos.forEach((answer, i) => {
    const item = el("li", `Party ${i}: ${urls[i]}`);
    if (answer.partyName) item.append(` (${answer.partyName})`);
    list.append(item);
  });
  partiesBox.replaceChildren(el("p", `${urls.length} parties, in party order:`), list);
  return parties;
})();

partiesReady.catch((error: unknown) => {
  const explained = error instanceof PartyError ? explainAt(error.error, error.party) : explainAt(error);
  partiesBox.replaceChildren(errorBox(explained));
});

/** The bearer token for each party: one for all, or one per party separated by commas. */
function tokensFor(parties: Party[]): string[] {
  const raw = tokenInput.value
    .split(",")
    .map((part) => part.trim().replace(/^bearer\s+/i, ""))
    .filter((part) => part !== "");
  if (raw.length === 0) {
    throw new SecretShareError("Enter a token first: the parties need to know who you are.");
  }
  if (raw.some((token) => !/^[\x21-\x7e]+$/.test(token))) {
    throw new SecretShareError("That is not a token: it contains spaces or other characters a token never has.");
  }
  if (raw.length === 1) return parties.map(() => raw[0]);
  if (raw.length !== parties.length) {
    throw new SecretShareError(
      `The field holds ${raw.length} tokens for ${parties.length} parties: give one token for every party, or one per party in party order.`,
    );
  }
  return raw;
}

/** `call` on every party at once, with its token; a failure names its party. */
async function onEvery<T>(parties: Party[], tokens: string[], call: (party: Party, headers: HeadersInit) => Promise<T>) {
  return Promise.all(
    parties.map((party) =>
      call(party, { authorization: `Bearer ${tokens[party.index]}` }).catch((error: unknown) => {
        throw new PartyError(error, party);
      }),
    ),
  );
}

/** GetEndpoint on every party; refuses unless every party holds the same checked configuration (§4.2). */
async function loadEndpoint(parties: Party[], tokens: string[], name: string): Promise<Endpoint> {
  const answers = await onEvery(parties, tokens, (party, headers) => party.client.getEndpoint({ name }, { headers }));
  const first = answers[0].endpoint;
  if (!first) throw new SecretShareError(`party 0 returned no endpoint "${name}"`);
  for (const [i, answer] of answers.entries()) {
    const endpoint = answer.endpoint;
    if (answer.partyIndex !== i || !endpoint) {
      throw new SecretShareError(`party ${i} answered as party ${answer.partyIndex}; the parties disagree`);
    }
    const digest = await configDigest(endpoint, parties.length);
    if (endpoint.configDigest !== first.configDigest || digest !== endpoint.configDigest) {
      throw new SecretShareError(
        `the parties' configurations of endpoint "${name}" differ (party ${i} has digest ${endpoint.configDigest}, ` +
          `recomputed ${digest}, party 0 has ${first.configDigest}); nothing will be sent`,
      );
    }
  }
  return first;
}

/** An endpoint's bounds as decimals, read with decode (bounds are in encoded units). */
function range(endpoint: Endpoint): [string, string] {
  const [min, max] = decode([((endpoint.minValue % P) + P) % P, ((endpoint.maxValue % P) + P) % P], {
    ...endpoint,
    vectorLength: 2,
  });
  return [min, max];
}

function showError(box: HTMLElement, error: unknown): void {
  const explained = error instanceof PartyError ? explainAt(error.error, error.party) : explainAt(error);
  box.replaceChildren(errorBox(explained));
}

/** Runs `work` with the form's button disabled. */
async function busy(form: HTMLFormElement, work: () => Promise<void>): Promise<void> {
  const button = form.querySelector("button");
  if (button) button.disabled = true;
  try {
    await work();
  } finally {
    if (button) button.disabled = false;
  }
}

// --- contribute ------------------------------------------------------------------

const endpointForm = byId<HTMLFormElement>("endpoint-form");
const endpointInput = byId<HTMLInputElement>("endpoint");
const valuesForm = byId<HTMLFormElement>("values-form");
const valuesBox = byId<HTMLFieldSetElement>("values");
const valuesLegend = byId<HTMLElement>("values-legend");
const contributeStatus = byId<HTMLElement>("contribute-status");

/** The endpoint the value inputs were made for. */
let loaded: Endpoint | undefined;
/** A submission not yet acknowledged by every party after a network error: retried as is. */
let unfinished: { key: string; id: string; shares: bigint[][]; done: Set<number> } | undefined;

endpointForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void busy(endpointForm, showEndpoint);
});

async function showEndpoint(): Promise<void> {
  loaded = undefined;
  unfinished = undefined;
  valuesForm.hidden = true;
  contributeStatus.replaceChildren(el("p", "Asking every party for the endpoint…", "muted"));
  try {
    const parties = await partiesReady;
    const endpoint = await loadEndpoint(parties, tokensFor(parties), endpointInput.value.trim());
    const scale = endpoint.encoding === ValueEncoding.FIXED_POINT ? endpoint.decimalScale : 0;
    const [min, max] = range(endpoint);
    const digits = scale === 0 ? "a whole number" : `a decimal with at most ${scale} digits after the point`;
    valuesLegend.textContent = `Values for "${endpoint.name}"${endpoint.description ? `: ${endpoint.description}` : ""}`;
    const inputs: HTMLElement[] = [];
    for (let i = 0; i < endpoint.vectorLength; i++) {
      const label = el("label", `Value ${i + 1} of ${endpoint.vectorLength}`);
      label.setAttribute("for", `value-${i}`);
      const input = document.createElement("input");
      input.id = `value-${i}`;
      input.name = `value-${i}`;
      input.inputMode = "decimal";
      input.autocomplete = "off";
      input.required = true;
      input.setAttribute("aria-describedby", "values-hint");
      inputs.push(label, input);
    }
    const hint = el("p", `Each value: ${digits}, from ${min} to ${max}.`, "hint");
    hint.id = "values-hint";
    valuesBox.replaceChildren(valuesLegend, hint, ...inputs);
    valuesForm.hidden = false;
    loaded = endpoint;
    contributeStatus.replaceChildren(
      el("p", `Endpoint "${endpoint.name}" is the same on all ${parties.length} parties. Enter your values.`),
    );
    (inputs[1] as HTMLInputElement | undefined)?.focus();
  } catch (error) {
    showError(contributeStatus, error);
  }
}

valuesForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void busy(valuesForm, submit);
});

async function submit(): Promise<void> {
  const endpoint = loaded;
  if (!endpoint) return;
  contributeStatus.replaceChildren(el("p", "Splitting and sending…", "muted"));
  let current: Party | undefined;
  try {
    const parties = await partiesReady;
    const tokens = tokensFor(parties);
    const values = Array.from(valuesBox.querySelectorAll("input"), (input) => input.value);
    const encoded = encode(values, endpoint);
    const key = `${endpoint.name}\n${endpoint.configDigest}\n${values.join("\n")}\n${tokens.join(",")}`;
    if (!unfinished || unfinished.key !== key) {
      unfinished = { key, id: newSubmissionId(), shares: split(encoded, parties.length), done: new Set() };
    }
    const { id, shares, done } = unfinished;
    let duplicate = false;
    for (const party of parties) {
      if (done.has(party.index)) continue;
      current = party;
      const answer = await party.client.submitShare(
        {
          endpoint: endpoint.name,
          submissionId: id,
          partyIndex: party.index,
          configDigest: endpoint.configDigest,
          share: shares[party.index],
        },
        { headers: { authorization: `Bearer ${tokens[party.index]}` } },
      );
      duplicate ||= answer.duplicate;
      done.add(party.index);
    }
    unfinished = undefined;
    const ok = el("p", `Submitted to all ${parties.length} parties. Submission id: `, "ok");
    const code = el("code", id);
    code.id = "submission-id";
    ok.append(code);
    contributeStatus.replaceChildren(
      ok,
      el("p", duplicate ? "A party already had this submission; it is stored once." : "Each party holds one random share."),
    );
    valuesBox.querySelectorAll("input").forEach((input) => (input.value = ""));
  } catch (error) {
    if (current && unfinished && isNetworkError(error)) {
      contributeStatus.replaceChildren(
        errorBox(explainAt(error, current)),
        el("p", "Your submission is not on every party yet. Press Submit again to retry the same submission."),
      );
      return;
    }
    const accepted = unfinished ? [...unfinished.done] : [];
    const id = unfinished?.id;
    unfinished = undefined;
    const boxes: HTMLElement[] = [errorBox(explainAt(error, current))];
    if (id && accepted.length > 0) {
      boxes.push(await withdraw(endpoint, id, accepted));
    }
    contributeStatus.replaceChildren(...boxes);
  }
}

/** DeleteSubmission on the parties that accepted before another refused (§4.5). */
async function withdraw(endpoint: Endpoint, id: string, accepted: number[]): Promise<HTMLElement> {
  const parties = await partiesReady;
  const tokens = tokensFor(parties);
  const failed: string[] = [];
  for (const index of accepted) {
    const party = parties[index];
    try {
      await party.client.deleteSubmission(
        { endpoint: endpoint.name, submissionId: id },
        { headers: { authorization: `Bearer ${tokens[index]}` } },
      );
    } catch (error) {
      failed.push(explainAt(error, party).summary);
    }
  }
  if (failed.length === 0) {
    return el(
      "p",
      `Withdrawn from party ${accepted.join(", ")}, which had accepted it: nothing of this submission is kept.`,
    );
  }
  return errorBox({
    summary: `Could not withdraw submission ${id} from every party that accepted it: ${failed.join("; ")}`,
    hint: "It can never be summed without the other shares; withdraw it later with a client, or tell the operators.",
  });
}

// --- sums ---------------------------------------------------------------------------

const sumsForm = byId<HTMLFormElement>("sums-form");
const sumsEndpoint = byId<HTMLInputElement>("sums-endpoint");
const sumsStatus = byId<HTMLElement>("sums-status");
const sumsBox = byId<HTMLElement>("sums");

sumsForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void busy(sumsForm, showSums);
});

/** Every sealed batch of `name` on one party, through all pages. */
async function allBatches(party: Party, headers: HeadersInit, name: string): Promise<Batch[]> {
  const batches: Batch[] = [];
  let pageToken = "";
  do {
    const answer = await party.client.listBatches({ endpoint: name, pageSize: 100, pageToken }, { headers });
    batches.push(...answer.batches);
    pageToken = answer.nextPageToken;
  } while (pageToken);
  return batches;
}

async function showSums(): Promise<void> {
  sumsBox.replaceChildren();
  sumsStatus.replaceChildren(el("p", "Asking every party for its sealed batches…", "muted"));
  try {
    const parties = await partiesReady;
    const tokens = tokensFor(parties);
    const name = sumsEndpoint.value.trim();
    const endpoint = await loadEndpoint(parties, tokens, name);
    const lists = await onEvery(parties, tokens, (party, headers) => allBatches(party, headers, name));
    const digests = lists[0].map((batch) => batch.batchDigest);
    const rows: HTMLElement[] = [];
    const chartable: Column[] = [];
    const partial: string[] = [];
    for (const digest of digests) {
      const shares = lists.map((list) => list.find((batch) => batch.batchDigest === digest));
      if (shares.some((batch) => batch === undefined)) {
        partial.push(digest.slice(0, 12));
        continue;
      }
      const summed = sumAggregates(shares as Batch[], endpoint);
      const sums = decode(summed.aggregate, endpoint);
      const sealed = shares[0]?.sealTime ? timestampDate(shares[0].sealTime).toISOString() : "";
      const row = document.createElement("tr");
      const head = el("th", digest.slice(0, 12));
      head.setAttribute("scope", "row");
      head.title = digest;
      row.append(head, el("td", sealed), el("td", summed.contributorCount.toString(), "number"));
      for (const sum of sums) row.append(el("td", sum, "number"));
      rows.push(row);
      chartable.push({ label: digest.slice(0, 8), values: sums.map(Number) });
    }
    if (rows.length === 0) {
      sumsStatus.replaceChildren(el("p", `Endpoint "${name}" has no batch sealed on every party yet.`));
    } else {
      const table = document.createElement("table");
      table.id = "sums-table";
      const caption = el("caption", `Sums of the sealed batches of "${name}"`);
      const header = document.createElement("tr");
      for (const title of ["Batch", "Sealed", "Contributors"]) {
        const th = el("th", title);
        th.setAttribute("scope", "col");
        header.append(th);
      }
      for (let i = 0; i < endpoint.vectorLength; i++) {
        const th = el("th", `Sum ${i + 1}`);
        th.setAttribute("scope", "col");
        header.append(th);
      }
      const thead = document.createElement("thead");
      thead.append(header);
      const tbody = document.createElement("tbody");
      tbody.append(...rows);
      table.append(caption, thead, tbody);
      sumsBox.append(table);
      if (chartable.length > 0) sumsBox.append(sumsChart(name, endpoint.vectorLength, chartable));
      sumsStatus.replaceChildren(
        el("p", `${rows.length} sealed ${rows.length === 1 ? "batch" : "batches"}, summed from all ${parties.length} parties.`),
      );
    }
    if (partial.length > 0) {
      sumsStatus.append(
        el("p", `Sealed on some parties only, so not summed: ${partial.join(", ")}. Sealing again completes them.`),
      );
    }
  } catch (error) {
    showError(sumsStatus, error);
  }
}

/** Each sealed batch's sums side by side, one bar a vector element. */
function sumsChart(name: string, length: number, columns: Column[]): HTMLElement {
  const series = Array.from({ length }, (_, i) => `Sum ${i + 1}`);
  return groupedBars("sums-chart", `Sums of "${name}" per sealed batch`, series, columns);
}

// --- new endpoint ----------------------------------------------------------------

const createForm = byId<HTMLFormElement>("create-endpoint-form");
const createStatus = byId<HTMLElement>("create-endpoint-status");

createForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void busy(createForm, createOnEvery);
});

/**
 * CreateEndpoint with one configuration on every party (a developer's token
 * on each), then GetEndpoint checks every party holds the same digest: an
 * endpoint some parties lack or hold differently cannot be summed.
 */
async function createOnEvery(): Promise<void> {
  createStatus.replaceChildren(el("p", "Creating the endpoint on every party…", "muted"));
  try {
    const parties = await partiesReady;
    const tokens = tokensFor(parties);
    const value = (id: string) => byId<HTMLInputElement>(id).value.trim();
    const fixedPoint = byId<HTMLSelectElement>("new-encoding").value === "fixed_point";
    const scale = fixedPoint ? Number(value("new-scale") || "0") : 0;
    const number = (id: string) => scaled(value(id) || "0", scale, byId<HTMLLabelElement>(`${id}-label`).textContent ?? id);
    const minBatch = value("new-min-batch");
    const endpoint = {
      name: value("new-name"),
      description: value("new-description"),
      vectorLength: Number(value("new-length") || "1"),
      field: Field.FIELD64,
      encoding: fixedPoint ? ValueEncoding.FIXED_POINT : ValueEncoding.INTEGER,
      decimalScale: scale,
      minValue: number("new-min"),
      maxValue: number("new-max"),
      minBatchSize: minBatch ? Number(minBatch) : undefined,
    };
    await onEvery(parties, tokens, (party, headers) => party.client.createEndpoint({ endpoint }, { headers }));
    const created = await loadEndpoint(parties, tokens, endpoint.name);
    const done = el("p", `Endpoint "${created.name}" is the same on all ${parties.length} parties (digest ${created.configDigest.slice(0, 12)}).`, "ok");
    done.id = "create-endpoint-done";
    createStatus.replaceChildren(done);
  } catch (error) {
    showError(createStatus, error);
  }
}

/** "-12.5" with 2 decimal places → -1250n: the bounds in the units the parties store. */
function scaled(text: string, places: number, what: string): bigint {
  const match = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text);
  if (!match || (match[3] ?? "").length > places) {
    throw new SecretShareError(`${what}: "${text}" is not a number with at most ${places} decimal places.`);
  }
  const digits = `${match[2]}${(match[3] ?? "").padEnd(places, "0")}`;
  return (match[1] ? -1n : 1n) * BigInt(digits);
}
