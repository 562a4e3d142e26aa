// The researcher's donation console (HTML in src/web/donations.rs; spec
// donation.md §2): `/donations` creates a donation (the participant link is
// shown this once, with a QR code) and lists the caller's donations with two
// charts; `/donations/{id}` shows one donation with per-type progress, a data
// preview, an export to JSON Lines, its events, retry and delete. Calls go
// over gRPC-web with the browser's sign-in cookie; the server decides what the
// caller may see and do.

import { createClient } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { bars, formatCount, stackedBars } from "./charts";
import type { Column } from "./charts";
import { stewardTransport } from "./client";
import { cell, showError, table, when } from "./console";
import { byId, el, formatBytes } from "./dom";
import { qrSvg } from "./qr";
import {
  DataTypeState,
  DonationSource,
  DonationStage,
  DonationStatus,
  RowFormat,
} from "./gen/steward/donation/v1/donation_pb";
import type { DataSource, Donation } from "./gen/steward/donation/v1/donation_pb";
import { DonationService } from "./gen/steward/donation/v1/donation_service_pb";

const client = createClient(DonationService, stewardTransport());

/** `PROCESSED` → `processed`, `LINK_OPENED` → `link opened`. */
function enumName(names: Record<number, string>, value: number): string {
  return (names[value] ?? "UNSPECIFIED").toLowerCase().replace(/_/g, " ");
}

const statusName = (s: DonationStatus) => enumName(DonationStatus, s);
const stageName = (s: DonationStage) => enumName(DonationStage, s);
const sourceName = (s: DonationSource) => enumName(DonationSource, s).replace(/ portability$/, "");
const typeStateName = (s: DataTypeState) => enumName(DataTypeState, s);

/** Statuses in the order a donation goes through them (the charts' series order). */
const STATUSES = [
  DonationStatus.PENDING,
  DonationStatus.AUTHORIZED,
  DonationStatus.PROCESSING,
  DonationStatus.PROCESSED,
  DonationStatus.ERROR,
];

function day(time: Timestamp | undefined): string {
  return time ? timestampDate(time).toISOString().slice(0, 10) : "";
}

function totalRows(d: Donation): number {
  return Object.values(d.dataTypes).reduce((sum, t) => sum + Number(t.rows), 0);
}

// --- /donations: create, overview, list ----------------------------------------

async function setUpListPage(): Promise<void> {
  const status = byId<HTMLElement>("page-status");
  const form = byId<HTMLFormElement>("create-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void create(form);
  });
  byId<HTMLSelectElement>("source").addEventListener("change", () => showTypes());
  try {
    sources = (await client.listDataSources({})).sources.filter((s) => s.enabled);
    const select = byId<HTMLSelectElement>("source");
    for (const s of sources) {
      const option = el("option", s.providerName) as HTMLOptionElement;
      option.value = String(s.source);
      select.append(option);
    }
    showTypes();
    await refreshList();
    status.replaceChildren();
  } catch (error) {
    showError(status, error);
  }
}

let sources: DataSource[] = [];

/** The chosen source's data types as checkboxes. */
function showTypes(): void {
  const chosen = Number(byId<HTMLSelectElement>("source").value);
  const source = sources.find((s) => s.source === chosen);
  const box = byId<HTMLElement>("types");
  box.replaceChildren();
  for (const t of source?.dataTypes ?? []) {
    const id = `type-${t.name}`;
    const input = document.createElement("input");
    input.type = "checkbox";
    input.id = id;
    input.name = "data-type";
    input.value = t.name;
    const label = el("label", t.displayName || t.name, "check") as HTMLLabelElement;
    label.htmlFor = id;
    const line = el("div", "", "check-line");
    line.append(input, label);
    box.append(line);
  }
}

async function create(form: HTMLFormElement): Promise<void> {
  const result = byId<HTMLElement>("create-result");
  const button = form.querySelector("button");
  if (button) button.disabled = true;
  result.replaceChildren(el("p", "Creating…", "muted"));
  const requestedDataTypes = [...form.querySelectorAll<HTMLInputElement>('input[name="data-type"]:checked')].map(
    (i) => i.value,
  );
  try {
    const created = await client.createDonation({
      source: Number(byId<HTMLSelectElement>("source").value) as DonationSource,
      dataStartDate: byId<HTMLInputElement>("start-date").value,
      dataEndDate: byId<HTMLInputElement>("end-date").value,
      requestedDataTypes,
      dataset: byId<HTMLInputElement>("dataset").value.trim(),
      description: byId<HTMLTextAreaElement>("description").value,
      requestId: crypto.randomUUID(),
    });
    result.replaceChildren(linkBox(created.donationUrl, created.donation?.id ?? 0n));
    form.reset();
    showTypes();
    await refreshList();
  } catch (error) {
    showError(result, error);
  } finally {
    if (button) button.disabled = false;
  }
}

/** The new donation's link, shown once: a field to copy from, a copy button and a QR code. */
function linkBox(url: string, id: bigint): HTMLElement {
  const box = el("div", "", "notice");
  box.id = "new-link";
  box.append(el("p", `Donation ${id} is ready. Send this link to the participant; it is shown only now.`));
  const label = el("label", "Participant link") as HTMLLabelElement;
  label.htmlFor = "participant-link";
  const input = document.createElement("input");
  input.id = "participant-link";
  input.readOnly = true;
  input.value = url;
  const copy = el("button", "Copy link") as HTMLButtonElement;
  copy.type = "button";
  copy.id = "copy-link";
  const copied = el("span", "", "muted");
  copied.setAttribute("role", "status");
  copy.addEventListener("click", () => {
    input.select();
    navigator.clipboard.writeText(url).then(
      () => (copied.textContent = " Copied."),
      () => (copied.textContent = " Select the link and copy it (Ctrl+C)."),
    );
  });
  const open = el("a", `Open donation ${id}`) as HTMLAnchorElement;
  open.href = `/donations/${id}`;
  const qr = el("div", "", "qr-box");
  qr.append(qrSvg(url, "QR code of the participant link"));
  box.append(label, input, copy, copied, qr, el("p", ""), open);
  return box;
}

async function listAll(): Promise<Donation[]> {
  const all: Donation[] = [];
  let pageToken = "";
  // Ten pages of 1,000 are more than a console page should draw; the clients read the rest.
  for (let page = 0; page < 10; page++) {
    const answer = await client.listDonations({ pageSize: 1000, pageToken });
    all.push(...answer.donations);
    pageToken = answer.nextPageToken;
    if (!pageToken) break;
  }
  return all;
}

async function refreshList(): Promise<void> {
  const donations = await listAll();
  const list = byId<HTMLElement>("donation-list");
  const charts = byId<HTMLElement>("charts");
  if (donations.length === 0) {
    list.replaceChildren(el("p", "No donations yet. Create one above.", "muted"));
    charts.replaceChildren(el("p", "The charts appear with the first donation.", "muted"));
    return;
  }
  const newest = [...donations].reverse();
  list.replaceChildren(
    table("donations-table", "Your donations", ["Donation", "Source", "Status", "Stage", "Rows", "Created", "Dataset"], newest, (d, row) => {
      row.dataset.donation = String(d.id);
      const link = el("a", `#${d.id}`) as HTMLAnchorElement;
      link.href = `/donations/${d.id}`;
      const first = document.createElement("td");
      first.append(link);
      return [
        first,
        cell(sourceName(d.source), "source"),
        cell(statusName(d.status), "status"),
        cell(stageName(d.stage), "stage"),
        cell(formatCount(totalRows(d)), "rows", "number"),
        cell(when(d.createTime), "created"),
        cell(d.dataset || "—", "dataset"),
      ];
    }),
  );
  charts.replaceChildren(statusChart(donations), typeChart(donations));
}

/** Donations created per day (or week, over long spans), by their status now. */
function statusChart(donations: Donation[]): HTMLElement {
  const days = donations.map((d) => day(d.createTime)).filter((d) => d !== "");
  const first = new Date(`${days.reduce((a, b) => (a < b ? a : b))}T00:00:00Z`);
  const today = new Date(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
  const spanDays = Math.round((today.getTime() - first.getTime()) / 86_400_000) + 1;
  const step = spanDays > 60 ? 7 : 1;
  const columns: Column[] = [];
  const index = new Map<string, number>();
  for (let t = first.getTime(); t <= today.getTime(); t += step * 86_400_000) {
    const label = new Date(t).toISOString().slice(0, 10);
    for (let k = 0; k < step; k++) index.set(new Date(t + k * 86_400_000).toISOString().slice(0, 10), columns.length);
    columns.push({ label, values: STATUSES.map(() => 0) });
  }
  for (const d of donations) {
    const column = index.get(day(d.createTime));
    const series = STATUSES.indexOf(d.status);
    if (column !== undefined && series >= 0) columns[column].values[series] += 1;
  }
  const per = step === 7 ? "week" : "day";
  return stackedBars("status-chart", `Donations created per ${per}, by status now`, STATUSES.map(statusName), columns);
}

/** Rows stored per data type over all listed donations. */
function typeChart(donations: Donation[]): HTMLElement {
  const rows = new Map<string, number>();
  for (const d of donations) {
    for (const [name, t] of Object.entries(d.dataTypes)) rows.set(name, (rows.get(name) ?? 0) + Number(t.rows));
  }
  const columns = [...rows].sort((a, b) => b[1] - a[1]).map(([label, value]) => ({ label, value }));
  return bars("types-chart", "Rows per data type, all donations", "rows", columns);
}

// --- /donations/{id}: one donation ----------------------------------------------

/** Statuses after which nothing changes without the researcher: no more polling. */
const SETTLED = new Set([DonationStatus.PROCESSED, DonationStatus.ERROR]);
const POLL_MS = 3000;

async function setUpDonationPage(id: bigint): Promise<void> {
  const status = byId<HTMLElement>("page-status");
  byId<HTMLFormElement>("preview-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void preview(id);
  });
  byId<HTMLButtonElement>("export").addEventListener("click", () => void exportRows(id));
  byId<HTMLButtonElement>("delete").addEventListener("click", () => confirmDelete(id));
  try {
    await showDonation(id);
    status.replaceChildren();
  } catch (error) {
    showError(status, error);
    for (const section of document.querySelectorAll<HTMLElement>("section.needs-donation")) section.hidden = true;
  }
}

let polling: number | undefined;

async function showDonation(id: bigint): Promise<void> {
  const { donation } = await client.getDonation({ donationId: id });
  if (!donation) throw new Error("the server sent no donation");
  byId<HTMLElement>("donation-title").textContent = `Donation #${donation.id}`;
  const summary = byId<HTMLElement>("summary");
  summary.replaceChildren();
  const rows: [string, string, string][] = [
    ["Source", sourceName(donation.source), "source"],
    ["Status", statusName(donation.status), "status"],
    ["Stage", stageName(donation.stage), "stage"],
    ["Data window", `${donation.dataStartDate || "any time"} to ${donation.dataEndDate || "today"}`, "window"],
    ["Dataset", donation.dataset || "—", "dataset"],
    ["Created", when(donation.createTime), "created"],
    ["Terms accepted", when(donation.termsAcceptTime), "terms"],
    ["Processed", when(donation.processTime), "processed"],
  ];
  if (donation.error?.code) rows.push(["Problem", `${donation.error.message} (${donation.error.code})`, "error"]);
  for (const [name, value, field] of rows) {
    const dd = el("dd", value);
    dd.dataset.field = field;
    summary.append(el("dt", name), dd);
  }
  showRetry(donation);
  showTypeProgress(donation);
  await showPreviewTypes(id);
  await showEvents(id);
  window.clearTimeout(polling);
  if (!SETTLED.has(donation.status)) {
    polling = window.setTimeout(() => void showDonation(id).catch((e) => showError(byId("page-status"), e)), POLL_MS);
  }
}

function showRetry(donation: Donation): void {
  const box = byId<HTMLElement>("retry");
  box.replaceChildren();
  if (!donation.error?.researcherCanRetry) return;
  const button = el("button", "Retry processing") as HTMLButtonElement;
  button.type = "button";
  button.id = "retry-button";
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await client.retryDonation({ donationId: donation.id });
      await showDonation(donation.id);
    } catch (error) {
      showError(box, error);
    }
  });
  box.append(button);
}

/** Where a data type is on its way to rows, as a step of four. */
const STEPS: Partial<Record<DataTypeState, number>> = {
  [DataTypeState.REQUESTED]: 0,
  [DataTypeState.EXPORTING]: 1,
  [DataTypeState.DOWNLOADING]: 2,
  [DataTypeState.PARSING]: 3,
  [DataTypeState.AVAILABLE]: 4,
};

function showTypeProgress(donation: Donation): void {
  const types = Object.entries(donation.dataTypes).sort(([a], [b]) => a.localeCompare(b));
  const box = byId<HTMLElement>("types-progress");
  if (types.length === 0) {
    box.replaceChildren(el("p", "No data types.", "muted"));
    return;
  }
  box.replaceChildren(
    table("types-table", "Data types and their progress", ["Data type", "State", "Progress", "Rows", "Records left out"], types, ([name, t], row) => {
      row.dataset.type = name;
      const progressCell = document.createElement("td");
      const step = STEPS[t.state];
      if (step !== undefined) {
        const bar = document.createElement("progress");
        bar.max = 4;
        bar.value = step;
        bar.setAttribute("aria-label", `${name}: step ${step} of 4`);
        progressCell.append(bar);
      } else {
        progressCell.textContent = t.reasonCode || "—";
      }
      return [
        cell(name),
        cell(typeStateName(t.state), "state"),
        progressCell,
        cell(formatCount(Number(t.rows)), "rows", "number"),
        cell(formatCount(Number(t.skippedRecords)), "skipped", "number"),
      ];
    }),
  );
  const columns = types.map(([label, t]) => ({ label, value: Number(t.rows) }));
  byId<HTMLElement>("rows-chart").replaceChildren(bars("donation-rows-chart", "Rows per data type", "rows", columns));
}

async function showPreviewTypes(id: bigint): Promise<void> {
  const { dataTypes } = await client.listDonationDataTypes({ donationId: id });
  const select = byId<HTMLSelectElement>("preview-type");
  const chosen = select.value;
  select.replaceChildren();
  for (const name of dataTypes) {
    const option = el("option", name) as HTMLOptionElement;
    option.value = name;
    select.append(option);
  }
  if (dataTypes.includes(chosen)) select.value = chosen;
  const ready = dataTypes.length > 0;
  byId<HTMLButtonElement>("preview-button").disabled = !ready;
  byId<HTMLButtonElement>("export").disabled = !ready;
  byId<HTMLElement>("preview-hint").textContent = ready ? "" : "No rows to show yet: the data is still on its way.";
}

const PREVIEW_ROWS = 20;

async function preview(id: bigint): Promise<void> {
  const box = byId<HTMLElement>("preview");
  const dataType = byId<HTMLSelectElement>("preview-type").value;
  box.replaceChildren(el("p", "Reading…", "muted"));
  try {
    // JSON rows keep the stored key order (data_type, device_id, timestamp, … first); a Struct has none.
    const answer = await client.queryDonationData({
      donationId: id,
      dataType,
      pageSize: PREVIEW_ROWS,
      rowFormat: RowFormat.JSON,
    });
    const parsed = answer.jsonRows.map((text) => JSON.parse(text) as Record<string, unknown>);
    const keys = [...new Set(parsed.flatMap((r) => Object.keys(r)))];
    const shown = el("p", `${parsed.length} of ${formatCount(Number(answer.totalCount))} rows of ${dataType}.`);
    shown.id = "preview-count";
    const rows = table("preview-table", `Rows of ${dataType}`, keys, parsed, (r) =>
      keys.map((k) => cell(r[k] === null || r[k] === undefined ? "" : String(r[k]))),
    );
    box.replaceChildren(shown, rows);
  } catch (error) {
    showError(box, error);
  }
}

/** Every available row as JSON Lines, streamed and offered as a file. */
async function exportRows(id: bigint): Promise<void> {
  const box = byId<HTMLElement>("export-result");
  const button = byId<HTMLButtonElement>("export");
  button.disabled = true;
  box.replaceChildren(el("p", "Exporting…", "muted"));
  try {
    const parts: BlobPart[] = [];
    let rows = 0;
    for await (const batch of client.exportDonationData({ donationId: id, rowFormat: RowFormat.JSON, jsonLines: true })) {
      if (batch.jsonLines.length > 0) {
        // A copy: Blob takes only views of a plain ArrayBuffer.
        parts.push(new Uint8Array(batch.jsonLines));
        rows += batch.jsonLines.reduce((n, byte) => n + (byte === 10 ? 1 : 0), 0);
      } else {
        for (const line of batch.jsonRows) parts.push(`${line}\n`);
        rows += batch.jsonRows.length;
      }
    }
    const file = new Blob(parts, { type: "application/x-ndjson" });
    const link = el("a", `Download donation-${id}.jsonl`) as HTMLAnchorElement;
    link.id = "export-link";
    link.href = URL.createObjectURL(file);
    link.download = `donation-${id}.jsonl`;
    const done = el("p", `${formatCount(rows)} rows, ${formatBytes(file.size)}. `);
    done.append(link);
    box.replaceChildren(done);
  } catch (error) {
    showError(box, error);
  } finally {
    button.disabled = false;
  }
}

async function showEvents(id: bigint): Promise<void> {
  const { events } = await client.listDonationEvents({ donationId: id, pageSize: 100 });
  const box = byId<HTMLElement>("events");
  if (events.length === 0) {
    box.replaceChildren(el("p", "No events yet.", "muted"));
    return;
  }
  box.replaceChildren(
    table("events-table", "Events", ["When", "What", "Data type"], events, (e) => [
      cell(when(e.createTime)),
      cell(e.kind.replace(/_/g, " "), "kind"),
      cell(e.dataType || "—"),
    ]),
  );
}

/** A second, explicit button: deleting cannot be undone. */
function confirmDelete(id: bigint): void {
  const box = byId<HTMLElement>("delete-confirm");
  const really = el("button", `Yes, delete donation #${id} and its data`, "danger") as HTMLButtonElement;
  really.type = "button";
  really.id = "delete-confirm-button";
  const keep = el("button", "Keep it", "secondary") as HTMLButtonElement;
  keep.type = "button";
  keep.addEventListener("click", () => box.replaceChildren());
  really.addEventListener("click", async () => {
    really.disabled = true;
    try {
      await client.deleteDonation({ donationId: id });
      window.clearTimeout(polling);
      window.location.assign(`/donations?deleted=${id}`);
    } catch (error) {
      showError(box, error);
    }
  });
  box.replaceChildren(el("p", "The rows are deleted and the provider's access is released. This cannot be undone."), really, keep);
  really.focus();
}

// --- which page -----------------------------------------------------------------

const match = /^\/donations\/(\d+)$/.exec(window.location.pathname);
if (match) {
  void setUpDonationPage(BigInt(match[1]));
} else {
  const deleted = new URLSearchParams(window.location.search).get("deleted");
  if (deleted && /^\d+$/.test(deleted)) {
    const note = el("p", `Donation #${deleted} was deleted.`, "ok");
    note.id = "deleted-note";
    byId<HTMLElement>("create-result").replaceChildren(note);
  }
  void setUpListPage();
}
