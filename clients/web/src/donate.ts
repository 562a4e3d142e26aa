// Progressive enhancement of the participant's status page (/donate/, spec
// donation.md §3.3): the page works without JavaScript ("Refresh status");
// with it, the progress list follows WatchMyDonation over gRPC-web, and copy
// buttons copy the participant link.
//
// The page renders `<section id="progress" data-donation-id="…">` with one
// `[data-type="<name>"]` element per data type holding a `.state` text. The
// watch sends the donation at once, then on every change, a heartbeat (no
// donation) every 25 s, and ends after 10 minutes; this script reconnects
// with backoff until the donation leaves processing, then reloads the page
// so its next step shows. Changes go to a polite live region at most once
// every 10 s, so screen readers are not flooded.

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { stewardTransport } from "./client";
import {
  DataTypeState,
  DonationSource,
  DonationStatus,
} from "./gen/steward/donation/v1/donation_pb";
import type { DataTypeStatus, Donation } from "./gen/steward/donation/v1/donation_pb";
import { DonationService } from "./gen/steward/donation/v1/donation_service_pb";

/** Least time between two announcements. */
const ANNOUNCE_EVERY_MS = 10_000;
/** A watch lasts 10 minutes on the server; allow it a little longer here. */
const WATCH_TIMEOUT_MS = 11 * 60_000;
/** Reconnect backoff after a failed or ended watch. */
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 60_000;

document.documentElement.classList.add("js");
setUpCopyButtons();

const section = document.querySelector<HTMLElement>("section#progress[data-donation-id]");
if (section) {
  void follow(section);
}

/** Copies the text of the input named by a button's `data-copy`. */
function setUpCopyButtons(): void {
  for (const button of document.querySelectorAll<HTMLButtonElement>("button[data-copy]")) {
    button.addEventListener("click", () => {
      const input = document.getElementById(button.dataset.copy ?? "") as HTMLInputElement | null;
      if (!input) {
        return;
      }
      const label = button.textContent ?? "";
      const done = (text: string): void => {
        button.textContent = text;
        setTimeout(() => (button.textContent = label), 3_000);
      };
      navigator.clipboard.writeText(input.value).then(
        () => done("Copied"),
        () => {
          // No clipboard permission: select the text so it can be copied by hand.
          input.select();
          done("Press Ctrl+C or ⌘C to copy");
        },
      );
    });
  }
}

/** Words for a type's state, as the server renders them (view.rs). */
function stateText(provider: string, status: DataTypeStatus): string {
  switch (status.state) {
    case DataTypeState.REQUESTED:
    case DataTypeState.EXPORTING:
      return `waiting for ${provider}`;
    case DataTypeState.DOWNLOADING:
      return "downloading";
    case DataTypeState.PARSING:
      return "checking";
    case DataTypeState.AVAILABLE: {
      const rows = Number(status.rows);
      return `ready (${rows.toLocaleString("en-GB")} ${rows === 1 ? "item" : "items"} kept)`;
    }
    case DataTypeState.DECLINED:
      return "you chose not to share this";
    case DataTypeState.FAILED:
      return "could not be collected";
    default:
      return "waiting";
  }
}

/** A polite live region, visually hidden, that says what changed. */
function announcer(host: HTMLElement): (text: string) => void {
  // The section's own live region would read every update at once.
  host.setAttribute("aria-live", "off");
  const region = document.createElement("p");
  region.setAttribute("role", "status");
  region.setAttribute("aria-live", "polite");
  Object.assign(region.style, {
    position: "absolute",
    width: "1px",
    height: "1px",
    overflow: "hidden",
    clip: "rect(0 0 0 0)",
    whiteSpace: "nowrap",
  });
  host.append(region);
  let last = 0;
  let pending: string | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const say = (): void => {
    timer = undefined;
    if (pending !== undefined) {
      region.textContent = pending;
      pending = undefined;
      last = Date.now();
    }
  };
  return (text: string) => {
    pending = text;
    const wait = last + ANNOUNCE_EVERY_MS - Date.now();
    if (wait <= 0) {
      say();
    } else if (timer === undefined) {
      timer = setTimeout(say, wait);
    }
  };
}

/** Updates the list from `donation`; returns what changed, in words. */
function render(host: HTMLElement, donation: Donation): string[] {
  const provider = donation.source === DonationSource.TIKTOK_PORTABILITY ? "TikTok" : "Google";
  const changed: string[] = [];
  for (const [name, status] of Object.entries(donation.dataTypes)) {
    const item = host.querySelector<HTMLElement>(`[data-type="${CSS.escape(name)}"]`);
    const state = item?.querySelector<HTMLElement>(".state");
    if (!item || !state) {
      continue;
    }
    const text = stateText(provider, status);
    item.dataset.state = DataTypeState[status.state]?.toLowerCase() ?? "";
    if (state.textContent !== text) {
      state.textContent = text;
      const label = item.querySelector(".type")?.textContent ?? name;
      changed.push(`${label}: ${text}`);
    }
  }
  return changed;
}

/** Still being collected: authorized or processing. */
function inProgress(donation: Donation): boolean {
  return donation.status === DonationStatus.AUTHORIZED || donation.status === DonationStatus.PROCESSING;
}

async function follow(host: HTMLElement): Promise<void> {
  const donationId = BigInt(host.dataset.donationId ?? "0");
  const client = createClient(DonationService, stewardTransport());
  const announce = announcer(host);
  let retry = RETRY_MIN_MS;
  let seenInProgress = false;
  for (;;) {
    try {
      const stream = client.watchMyDonation({ donationId }, { timeoutMs: WATCH_TIMEOUT_MS });
      for await (const message of stream) {
        retry = RETRY_MIN_MS;
        const donation = message.donation;
        if (!donation) {
          continue; // heartbeat
        }
        const changed = render(host, donation);
        if (changed.length > 0) {
          announce(changed.join(". "));
        }
        if (inProgress(donation)) {
          seenInProgress = true;
        } else if (seenInProgress) {
          // Done, failed or back to sign-in: the page's next step changed.
          announce("Your donation has a new status. The page is updating.");
          setTimeout(() => window.location.reload(), 1_500);
          return;
        }
      }
    } catch (error) {
      const code = ConnectError.from(error).code;
      if (code === Code.NotFound || code === Code.Unauthenticated) {
        // Deleted, or the visit ended: the "Refresh status" link explains.
        return;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, retry));
    retry = Math.min(retry * 2, RETRY_MAX_MS);
  }
}
