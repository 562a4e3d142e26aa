// What the uploader's page (upload_page.ts) shares with its two transports,
// tus (upload_page_tus.ts) and the chunk RPCs over gRPC-web
// (upload_page_grpc.ts): the contract between a file's row and the code that
// sends the file, sizes in words, the type check, and the refusals in plain
// words, so both transports explain the same problem the same way.

import type { Explained } from "./client";
import type { OpenDropOffResponse } from "./gen/steward/upload/v1/upload_service_pb";

/** The server's largest chunk (spec upload.md §2.5) when it names none. */
export const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;

/** Waits before each new try after a lost connection (also tus-js-client's retryDelays). */
export const RETRY_DELAYS_MS = [0, 1000, 3000, 5000];

/** How the page sends files: `?transport=grpc-web` on the page's URL asks for the chunk RPCs. */
export type TransportName = "tus" | "grpc-web";

/** One file to send, with the drop-off and code that opened it. */
export interface UploadJob {
  file: File;
  code: string;
  dropoffId: string;
  dropoff: OpenDropOffResponse;
}

/** Row states a transport reports besides done and failed (the row's data-state). */
export type UploadStep = "uploading" | "hashing" | "checking";

/** What an upload tells its row on the page, whatever its transport. */
export interface UploadView {
  /** `sent` of `total` bytes are on the server. */
  progress(sent: number, total: number): void;
  /** A step worth saying (starting, continuing, checking…); "checking" ends pausing. */
  step(text: string, step: UploadStep): void;
  /** An upload continues after a reload from `offset` bytes already on the server. */
  continuing(offset: number, total: number): void;
  /** Complete: `text` says what the server did; `sha256` when the server has stored and hashed it. */
  done(text: string, sha256?: string): void;
  failed(explained: Explained): void;
}

/** One file's upload as a transport runs it. */
export interface FileUpload {
  /** Starts the upload, or continues one this browser began earlier. */
  start(): Promise<void>;
  /** Stops sending; resolves once nothing is in flight. */
  pause(): Promise<void>;
  /** Continues a paused upload from the server's offset. */
  resume(): void;
}

/** Whether `file` matches one of the drop-off's allowed types (§2.2); none listed allows all. */
export function typeAllowed(file: File, allowed: string[]): boolean {
  if (allowed.length === 0) return true;
  const name = file.name.toLowerCase();
  const type = contentType(file).toLowerCase();
  return allowed.some((entry) => {
    const rule = entry.toLowerCase();
    if (rule.startsWith(".")) return name.endsWith(rule);
    if (rule.endsWith("/*")) return type.startsWith(rule.slice(0, -1));
    return type === rule;
  });
}

/** The type the browser gives the file, or the generic one. */
export function contentType(file: File): string {
  return file.type || "application/octet-stream";
}

/** The server's refusals that both transports can meet, named after the gRPC reasons. */
export type Refusal =
  | "CODE_INVALID"
  | "CODE_REQUIRED"
  | "TOO_MANY_ATTEMPTS"
  | "TYPE_NOT_ALLOWED"
  | "TOO_LARGE"
  | "QUOTA_EXCEEDED"
  | "DROPOFF_CLOSED"
  | "DROPOFF_NOT_FOUND"
  | "UPLOAD_GONE"
  | "INSUFFICIENT_STORAGE"
  | "CONNECTION_LOST";

/** Each refusal in words for someone who was sent a link and a code, and what to do. */
export const REFUSALS: Record<Refusal, Explained> = {
  CODE_INVALID: {
    summary: "The upload code is not accepted (any more).",
    hint: "The code may have been changed. Enter the current code above and choose the file again.",
  },
  CODE_REQUIRED: { summary: "The upload code is missing.", hint: "Enter the code above first." },
  TOO_MANY_ATTEMPTS: {
    summary: "Too many wrong codes were tried for this drop-off.",
    hint: "Wait a quarter of an hour, then try again.",
  },
  TYPE_NOT_ALLOWED: {
    summary: "This drop-off does not accept files of this type.",
    hint: "See the allowed types above. Convert the file or ask the person who sent the link.",
  },
  TOO_LARGE: {
    summary: "This file is larger than this drop-off accepts.",
    hint: "See the largest file above. Split or compress the file, or ask the person who sent the link.",
  },
  QUOTA_EXCEEDED: {
    summary: "There is not enough space left in this drop-off for this file.",
    hint: "Ask the person who sent you the link to make room or raise the limit.",
  },
  DROPOFF_CLOSED: {
    summary: "This drop-off no longer accepts files.",
    hint: "Ask the person who sent you the link to reopen it.",
  },
  DROPOFF_NOT_FOUND: {
    summary: "This drop-off does not exist (any more).",
    hint: "Check the link you were given.",
  },
  UPLOAD_GONE: {
    summary: "This upload was stopped or has expired on the server.",
    hint: "Choose the file again to upload it from the start.",
  },
  INSUFFICIENT_STORAGE: {
    summary: "The server is out of space for uploads right now.",
    hint: "Try again later; tell the person who sent you the link.",
  },
  CONNECTION_LOST: {
    summary: "The connection to the server was lost.",
    hint: "Check your network, then choose the same file again: it continues where it stopped.",
  },
};

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
