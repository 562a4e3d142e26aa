// The uploader's page (/upload/{dropoff_id}, also /drop/{dropoff_id}; HTML in
// src/web/mod.rs; spec upload.md §2.1, §2.5, §3.2): the uploader enters the code,
// OpenDropOff (gRPC-web) checks it and shows the drop-off, then each chosen or
// dropped file is sent, with a row of its own (progress, pause and resume,
// errors next to the file). Two transports send the bytes, each in its own
// module: tus to /files/ (upload_page_tus.ts), the default, and the chunk
// RPCs over gRPC-web (upload_page_grpc.ts), used when the page is opened
// with `?transport=grpc-web` or when `OPTIONS /files/` gets no tus answer (a
// deployment that routes only gRPC-web to Steward). Both continue an upload
// after a reload when the same file is chosen again with the code. The code
// is never stored and never put in a URL.

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { explain, stewardTransport } from "./client";
import type { Explained } from "./client";
import { byId, el, errorBox, formatBytes } from "./dom";
import { UploadService } from "./gen/steward/upload/v1/upload_service_pb";
import type { OpenDropOffResponse } from "./gen/steward/upload/v1/upload_service_pb";
import { typeAllowed } from "./upload_page_common";
import type { FileUpload, TransportName, UploadStep, UploadView } from "./upload_page_common";
import { grpcUpload } from "./upload_page_grpc";
import { tusAnswers, tusUpload } from "./upload_page_tus";

const client = createClient(UploadService, stewardTransport());
const dropoffId = window.location.pathname.split("/").filter((part) => part !== "")[1] ?? "";

const codeForm = byId<HTMLFormElement>("code-form");
const codeInput = byId<HTMLInputElement>("code");
const codeStatus = byId<HTMLElement>("code-status");
const dropoffBox = byId<HTMLElement>("dropoff");
const fileInput = byId<HTMLInputElement>("files");
const dropZone = byId<HTMLElement>("drop-zone");
const uploadList = byId<HTMLUListElement>("uploads");
const summary = byId<HTMLElement>("upload-summary");

/** The drop-off as OpenDropOff answered, with the code that opened it and the transport chosen. */
let opened: { code: string; dropoff: OpenDropOffResponse; transport: TransportName } | null = null;

/**
 * How this page sends files: `?transport=grpc-web` (or `?transport=tus`) on its
 * URL decides; otherwise tus, unless `OPTIONS` on the drop-off's tus endpoint
 * gets no tus answer (a deployment that routes only gRPC-web through Envoy),
 * and then the chunk RPCs over gRPC-web.
 */
async function chooseTransport(dropoff: OpenDropOffResponse): Promise<TransportName> {
  const asked = new URLSearchParams(window.location.search).get("transport");
  if (asked === "grpc-web" || asked === "tus") return asked;
  const endpoint = dropoff.tusEndpoint || `${window.location.origin}/files/`;
  return (await tusAnswers(endpoint)) ? "tus" : "grpc-web";
}

/** OpenDropOff's refusals, in words for someone who was sent a link and a code. */
function explainOpen(error: unknown): Explained {
  const e = ConnectError.from(error);
  switch (e.code) {
    case Code.PermissionDenied:
    case Code.Unauthenticated:
      return {
        summary: "That code is not right for this drop-off.",
        hint: "Check the code you were given (letters and digits, like ABCDE-12345) and try again.",
      };
    case Code.NotFound:
      return {
        summary: "This drop-off does not exist (any more).",
        hint: "Check the link you were given, or ask the person who sent it.",
      };
    case Code.FailedPrecondition:
      return {
        summary: `This drop-off no longer accepts files${e.rawMessage ? ` (${e.rawMessage})` : ""}.`,
        hint: "Ask the person who sent you the link to reopen it.",
      };
    case Code.ResourceExhausted:
      return {
        summary: "Too many wrong codes were tried for this drop-off.",
        hint: "Wait a quarter of an hour, then enter the code again.",
      };
    default:
      return explain(error);
  }
}

codeForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void openDropOff();
});

async function openDropOff(): Promise<void> {
  const code = codeInput.value.trim();
  if (code === "") {
    codeStatus.replaceChildren(
      errorBox({ summary: "Enter the upload code first.", hint: "It came with the link to this page." }),
    );
    return;
  }
  const button = codeForm.querySelector("button");
  if (button) button.disabled = true;
  codeStatus.replaceChildren(el("p", "Checking the code…", "muted"));
  try {
    const dropoff = await client.openDropOff({ dropoffId, uploadCode: code });
    const transport = await chooseTransport(dropoff);
    opened = { code, dropoff, transport };
    document.body.dataset.transport = transport;
    showDropOff(dropoff);
    codeStatus.replaceChildren(el("p", "Code accepted. You can now add files.", "ok"));
    fileInput.focus();
  } catch (error) {
    opened = null;
    dropoffBox.hidden = true;
    codeStatus.replaceChildren(errorBox(explainOpen(error)));
  } finally {
    if (button) button.disabled = false;
  }
}

function showDropOff(dropoff: OpenDropOffResponse): void {
  byId("dropoff-title").textContent = dropoff.title;
  byId("dropoff-description").textContent = dropoff.description;
  const limits = byId("dropoff-limits");
  limits.replaceChildren();
  const row = (name: string, value: string, field: string) => {
    const dd = el("dd", value);
    dd.dataset.field = field;
    limits.append(el("dt", name), dd);
  };
  row("Largest file", formatBytes(Number(dropoff.maxFileBytes)), "max-file");
  row("Space left", formatBytes(Number(dropoff.remainingBytes)), "remaining");
  row("Allowed types", dropoff.allowedTypes.length ? dropoff.allowedTypes.join(", ") : "any", "types");
  if (dropoff.expireTime) {
    const when = new Date(Number(dropoff.expireTime.seconds) * 1000);
    row("Open until", when.toLocaleString(), "expires");
  }
  dropoffBox.hidden = false;
}

/** One file on the page: its row, the upload its transport runs, and its state. */
class FileRow implements UploadView {
  readonly item: HTMLLIElement;
  private readonly progressBar: HTMLProgressElement;
  private readonly state: HTMLElement;
  private readonly pauseButton: HTMLButtonElement;
  /** Below the state: the error, or the server's SHA-256 once stored. */
  private readonly detail: HTMLElement;
  private upload: FileUpload | null = null;
  private paused = false;
  private announcedStep = -1;
  isDone = false;
  isFailed = false;

  constructor(
    private readonly file: File,
    private readonly code: string,
    private readonly dropoff: OpenDropOffResponse,
    private readonly transport: TransportName,
  ) {
    this.item = document.createElement("li");
    this.item.className = "upload";
    this.item.dataset.name = file.name;
    this.item.dataset.transport = transport;
    const title = el("p", `${file.name} (${formatBytes(file.size)})`, "file-name");
    this.progressBar = document.createElement("progress");
    this.progressBar.max = 100;
    this.progressBar.value = 0;
    this.progressBar.setAttribute("aria-label", `Progress of ${file.name}`);
    this.state = el("p", "Waiting…", "file-state");
    this.state.setAttribute("role", "status");
    this.pauseButton = document.createElement("button");
    this.pauseButton.type = "button";
    this.pauseButton.textContent = "Pause";
    this.pauseButton.setAttribute("aria-label", `Pause ${file.name}`);
    this.pauseButton.addEventListener("click", () => void this.togglePause());
    this.detail = el("div", "");
    this.item.append(title, this.progressBar, this.state, this.pauseButton, this.detail);
  }

  private setState(text: string, state: string): void {
    this.state.textContent = text;
    this.item.dataset.state = state;
  }

  progress(sent: number, total: number): void {
    if (this.paused) return;
    const percent = total > 0 ? Math.floor((sent / total) * 100) : 100;
    this.progressBar.value = percent;
    // The status line is announced: in steps of 10 %, not on every event.
    const step = Math.floor(percent / 10);
    if (step !== this.announcedStep) {
      this.announcedStep = step;
      this.setState(`Uploading: ${percent} % (${formatBytes(sent)} of ${formatBytes(total)})`, "uploading");
    }
  }

  step(text: string, step: UploadStep): void {
    if (this.paused) return;
    // The next progress is announced again, whatever its step.
    this.announcedStep = -1;
    this.pauseButton.hidden = step === "checking";
    this.setState(text, step);
  }

  continuing(offset: number, total: number): void {
    this.item.dataset.resumedFrom = String(offset);
    this.progressBar.value = total > 0 ? Math.floor((offset / total) * 100) : 100;
    this.setState(`Continuing an earlier upload of this file: ${formatBytes(offset)} are on the server.`, "uploading");
  }

  done(text: string, sha256?: string): void {
    this.isDone = true;
    this.progressBar.value = 100;
    this.pauseButton.hidden = true;
    this.setState(text, "done");
    if (sha256) {
      const digest = el("code", sha256);
      digest.dataset.field = "sha256";
      const line = el("p", "SHA-256: ", "digest");
      line.append(digest);
      this.detail.replaceChildren(line);
    }
    updateSummary();
  }

  failed(explained: Explained): void {
    this.isFailed = true;
    this.pauseButton.hidden = true;
    this.setState("Not uploaded.", "failed");
    this.detail.replaceChildren(errorBox(explained));
    updateSummary();
  }

  /** Checks what the page can check, then starts (or resumes) the upload. */
  async start(): Promise<void> {
    const { file, dropoff } = this;
    if (!typeAllowed(file, dropoff.allowedTypes)) {
      this.failed({
        summary: `This drop-off does not accept files of this type (${file.type || "unknown type"}).`,
        hint: `Allowed: ${dropoff.allowedTypes.join(", ")}.`,
      });
      return;
    }
    if (file.size > Number(dropoff.maxFileBytes)) {
      this.failed({
        summary: `This file is larger than this drop-off accepts (${formatBytes(Number(dropoff.maxFileBytes))}).`,
        hint: "Split or compress the file, or ask the person who sent the link.",
      });
      return;
    }
    const job = { file, code: this.code, dropoffId, dropoff };
    this.upload = this.transport === "grpc-web" ? grpcUpload(job, this) : tusUpload(job, this);
    await this.upload.start();
  }

  private async togglePause(): Promise<void> {
    if (!this.upload || this.isDone || this.isFailed) return;
    this.pauseButton.disabled = true;
    try {
      if (this.paused) {
        this.paused = false;
        this.announcedStep = -1;
        this.setState("Resuming…", "uploading");
        this.pauseButton.textContent = "Pause";
        this.pauseButton.setAttribute("aria-label", `Pause ${this.file.name}`);
        this.upload.resume();
      } else {
        this.paused = true;
        await this.upload.pause();
        this.pauseButton.textContent = "Resume";
        this.pauseButton.setAttribute("aria-label", `Resume ${this.file.name}`);
        this.setState(`Paused at ${this.progressBar.value} %.`, "paused");
      }
    } finally {
      this.pauseButton.disabled = false;
    }
  }
}

const rows: FileRow[] = [];

function updateSummary(): void {
  const done = rows.filter((row) => row.isDone).length;
  const failed = rows.filter((row) => row.isFailed).length;
  const parts = [`${done} of ${rows.length} files uploaded`];
  if (failed) parts.push(`${failed} not uploaded`);
  summary.textContent = `${parts.join(", ")}.`;
}

function addFiles(files: FileList | null): void {
  if (!files || files.length === 0) return;
  if (!opened) {
    codeStatus.replaceChildren(
      errorBox({ summary: "Enter the upload code first.", hint: "It came with the link to this page." }),
    );
    return;
  }
  for (const file of Array.from(files)) {
    const row = new FileRow(file, opened.code, opened.dropoff, opened.transport);
    rows.push(row);
    uploadList.append(row.item);
    void row.start();
  }
  updateSummary();
}

fileInput.addEventListener("change", () => {
  addFiles(fileInput.files);
  fileInput.value = "";
});
dropZone.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropZone.classList.add("dragging");
});
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dragging"));
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropZone.classList.remove("dragging");
  addFiles(event.dataTransfer?.files ?? null);
});
