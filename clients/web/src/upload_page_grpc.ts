// The uploader page's second transport: UploadService's unary chunk RPCs over
// gRPC-web (spec upload.md §2.5), for deployments that route only gRPC-web to
// Steward, or when the page is opened with `?transport=grpc-web`.
//
// CreateUpload (a request_id makes a repeated creation return the same
// upload), then one WriteChunk at a time of at most max_chunk_bytes read with
// Blob.slice, then FinalizeUpload with the SHA-256 computed here while reading
// (streaming, @noble/hashes: WebCrypto's digest() would need the whole file in
// memory), then GetUpload until the server has hashed it: AVAILABLE, or FAILED
// (SHA256_MISMATCH when the bytes that arrived are not the file's).
//
// The upload id is remembered in localStorage (per drop-off, file name, size
// and modification time; never the code), so after a reload the same file,
// chosen again with the code, continues at GetUpload's offset.

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { explain, stewardTransport } from "./client";
import type { Explained } from "./client";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb";
import { FileStatus, UploadService } from "./gen/steward/upload/v1/upload_service_pb";
import type { File as UploadedFile } from "./gen/steward/upload/v1/upload_service_pb";
import { formatBytes } from "./dom";
import { DEFAULT_CHUNK_BYTES, REFUSALS, RETRY_DELAYS_MS, contentType, sleep } from "./upload_page_common";
import type { FileUpload, UploadJob, UploadView } from "./upload_page_common";

const client = createClient(UploadService, stewardTransport());

/** A 4 MiB WriteChunk on a slow link, or a busy server: longer than the page's default. */
const WRITE_TIMEOUT_MS = 120_000;
/** Polls of GetUpload while the server hashes and stores the file: from 0.5 s, growing to 3 s. */
const POLL_FIRST_MS = 500;
const POLL_MAX_MS = 3_000;

/** What the page remembers of an upload across reloads (never the code). */
interface Remembered {
  requestId: string;
  uploadId?: string;
}

/** The localStorage key of `job`'s file: the same file sent to two drop-offs is two uploads. */
function storageKey({ dropoffId, file }: UploadJob): string {
  return ["steward-grpc-upload", dropoffId, file.name, file.size, file.lastModified].join("/");
}

function recall(key: string): Remembered | null {
  try {
    const value: unknown = JSON.parse(window.localStorage.getItem(key) ?? "null");
    if (value && typeof value === "object" && typeof (value as Remembered).requestId === "string") {
      return value as Remembered;
    }
  } catch {
    // Storage refused (private mode) or a value not written by this page: start anew.
  }
  return null;
}

function remember(key: string, value: Remembered): void {
  try {
    window.localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Without storage the upload still works; only a reload starts it anew.
  }
}

function forget(key: string): void {
  try {
    window.localStorage.removeItem(key);
  } catch {
    // Nothing was stored.
  }
}

/** 128 random bits in hex (crypto.randomUUID needs a secure context; this does not). */
function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The upload's reason (google.rpc.ErrorInfo) and the field a BadRequest names, if any. */
function details(error: ConnectError): { reason: string; field: string; currentOffset: number | null } {
  const info = error.findDetails(ErrorInfoSchema)[0];
  const field = error.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field ?? "";
  const offset = info?.metadata.current_offset;
  return { reason: info?.reason ?? "", field, currentOffset: offset === undefined ? null : Number(offset) };
}

/** What to do about a failed call: try again (after asking the server where the upload is), or stop. */
interface Outcome {
  retry: boolean;
  /** Shown when the upload stops (for a retry: once the tries are used up). */
  explained: Explained;
  /** The upload is gone on the server: a new choice of the file starts anew. */
  gone: boolean;
}

/** Maps a chunk RPC's status to the next step and to words. */
function classify(error: unknown): Outcome {
  if (error instanceof DOMException && error.name !== "AbortError") {
    // Blob.arrayBuffer() refused: the chosen file was moved, deleted or changed on disk.
    return {
      retry: false,
      explained: {
        summary: "This file cannot be read any more (it was moved, changed or deleted after it was chosen).",
        hint: "Choose the file again: what is already on the server is kept if it is the same file.",
      },
      gone: false,
    };
  }
  const e = ConnectError.from(error);
  const { reason, field } = details(e);
  const stop = (explained: Explained, gone = false): Outcome => ({ retry: false, explained, gone });
  // fetch() rejects with a TypeError when no HTTP response arrived at all.
  const again = (): Outcome => ({
    retry: true,
    explained: e.cause instanceof TypeError ? REFUSALS.CONNECTION_LOST : explain(e),
    gone: false,
  });
  switch (e.code) {
    case Code.Unavailable:
    case Code.DeadlineExceeded:
    case Code.Unknown:
      // A lost connection, a restart or a busy server: the committed offset is kept.
      return again();
    case Code.Aborted:
      // OFFSET_MISMATCH, UPLOAD_LOCKED, UPLOAD_INTERRUPTED: GetUpload says where the upload is.
      return again();
    case Code.Unauthenticated:
      return stop(REFUSALS.CODE_REQUIRED);
    case Code.PermissionDenied:
      return stop(REFUSALS.CODE_INVALID);
    case Code.ResourceExhausted:
      if (reason === "QUOTA_EXCEEDED") return stop(REFUSALS.QUOTA_EXCEEDED);
      if (reason === "INSUFFICIENT_STORAGE") return stop(REFUSALS.INSUFFICIENT_STORAGE);
      return stop(REFUSALS.TOO_MANY_ATTEMPTS);
    case Code.FailedPrecondition:
      if (reason === "DROPOFF_CLOSED") return stop(REFUSALS.DROPOFF_CLOSED);
      // UPLOAD_INCOMPLETE: bytes are missing on the server; GetUpload says from where.
      if (reason === "UPLOAD_INCOMPLETE") return again();
      break;
    case Code.NotFound:
      if (reason === "UPLOAD_GONE") return stop(REFUSALS.UPLOAD_GONE, true);
      return stop(REFUSALS.DROPOFF_NOT_FOUND, true);
    case Code.InvalidArgument:
      if (field === "size") return stop(REFUSALS.TOO_LARGE);
      if (field === "content_type") return stop(REFUSALS.TYPE_NOT_ALLOWED);
      break;
    case Code.OutOfRange:
      // SIZE_EXCEEDED: the file is longer than when the upload began.
      return stop({
        summary: "This file changed while it was being uploaded (it is longer than when the upload began).",
        hint: "Choose the file again to upload it from the start.",
      });
  }
  return stop(explain(e));
}

/** Why the server refused the finished file (File.failure_reason), in words. */
function explainFailure(reason: string): Explained {
  if (reason === "SHA256_MISMATCH") {
    return {
      summary:
        "The file arrived damaged: its SHA-256 on the server is not the one computed in this browser (SHA256_MISMATCH). The server removed it.",
      hint: "Choose the file again to upload it anew. If it happens again, the file may be changing while it is read: close programs that write it.",
    };
  }
  return {
    summary: `The server could not store the file${reason ? ` (${reason})` : ""}.`,
    hint: "Choose the file again to upload it anew. If it keeps failing, tell the person who sent you the link.",
  };
}

/** Thrown inside the upload when the uploader paused it. */
class Paused extends Error {}

/** `job` sent with the chunk RPCs, reporting to `view`. */
export function grpcUpload(job: UploadJob, view: UploadView): FileUpload {
  return new GrpcUpload(job, view);
}

class GrpcUpload implements FileUpload {
  private readonly key: string;
  private readonly size: number;
  private chunkBytes: number;
  /** The SHA-256 of bytes [0, hashedUpTo) of the file, fed in order. */
  private readonly hasher = sha256.create();
  private hashedUpTo = 0;
  /** The hex digest once every byte is hashed (a hasher gives its digest once). */
  private digest = "";
  private uploadId = "";
  private paused = false;
  private inFlight: AbortController | null = null;
  private running: Promise<void> = Promise.resolve();
  /** Failed tries since the upload last moved on (a WriteChunk that advanced the offset, or finalize). */
  private tries = 0;

  constructor(
    private readonly job: UploadJob,
    private readonly view: UploadView,
  ) {
    this.key = storageKey(job);
    this.size = job.file.size;
    this.chunkBytes = Number(job.dropoff.maxChunkBytes) || DEFAULT_CHUNK_BYTES;
  }

  async start(): Promise<void> {
    this.running = this.run();
  }

  async pause(): Promise<void> {
    this.paused = true;
    this.inFlight?.abort();
    await this.running;
  }

  resume(): void {
    this.paused = false;
    this.tries = 0;
    this.running = this.run();
  }

  /** Runs the upload until it ends, is paused, or fails for good. */
  private async run(): Promise<void> {
    for (;;) {
      try {
        await this.attempt();
        return;
      } catch (error) {
        if (this.paused) return;
        const outcome = classify(error);
        if (outcome.retry && this.tries < RETRY_DELAYS_MS.length) {
          await sleep(RETRY_DELAYS_MS[this.tries]);
          this.tries += 1;
          if (this.paused) return;
          continue;
        }
        if (outcome.gone) forget(this.key);
        this.view.failed(outcome.explained);
        return;
      }
    }
  }

  private checkPaused(): void {
    if (this.paused) throw new Paused();
  }

  /** One pass: find or create the upload, send what the server lacks, finalize, wait for the verdict. */
  private async attempt(): Promise<void> {
    const { file, code } = this.job;
    const state = await this.openUpload();
    if (state.status !== FileStatus.UPLOADING) {
      await this.verdict(state);
      return;
    }
    let offset = Number(state.offset);
    if (offset > this.hashedUpTo) this.view.continuing(offset, this.size);
    // After a reload the page knows nothing of the bytes already on the server
    // [0, offset): the SHA-256 sent with FinalizeUpload covers the whole file,
    // so those bytes are read again from the chosen file and hashed here
    // (nothing is uploaded again) before the upload continues at `offset`.
    await this.hashUpTo(offset);
    this.view.progress(offset, this.size);
    while (offset < this.size) {
      this.checkPaused();
      // A no-op unless the server is ahead of this page (another tab sending the same file).
      await this.hashUpTo(offset);
      const end = Math.min(offset + this.chunkBytes, this.size);
      const data = new Uint8Array(await file.slice(offset, end).arrayBuffer());
      this.hashChunk(offset, data);
      this.checkPaused();
      const reply = await this.call((signal) =>
        client.writeChunk(
          { uploadId: this.uploadId, uploadCode: code, offset: BigInt(offset), data },
          { signal, timeoutMs: WRITE_TIMEOUT_MS },
        ),
      );
      // Only a step forward resets the tries: a GetUpload that answers while
      // every WriteChunk fails must not retry for ever.
      if (Number(reply.offset) > offset) this.tries = 0;
      offset = Number(reply.offset);
      this.view.progress(offset, this.size);
    }
    await this.hashUpTo(this.size);
    this.checkPaused();
    this.view.step("All bytes sent. The server is checking the SHA-256 and storing the file…", "checking");
    const finalized = await this.call((signal) =>
      client.finalizeUpload({ uploadId: this.uploadId, uploadCode: code, sha256: this.digest }, { signal }),
    );
    if (!finalized.file) throw new Error("FinalizeUpload answered without the file");
    this.tries = 0;
    await this.verdict(finalized.file);
  }

  /** The remembered upload as GetUpload shows it, else a new one from CreateUpload. */
  private async openUpload(): Promise<Pick<UploadedFile, "status" | "offset" | "sha256" | "failureReason">> {
    const { file, code, dropoffId } = this.job;
    const remembered = recall(this.key);
    if (!this.uploadId && remembered?.uploadId) this.uploadId = remembered.uploadId;
    if (this.uploadId) {
      try {
        const { file: state } = await this.call((signal) =>
          client.getUpload({ uploadId: this.uploadId, uploadCode: code }, { signal }),
        );
        const live = [FileStatus.UPLOADING, FileStatus.PROCESSING, FileStatus.AVAILABLE];
        if (state && live.includes(state.status)) return state;
      } catch (error) {
        if (ConnectError.from(error).code !== Code.NotFound) throw error;
      }
      // Gone (expired, cancelled, deleted) or failed before the reload: this file starts anew.
      forget(this.key);
      this.uploadId = "";
    }
    // A creation whose answer was lost (a reload, a dropped connection) is asked
    // again with the same request_id, so the server returns the same upload.
    const requestId = recall(this.key)?.requestId ?? randomId();
    remember(this.key, { requestId });
    const created = await this.call((signal) =>
      client.createUpload(
        {
          dropoffId,
          uploadCode: code,
          name: file.name,
          size: BigInt(file.size),
          contentType: contentType(file),
          requestId,
        },
        { signal },
      ),
    );
    this.uploadId = created.uploadId;
    const largest = Number(created.maxChunkBytes);
    if (largest > 0) this.chunkBytes = Math.min(this.chunkBytes, largest);
    remember(this.key, { requestId, uploadId: this.uploadId });
    this.view.step("Starting…", "uploading");
    return { status: FileStatus.UPLOADING, offset: created.offset, sha256: "", failureReason: "" };
  }

  /** A call that pause can cancel. */
  private async call<T>(send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.checkPaused();
    const controller = new AbortController();
    this.inFlight = controller;
    try {
      return await send(controller.signal);
    } finally {
      this.inFlight = null;
    }
  }

  /** Feeds the part of `data` (the bytes at `offset`) beyond what is hashed already. */
  private hashChunk(offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    if (end <= this.hashedUpTo || offset > this.hashedUpTo) return;
    this.hasher.update(data.subarray(this.hashedUpTo - offset));
    this.hashedUpTo = end;
    if (this.hashedUpTo === this.size) this.digest = bytesToHex(this.hasher.digest());
  }

  /** Reads bytes [hashedUpTo, end) of the file, chunk by chunk, into the hash (no upload). */
  private async hashUpTo(end: number): Promise<void> {
    if (this.size === 0 && !this.digest) this.digest = bytesToHex(this.hasher.digest());
    if (this.hashedUpTo >= end) return;
    const { file } = this.job;
    let said = -1;
    while (this.hashedUpTo < end) {
      this.checkPaused();
      // Said in steps of 10 %, as the upload's progress is.
      const percent = Math.floor((this.hashedUpTo / end) * 100);
      if (Math.floor(percent / 10) !== said) {
        said = Math.floor(percent / 10);
        this.view.step(
          `Reading the ${formatBytes(end)} already on the server to compute the SHA-256: ${percent} %`,
          "hashing",
        );
      }
      const from = this.hashedUpTo;
      const to = Math.min(from + this.chunkBytes, end);
      this.hashChunk(from, new Uint8Array(await file.slice(from, to).arrayBuffer()));
    }
  }

  /** Waits for the server's verdict on a finalized file, and shows it. */
  private async verdict(state: Pick<UploadedFile, "status" | "sha256" | "failureReason">): Promise<void> {
    const { code } = this.job;
    let current = state;
    let delay = POLL_FIRST_MS;
    if (current.status === FileStatus.PROCESSING) {
      this.view.step("All bytes sent. The server is checking the SHA-256 and storing the file…", "checking");
    }
    while (current.status === FileStatus.PROCESSING) {
      await sleep(delay);
      delay = Math.min(delay * 2, POLL_MAX_MS);
      const { file } = await this.call((signal) =>
        client.getUpload({ uploadId: this.uploadId, uploadCode: code }, { signal }),
      );
      if (!file) throw new Error("GetUpload answered without the file");
      current = file;
    }
    forget(this.key);
    if (current.status === FileStatus.AVAILABLE) {
      this.view.done("Uploaded and stored; the server's SHA-256 matches this browser's.", current.sha256);
    } else if (current.status === FileStatus.FAILED) {
      this.view.failed(explainFailure(current.failureReason));
    } else {
      this.view.failed(REFUSALS.UPLOAD_GONE);
    }
  }
}
