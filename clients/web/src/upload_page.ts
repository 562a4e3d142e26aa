// The uploader's page (/upload/{dropoff_id}, also /drop/{dropoff_id}; HTML in
// src/web.rs; spec upload.md §2.1, §3.2): the uploader enters the code,
// OpenDropOff (gRPC-web) checks it and shows the drop-off, then each chosen or
// dropped file goes to /files/ with tus-js-client (code in the Dropoff-Code
// header, drop-off id in the `dropoff` metadata). tus-js-client remembers each
// upload's URL in localStorage, so after a reload the same file, chosen again
// with the code, continues from the server's offset. The code is never stored
// and never put in a URL. Errors are shown next to their file.

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Upload } from "tus-js-client";
import type { DetailedError } from "tus-js-client";
import { explain, stewardTransport } from "./client";
import type { Explained } from "./client";
import { byId, el, errorBox } from "./dom";
import { UploadService } from "./gen/steward/upload/v1/upload_service_pb";
import type { OpenDropOffResponse } from "./gen/steward/upload/v1/upload_service_pb";

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

/** The drop-off as OpenDropOff answered, with the code that opened it. */
let opened: { code: string; dropoff: OpenDropOffResponse } | null = null;

/** Sizes in bytes as people read them (1 KiB = 1024 bytes). */
function formatBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
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
    opened = { code, dropoff };
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

/** Whether `file` matches one of the drop-off's allowed types (§2.2); none listed allows all. */
function typeAllowed(file: File, allowed: string[]): boolean {
  if (allowed.length === 0) return true;
  const name = file.name.toLowerCase();
  const type = (file.type || "application/octet-stream").toLowerCase();
  return allowed.some((entry) => {
    const rule = entry.toLowerCase();
    if (rule.startsWith(".")) return name.endsWith(rule);
    if (rule.endsWith("/*")) return type.startsWith(rule.slice(0, -1));
    return type === rule;
  });
}

/** The tus server's refusal (`ERR_…: message` bodies, §3.13), in plain words. */
function explainTus(error: Error | DetailedError): Explained {
  const response = "originalResponse" in error ? error.originalResponse : null;
  if (!response) {
    return {
      summary: "The connection to the server was lost.",
      hint: "Check your network, then choose the same file again: it continues where it stopped.",
    };
  }
  const body = response.getBody() ?? "";
  const code = /^(ERR_[A-Z_]+)/.exec(body)?.[1] ?? "";
  const detail = body.replace(/^ERR_[A-Z_]+:\s*/, "").trim();
  const known: Record<string, Explained> = {
    ERR_DROPOFF_CODE_INVALID: {
      summary: "The upload code is not accepted (any more).",
      hint: "The code may have been changed. Enter the current code above and choose the file again.",
    },
    ERR_DROPOFF_CODE_REQUIRED: { summary: "The upload code is missing.", hint: "Enter the code above first." },
    ERR_TOO_MANY_ATTEMPTS: {
      summary: "Too many wrong codes were tried for this drop-off.",
      hint: "Wait a quarter of an hour, then try again.",
    },
    ERR_FILE_TYPE_NOT_ALLOWED: {
      summary: "This drop-off does not accept files of this type.",
      hint: "See the allowed types above. Convert the file or ask the person who sent the link.",
    },
    ERR_MAX_SIZE_EXCEEDED: {
      summary: "This file is larger than this drop-off accepts.",
      hint: "See the largest file above. Split or compress the file, or ask the person who sent the link.",
    },
    ERR_QUOTA_EXCEEDED: {
      summary: "There is not enough space left in this drop-off for this file.",
      hint: "Ask the person who sent you the link to make room or raise the limit.",
    },
    ERR_DROPOFF_CLOSED: {
      summary: "This drop-off no longer accepts files.",
      hint: "Ask the person who sent you the link to reopen it.",
    },
    ERR_DROPOFF_NOT_FOUND: {
      summary: "This drop-off does not exist (any more).",
      hint: "Check the link you were given.",
    },
    ERR_UPLOAD_GONE: {
      summary: "This upload was stopped or has expired on the server.",
      hint: "Choose the file again to upload it from the start.",
    },
    ERR_INSUFFICIENT_STORAGE: {
      summary: "The server is out of space for uploads right now.",
      hint: "Try again later; tell the person who sent you the link.",
    },
  };
  const explained = known[code];
  if (explained) return explained;
  return {
    summary: `The server refused the upload (HTTP ${response.getStatus()}${detail ? `: ${detail}` : ""}).`,
    hint: "Try again. If it keeps failing, tell the person who sent you the link.",
  };
}

/** One file on the page: its row, its tus upload and its state. */
class FileRow {
  readonly item: HTMLLIElement;
  private readonly progress: HTMLProgressElement;
  private readonly state: HTMLElement;
  private readonly pauseButton: HTMLButtonElement;
  private readonly problem: HTMLElement;
  private upload: Upload | null = null;
  private paused = false;
  private announcedStep = -1;
  done = false;
  failed = false;

  constructor(
    private readonly file: File,
    private readonly code: string,
    private readonly dropoff: OpenDropOffResponse,
  ) {
    this.item = document.createElement("li");
    this.item.className = "upload";
    this.item.dataset.name = file.name;
    const title = el("p", `${file.name} (${formatBytes(file.size)})`, "file-name");
    this.progress = document.createElement("progress");
    this.progress.max = 100;
    this.progress.value = 0;
    this.progress.setAttribute("aria-label", `Progress of ${file.name}`);
    this.state = el("p", "Waiting…", "file-state");
    this.state.setAttribute("role", "status");
    this.pauseButton = document.createElement("button");
    this.pauseButton.type = "button";
    this.pauseButton.textContent = "Pause";
    this.pauseButton.setAttribute("aria-label", `Pause ${file.name}`);
    this.pauseButton.addEventListener("click", () => void this.togglePause());
    this.problem = el("div", "");
    this.item.append(title, this.progress, this.state, this.pauseButton, this.problem);
  }

  private setState(text: string, state: string): void {
    this.state.textContent = text;
    this.item.dataset.state = state;
  }

  private fail(explained: Explained): void {
    this.failed = true;
    this.pauseButton.hidden = true;
    this.setState("Not uploaded.", "failed");
    this.problem.replaceChildren(errorBox(explained));
    updateSummary();
  }

  /** Checks what the page can check, then starts (or resumes) the tus upload. */
  async start(): Promise<void> {
    const { file, dropoff } = this;
    if (!typeAllowed(file, dropoff.allowedTypes)) {
      this.fail({
        summary: `This drop-off does not accept files of this type (${file.type || "unknown type"}).`,
        hint: `Allowed: ${dropoff.allowedTypes.join(", ")}.`,
      });
      return;
    }
    if (file.size > Number(dropoff.maxFileBytes)) {
      this.fail({
        summary: `This file is larger than this drop-off accepts (${formatBytes(Number(dropoff.maxFileBytes))}).`,
        hint: "Split or compress the file, or ask the person who sent the link.",
      });
      return;
    }
    const upload = new Upload(file, {
      endpoint: dropoff.tusEndpoint || `${window.location.origin}/files/`,
      headers: { "Dropoff-Code": this.code },
      metadata: { dropoff: dropoffId, filename: file.name, filetype: file.type || "application/octet-stream" },
      chunkSize: Number(dropoff.maxChunkBytes) || 4 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000],
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      // Per drop-off: the same file sent to two drop-offs is two uploads.
      fingerprint: async (f: File) => ["steward", dropoffId, f.name, f.type, f.size, f.lastModified].join("/"),
      onProgress: (sent, total) => {
        const percent = total > 0 ? Math.floor((sent / total) * 100) : 100;
        this.progress.value = percent;
        // The status line is announced: in steps of 10 %, not on every event.
        const step = Math.floor(percent / 10);
        if (step !== this.announcedStep) {
          this.announcedStep = step;
          this.setState(`Uploading: ${percent} % (${formatBytes(sent)} of ${formatBytes(total)})`, "uploading");
        }
      },
      onSuccess: () => {
        this.done = true;
        this.progress.value = 100;
        this.pauseButton.hidden = true;
        this.setState("Uploaded. The server is checking and storing it.", "done");
        updateSummary();
      },
      onError: (error) => this.fail(explainTus(error)),
    });
    this.upload = upload;
    const previous = await upload.findPreviousUploads();
    if (previous.length > 0) {
      upload.resumeFromPreviousUpload(previous[0]);
      this.setState("Continuing an earlier upload of this file…", "uploading");
    } else {
      this.setState("Starting…", "uploading");
    }
    upload.start();
  }

  private async togglePause(): Promise<void> {
    if (!this.upload || this.done || this.failed) return;
    if (this.paused) {
      this.paused = false;
      this.announcedStep = -1;
      this.upload.start();
      this.pauseButton.textContent = "Pause";
      this.pauseButton.setAttribute("aria-label", `Pause ${this.file.name}`);
      this.setState("Resuming…", "uploading");
    } else {
      this.paused = true;
      await this.upload.abort();
      this.pauseButton.textContent = "Resume";
      this.pauseButton.setAttribute("aria-label", `Resume ${this.file.name}`);
      this.setState(`Paused at ${this.progress.value} %.`, "paused");
    }
  }
}

const rows: FileRow[] = [];

function updateSummary(): void {
  const done = rows.filter((row) => row.done).length;
  const failed = rows.filter((row) => row.failed).length;
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
    const row = new FileRow(file, opened.code, opened.dropoff);
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
