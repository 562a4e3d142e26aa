// Shared by every Steward browser page: the gRPC-web transport to the server
// that served the page, and error messages a person can act on.

import { Code, ConnectError } from "@connectrpc/connect";
import type { Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

/** How long a call may take before the page says the server did not answer. */
export const CALL_TIMEOUT_MS = 10_000;

/**
 * gRPC-web to `baseUrl` (default: the page's own origin, so no CORS applies).
 * Credentials are included so a `dsg_token` sign-in cookie reaches Steward;
 * an `authorization` header, when a call sets one, takes precedence over it.
 */
export function stewardTransport(baseUrl: string = window.location.origin): Transport {
  return createGrpcWebTransport({
    baseUrl,
    defaultTimeoutMs: CALL_TIMEOUT_MS,
    fetch: (input, init) => fetch(input, { ...init, credentials: "include" }),
  });
}

/** The canonical gRPC name of a code, as servers and docs spell it (UNAUTHENTICATED). */
export function codeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** A failed call, explained: a short summary (with the gRPC code) and what to try. */
export interface Explained {
  summary: string;
  hint: string;
}

/** Turns any error thrown by a call into a message for the person at the page. */
export function explain(error: unknown, server: string = window.location.origin): Explained {
  const e = ConnectError.from(error);
  // fetch() rejects with a TypeError when no HTTP response arrived at all.
  if (e.cause instanceof TypeError) {
    return {
      summary: `Cannot reach Steward at ${server} (UNAVAILABLE).`,
      hint: "The server did not answer: check that it is running and that this computer can reach it.",
    };
  }
  const detail = e.rawMessage ? `: ${e.rawMessage}` : "";
  const summary = `${codeName(e.code)}${detail}`;
  switch (e.code) {
    case Code.Unauthenticated:
      return {
        summary,
        hint: "The server did not accept this credential. Check that you pasted the whole token (64 hexadecimal characters) and that it has not expired or been revoked.",
      };
    case Code.PermissionDenied:
      return { summary, hint: "You are signed in, but not allowed to do this." };
    case Code.Unavailable:
      return { summary, hint: `Steward at ${server} cannot serve right now. Try again in a moment.` };
    case Code.DeadlineExceeded:
      return {
        summary,
        hint: `Steward at ${server} did not answer within ${CALL_TIMEOUT_MS / 1000} s. Try again in a moment.`,
      };
    default:
      return { summary, hint: "The request failed. If it keeps failing, tell the server's operators." };
  }
}
