// The uploader page's tus transport (spec upload.md §3): each file goes to
// /files/ with tus-js-client, the code in the Dropoff-Code header and the
// drop-off id in the `dropoff` metadata. tus-js-client remembers each upload's
// URL in localStorage, so after a reload the same file, chosen again with the
// code, continues from the server's offset (HEAD). The upload completes on the
// server with its last byte.

import { Upload } from "tus-js-client";
import type { DetailedError } from "tus-js-client";
import type { Explained } from "./client";
import { DEFAULT_CHUNK_BYTES, REFUSALS, RETRY_DELAYS_MS, contentType } from "./upload_page_common";
import type { FileUpload, Refusal, UploadJob, UploadView } from "./upload_page_common";

/** How long the discovery request may take before tus counts as not there. */
const PROBE_TIMEOUT_MS = 5_000;

/**
 * Whether a tus server answers `OPTIONS endpoint` (§3.4). A deployment that
 * routes only gRPC-web to Steward (through Envoy) answers with an error, or
 * not at all: the page then uses the chunk RPCs.
 */
export async function tusAnswers(endpoint: string): Promise<boolean> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), PROBE_TIMEOUT_MS);
  try {
    const response = await fetch(endpoint, { method: "OPTIONS", signal: controller.signal });
    return response.ok && (response.headers.has("tus-version") || response.headers.has("tus-resumable"));
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** The tus server's `ERR_…` body codes (§3.13) that the page explains. */
const TUS_REFUSALS: Record<string, Refusal> = {
  ERR_DROPOFF_CODE_INVALID: "CODE_INVALID",
  ERR_DROPOFF_CODE_REQUIRED: "CODE_REQUIRED",
  ERR_TOO_MANY_ATTEMPTS: "TOO_MANY_ATTEMPTS",
  ERR_FILE_TYPE_NOT_ALLOWED: "TYPE_NOT_ALLOWED",
  ERR_MAX_SIZE_EXCEEDED: "TOO_LARGE",
  ERR_QUOTA_EXCEEDED: "QUOTA_EXCEEDED",
  ERR_DROPOFF_CLOSED: "DROPOFF_CLOSED",
  ERR_DROPOFF_NOT_FOUND: "DROPOFF_NOT_FOUND",
  ERR_UPLOAD_GONE: "UPLOAD_GONE",
  ERR_INSUFFICIENT_STORAGE: "INSUFFICIENT_STORAGE",
};

/** The tus server's refusal (`ERR_…: message` bodies), in plain words. */
function explainTus(error: Error | DetailedError): Explained {
  const response = "originalResponse" in error ? error.originalResponse : null;
  if (!response) return REFUSALS.CONNECTION_LOST;
  const body = response.getBody() ?? "";
  const code = /^(ERR_[A-Z_]+)/.exec(body)?.[1] ?? "";
  const detail = body.replace(/^ERR_[A-Z_]+:\s*/, "").trim();
  const refusal = TUS_REFUSALS[code];
  if (refusal) return REFUSALS[refusal];
  return {
    summary: `The server refused the upload (HTTP ${response.getStatus()}${detail ? `: ${detail}` : ""}).`,
    hint: "Try again. If it keeps failing, tell the person who sent you the link.",
  };
}

/** `job` sent with tus-js-client, reporting to `view`. */
export function tusUpload(job: UploadJob, view: UploadView): FileUpload {
  const { file, dropoff, dropoffId } = job;
  const upload = new Upload(file, {
    endpoint: dropoff.tusEndpoint || `${window.location.origin}/files/`,
    headers: { "Dropoff-Code": job.code },
    metadata: { dropoff: dropoffId, filename: file.name, filetype: contentType(file) },
    chunkSize: Number(dropoff.maxChunkBytes) || DEFAULT_CHUNK_BYTES,
    retryDelays: RETRY_DELAYS_MS,
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    // Per drop-off: the same file sent to two drop-offs is two uploads.
    fingerprint: async (f: File) => ["steward", dropoffId, f.name, f.type, f.size, f.lastModified].join("/"),
    onProgress: (sent, total) => view.progress(sent, total),
    onSuccess: () => view.done("Uploaded. The server is checking and storing it."),
    onError: (error) => view.failed(explainTus(error)),
  });
  return {
    async start() {
      const previous = await upload.findPreviousUploads();
      if (previous.length > 0) {
        upload.resumeFromPreviousUpload(previous[0]);
        view.step("Continuing an earlier upload of this file…", "uploading");
      } else {
        view.step("Starting…", "uploading");
      }
      upload.start();
    },
    pause: () => upload.abort(),
    resume: () => upload.start(),
  };
}
