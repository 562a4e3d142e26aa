// The "API status" page (/status, HTML in src/web/mod.rs): the server's health
// from grpc.health.v1.Health/Check, and WhoAmI for a pasted token, both over
// gRPC-web. Errors are shown on the page, never only in the console.

import { createClient } from "@connectrpc/connect";
import { explain, stewardTransport } from "./client";
import { byId, el, errorBox } from "./dom";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "./gen/grpc/health/v1/health_pb";
import { AuthorizationService } from "./gen/steward/authorization/v1/authorization_service_pb";
import type { WhoAmIResponse } from "./gen/steward/authorization/v1/authorization_service_pb";

/** How often the health check repeats while the page is visible. */
const HEALTH_INTERVAL_MS = 15_000;

const transport = stewardTransport();
const health = createClient(Health, transport);
const authorization = createClient(AuthorizationService, transport);

// --- health -----------------------------------------------------------------

const healthState = byId<HTMLElement>("health-state");
const healthDetail = byId<HTMLElement>("health-detail");
const healthButton = byId<HTMLButtonElement>("health-refresh");

const HEALTH_MEANING: Record<ServingStatus, string> = {
  [ServingStatus.SERVING]: "The server and its database are ready.",
  [ServingStatus.NOT_SERVING]:
    "The server is up, but its database is not reachable or not migrated yet.",
  [ServingStatus.UNKNOWN]: "The server does not know its own state.",
  [ServingStatus.SERVICE_UNKNOWN]: "The server does not know this service.",
};

let healthInFlight = false;

async function checkHealth(): Promise<void> {
  if (healthInFlight) {
    return;
  }
  healthInFlight = true;
  healthButton.disabled = true;
  healthState.dataset.state = "checking";
  healthState.textContent = "Checking…";
  healthDetail.replaceChildren();
  try {
    const reply = await health.check({ service: "" });
    const name = ServingStatus[reply.status] ?? `status ${reply.status}`;
    healthState.dataset.state = reply.status === ServingStatus.SERVING ? "ok" : "bad";
    healthState.textContent = name;
    healthDetail.append(
      el("p", HEALTH_MEANING[reply.status] ?? ""),
      el("p", `Checked at ${new Date().toLocaleTimeString()}.`, "muted"),
    );
  } catch (error) {
    healthState.dataset.state = "bad";
    healthState.textContent = "Unreachable";
    healthDetail.append(errorBox(explain(error)));
  } finally {
    healthInFlight = false;
    healthButton.disabled = false;
  }
}

healthButton.addEventListener("click", () => void checkHealth());
window.setInterval(() => {
  if (document.visibilityState === "visible") {
    void checkHealth();
  }
}, HEALTH_INTERVAL_MS);
void checkHealth();

// --- who am I ----------------------------------------------------------------

const form = byId<HTMLFormElement>("whoami-form");
const tokenInput = byId<HTMLInputElement>("token");
const result = byId<HTMLElement>("whoami-result");

/** The token as pasted, without surrounding space or a copied `Bearer `/`Token ` prefix. */
function cleanToken(raw: string): string {
  return raw.trim().replace(/^(bearer|token)\s+/i, "");
}

function identity(me: WhoAmIResponse): HTMLElement {
  const rows: [string, string][] = [
    ["Email", me.email],
    ["Name", me.name || "(none)"],
    ["Roles", me.roles.length ? me.roles.join(", ") : "(none)"],
    ["Administrator", me.admin ? "yes" : "no"],
    ["Groups", me.groups.length ? me.groups.join(", ") : "(none)"],
    ["Account", me.serviceAccount ? "service account" : "person"],
  ];
  const list = document.createElement("dl");
  list.className = "identity";
  for (const [term, value] of rows) {
    const key = term.toLowerCase();
    const dd = el("dd", value);
    dd.dataset.field = key;
    list.append(el("dt", term), dd);
  }
  return list;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  void whoAmI();
});

async function whoAmI(): Promise<void> {
  const token = cleanToken(tokenInput.value);
  // A header value must be printable ASCII; fetch() would throw on anything else.
  if (token && !/^[\x21-\x7e]+$/.test(token)) {
    result.replaceChildren(
      errorBox({
        summary: "That is not a token: it contains spaces or other characters.",
        hint: "A token is 64 hexadecimal characters, as printed by `steward token create`.",
      }),
    );
    return;
  }
  const button = form.querySelector("button");
  if (button) button.disabled = true;
  result.replaceChildren(el("p", "Asking the server…", "muted"));
  try {
    // Without a token, the browser's dsg_token sign-in cookie (if any) is the credential.
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    const me = await authorization.whoAmI({}, { headers });
    result.replaceChildren(el("p", "Signed in as:", "ok"), identity(me));
  } catch (error) {
    result.replaceChildren(errorBox(explain(error)));
  } finally {
    if (button) button.disabled = false;
  }
}
