// The owner's drop-off pages (HTML in src/web/mod.rs; spec upload.md §2.1, §2.6):
// `/dropoffs` creates a drop-off (CreateDropOff; the link and the code are
// shown this once) and lists the owner's drop-offs; `/dropoffs/{dropoff_id}`
// shows one (GetDropOff) and its files (ListFiles) with a download link per
// available file to the plain HTTP route. Calls go over gRPC-web with this
// browser's sign-in cookie, or with a pasted token (never stored).

import { createClient } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { explain, stewardTransport } from "./client";
import { bars } from "./charts";
import { byId, el, errorBox, formatBytes, tokenField } from "./dom";
import { DropOffState, FileStatus, UploadService } from "./gen/steward/upload/v1/upload_service_pb";
import type { DropOff, File as DropOffFile } from "./gen/steward/upload/v1/upload_service_pb";

const client = createClient(UploadService, stewardTransport());
const tokenInput = tokenField("token");

/** The pasted token as a header, or none (the sign-in cookie is sent then). */
function authHeaders(): Record<string, string> {
  const token = tokenInput.value.trim().replace(/^bearer\s+/i, "");
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** A definition list of (label, value, data-field) rows. */
function details(rows: [string, string, string][]): HTMLElement {
  const list = document.createElement("dl");
  list.className = "identity";
  for (const [name, value, field] of rows) {
    const dd = el("dd", value);
    dd.dataset.field = field;
    list.append(el("dt", name), dd);
  }
  return list;
}

function stateName(state: DropOffState): string {
  return (DropOffState[state] ?? "UNSPECIFIED").toLowerCase();
}

function dropOffRows(d: DropOff): [string, string, string][] {
  return [
    ["Title", d.title, "title"],
    ["State", stateName(d.state), "state"],
    ["Files", `${d.fileCount}`, "file-count"],
    ["Used", `${formatBytes(Number(d.usedBytes))} of ${formatBytes(Number(d.maxTotalBytes))}`, "used"],
    ["Largest file", formatBytes(Number(d.maxFileBytes)), "max-file"],
    ["Allowed types", d.allowedTypes.length ? d.allowedTypes.join(", ") : "any", "types"],
    ["Open until", d.expireTime ? timestampDate(d.expireTime).toLocaleString() : "—", "expires"],
    ["Upload link", d.uploadUrl, "upload-url"],
  ];
}

// --- /dropoffs: create and list -------------------------------------------------

function setUpListPage(): void {
  const form = byId<HTMLFormElement>("create-form");
  const result = byId<HTMLElement>("create-result");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void create();
  });

  async function create(): Promise<void> {
    const title = byId<HTMLInputElement>("title").value.trim();
    const description = byId<HTMLTextAreaElement>("description").value;
    const allowedTypes = byId<HTMLInputElement>("allowed-types")
      .value.split(",")
      .map((t) => t.trim())
      .filter((t) => t !== "");
    const mib = (id: string) => {
      const value = byId<HTMLInputElement>(id).value.trim();
      return value ? BigInt(Math.round(Number(value) * 1024 * 1024)) : 0n;
    };
    const maxTotalBytes = mib("max-total");
    // Only a total given: no file may be larger than it (the server's largest file would be).
    const maxFileBytes = mib("max-file") || maxTotalBytes;
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    result.replaceChildren(el("p", "Creating…", "muted"));
    try {
      const answer = await client.createDropOff(
        { dropoff: { title, description, allowedTypes, maxFileBytes, maxTotalBytes } },
        { headers: authHeaders() },
      );
      const d = answer.dropoff;
      if (!d) throw new Error("the server answered without the drop-off");
      const code = el("strong", answer.uploadCode, "code");
      code.id = "new-code";
      const link = document.createElement("a");
      link.id = "new-link";
      link.href = d.uploadUrl;
      link.textContent = d.uploadUrl;
      const manage = document.createElement("a");
      manage.href = `/dropoffs/${d.dropoffId}`;
      manage.textContent = "Manage this drop-off";
      const linkLine = el("p", "Upload link: ");
      linkLine.append(link);
      const codeLine = el("p", "Upload code: ");
      codeLine.append(code);
      result.replaceChildren(
        el("p", `Created “${d.title}”.`, "ok"),
        linkLine,
        codeLine,
        el(
          "p",
          "The code is shown only now: copy it before you leave this page. Send the link and the code to the uploaders, ideally by different channels. If the code is lost, rotate it for a new one.",
          "notice",
        ),
        manage,
      );
      form.reset();
    } catch (error) {
      result.replaceChildren(errorBox(explain(error)));
    } finally {
      if (button) button.disabled = false;
    }
  }

  const listBox = byId<HTMLElement>("dropoff-list");
  byId<HTMLButtonElement>("list-refresh").addEventListener("click", () => void list());
  async function list(): Promise<void> {
    listBox.replaceChildren(el("p", "Asking the server…", "muted"));
    try {
      const answer = await client.listDropOffs({ pageSize: 100 }, { headers: authHeaders() });
      if (answer.dropoffs.length === 0) {
        listBox.replaceChildren(el("p", "You have no drop-offs yet."));
        return;
      }
      const items = document.createElement("ul");
      for (const d of answer.dropoffs) {
        const link = document.createElement("a");
        link.href = `/dropoffs/${d.dropoffId}`;
        link.textContent = d.title;
        const item = document.createElement("li");
        item.append(link, ` (${stateName(d.state)}, ${d.fileCount} files)`);
        items.append(item);
      }
      const stored = answer.dropoffs.map((d) => ({ label: d.title, value: Number(d.usedBytes) }));
      listBox.replaceChildren(items, bars("stored-chart", "Stored per drop-off", "stored", stored, formatBytes));
    } catch (error) {
      listBox.replaceChildren(errorBox(explain(error)));
    }
  }
}

// --- /dropoffs/{id}: one drop-off and its files --------------------------------

function setUpDropOffPage(dropoffId: string): void {
  const box = byId<HTMLElement>("dropoff-details");
  const filesBox = byId<HTMLElement>("files");
  byId<HTMLFormElement>("load-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void load();
  });

  function fileRow(file: DropOffFile): HTMLTableRowElement {
    const row = document.createElement("tr");
    row.dataset.fileId = file.fileId;
    const name = document.createElement("td");
    if (file.status === FileStatus.AVAILABLE) {
      const link = document.createElement("a");
      link.href = `/dropoffs/${dropoffId}/files/${file.fileId}/content`;
      link.textContent = file.name;
      link.setAttribute("download", file.name);
      link.className = "download";
      // A pasted token cannot ride on a plain link: fetch with it and save the bytes.
      link.addEventListener("click", (event) => {
        const headers = authHeaders();
        if (!headers.authorization) return;
        event.preventDefault();
        void downloadWithToken(link.href, file.name, headers);
      });
      name.append(link);
    } else {
      name.textContent = file.name;
    }
    if (file.relativePath) name.append(el("div", file.relativePath, "muted"));
    const size = el("td", file.size === undefined ? "unknown" : formatBytes(Number(file.size)), "number");
    const status = el("td", (FileStatus[file.status] ?? "UNSPECIFIED").toLowerCase());
    status.dataset.field = "status";
    if (file.failureReason) status.append(` (${file.failureReason})`);
    const sha = el("td", file.sha256 || "—", "hash");
    sha.dataset.field = "sha256";
    row.append(name, size, status, sha);
    return row;
  }

  async function downloadWithToken(url: string, name: string, headers: Record<string, string>): Promise<void> {
    const response = await fetch(url, { headers });
    if (!response.ok) {
      filesBox.prepend(
        errorBox({ summary: `The download was refused (HTTP ${response.status}).`, hint: await response.text() }),
      );
      return;
    }
    const blob = await response.blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  }

  async function load(): Promise<void> {
    box.replaceChildren(el("p", "Asking the server…", "muted"));
    filesBox.replaceChildren();
    try {
      const headers = authHeaders();
      const { dropoff } = await client.getDropOff({ dropoffId }, { headers });
      if (!dropoff) throw new Error("the server answered without the drop-off");
      byId("heading").textContent = `Drop-off: ${dropoff.title}`;
      box.replaceChildren(details(dropOffRows(dropoff)));
      if (dropoff.description) box.append(el("p", dropoff.description));
      const files: DropOffFile[] = [];
      let pageToken = "";
      do {
        const page = await client.listFiles({ dropoffId, pageSize: 100, pageToken }, { headers });
        files.push(...page.files);
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
      if (files.length === 0) {
        filesBox.replaceChildren(el("p", "No files yet."));
        return;
      }
      const table = document.createElement("table");
      table.id = "file-table";
      const caption = document.createElement("caption");
      caption.textContent = `${files.length} files`;
      const head = document.createElement("tr");
      for (const title of ["Name", "Size", "Status", "SHA-256"]) {
        const th = el("th", title);
        th.setAttribute("scope", "col");
        head.append(th);
      }
      const thead = document.createElement("thead");
      thead.append(head);
      const tbody = document.createElement("tbody");
      tbody.append(...files.map(fileRow));
      table.append(caption, thead, tbody);
      filesBox.replaceChildren(table, volumeChart(files));
    } catch (error) {
      box.replaceChildren(errorBox(explain(error)));
    }
  }

  void load();
}

/** Bytes of the available files by the day their upload completed (UTC). */
function volumeChart(files: DropOffFile[]): HTMLElement {
  const perDay = new Map<string, number>();
  for (const file of files) {
    if (file.status !== FileStatus.AVAILABLE || !file.completeTime) continue;
    const day = timestampDate(file.completeTime).toISOString().slice(0, 10);
    perDay.set(day, (perDay.get(day) ?? 0) + Number(file.size ?? 0n));
  }
  const columns = [...perDay].sort(([a], [b]) => a.localeCompare(b)).map(([label, value]) => ({ label, value }));
  return bars("volume-chart", "Uploaded per day", "uploaded", columns, formatBytes);
}

const parts = window.location.pathname.split("/").filter((part) => part !== "");
if (parts.length >= 2) {
  setUpDropOffPage(parts[1]);
} else {
  setUpListPage();
}
