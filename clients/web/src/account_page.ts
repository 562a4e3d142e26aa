// "My account" (`/account`, HTML in src/web/mod.rs; spec §5.6, DSG's my-account):
// who the signed-in user is (WhoAmI), their groups and dataset access from the
// permission document (GetUserCache) with where each access comes from
// (CheckAccess's reason), the terms still to accept (AcceptTos), and their
// API tokens (ListUserTokens, CreateToken shown once, RevokeApiKey). Every
// call goes over gRPC-web with this browser's `dsg_token` sign-in cookie.

import { createClient } from "@connectrpc/connect";
import { explain, stewardTransport } from "./client";
import { byId, el, errorBox } from "./dom";
import { AuthorizationService } from "./gen/steward/authorization/v1/authorization_service_pb";
import { DatasetService } from "./gen/steward/dataset/v1/dataset_service_pb";

const transport = stewardTransport();
const auth = createClient(AuthorizationService, transport);
const datasets = createClient(DatasetService, transport);

/** `missing_tos` entries of the permission document (spec §3.2.1). */
interface MissingTos {
  dataset_id: number;
  dataset_name: string;
  tos_id: number;
  tos_name: string;
}

/** The parts of the permission document this page shows. */
interface UserCache {
  groups: string[];
  permissions_v2: Record<string, string[]>;
  missing_tos: MissingTos[];
  datasets_admin: string[];
}

/** A row of ListUserTokens (never the token itself). */
interface TokenInfo {
  id: number;
  description: string;
  created: string;
  last_used: string | null;
  expires_at: string | null;
  kind: string;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** The JSON of a compat RPC's HttpBody answer. */
function json<T>(body: { data: Uint8Array }): T {
  return JSON.parse(decoder.decode(body.data)) as T;
}

function jsonBody(value: unknown): { body: { contentType: string; data: Uint8Array } } {
  return { body: { contentType: "application/json", data: encoder.encode(JSON.stringify(value)) } };
}

const status = byId<HTMLElement>("account-status");

function showError(where: HTMLElement, error: unknown): void {
  where.replaceChildren(errorBox(explain(error)));
}

async function loadProfile(): Promise<void> {
  const me = await auth.whoAmI({});
  const list = byId<HTMLElement>("profile");
  const rows: [string, string, string][] = [
    ["E-mail", me.email, "email"],
    ["Name", me.name, "name"],
  ];
  if (me.admin) rows.push(["Role", "global admin", "admin"]);
  list.replaceChildren();
  for (const [name, value, field] of rows) {
    const dd = el("dd", value);
    dd.dataset.field = field;
    list.append(el("dt", name), dd);
  }
}

/** What CheckAccess's reason says about where access comes from. */
const SOURCES: Record<string, string> = {
  admin: "global admin",
  dataset_admin: "direct grant (dataset admin)",
  direct_grant: "direct grant",
  group_permission: "group",
  public: "public",
  tos_required: "waiting for accepted terms",
};

async function sourceOf(dataset: string): Promise<string> {
  try {
    const answer = json<{ reason: string }>(await auth.checkAccess(jsonBody({ dataset, permission: "view" })));
    return SOURCES[answer.reason] ?? answer.reason;
  } catch {
    return "unknown";
  }
}

async function loadAccess(): Promise<void> {
  const cache = json<UserCache>(await auth.getUserCache({}));
  const groups = byId<HTMLElement>("groups");
  if (cache.groups.length === 0) {
    groups.replaceChildren(el("p", "You are in no group.", "muted"));
  } else {
    const list = el("ul", "", "plain");
    list.id = "group-list";
    for (const g of cache.groups) list.append(el("li", g));
    groups.replaceChildren(list);
  }

  // Datasets usable now, then those waiting for accepted terms (not in permissions_v2).
  const names = [...new Set([...Object.keys(cache.permissions_v2), ...cache.missing_tos.map((m) => m.dataset_name)])];
  const access = byId<HTMLElement>("access");
  if (names.length === 0) {
    access.replaceChildren(el("p", "You have access to no dataset yet.", "muted"));
  } else {
    const sources = await Promise.all(names.map(sourceOf));
    const table = document.createElement("table");
    table.id = "access-table";
    const head = document.createElement("tr");
    for (const h of ["Dataset", "Levels", "From"]) head.append(el("th", h));
    table.append(head);
    names.forEach((name, i) => {
      const row = document.createElement("tr");
      row.dataset.dataset = name;
      const usable = cache.permissions_v2[name];
      const levelText = usable ? usable.join(", ") : "none until the terms are accepted";
      const from = el("td", sources[i]);
      from.dataset.field = "source";
      row.append(el("td", name), el("td", levelText), from);
      table.append(row);
    });
    access.replaceChildren(table);
  }

  const missing = byId<HTMLElement>("missing-tos");
  if (cache.missing_tos.length === 0) {
    missing.replaceChildren(el("p", "Nothing to accept.", "muted"));
    return;
  }
  const list = el("ul", "", "plain");
  list.id = "missing-list";
  for (const m of cache.missing_tos) {
    const item = el("li", `${m.tos_name} (dataset ${m.dataset_name}) `);
    item.dataset.tosId = `${m.tos_id}`;
    const button = el("button", "Accept") as HTMLButtonElement;
    button.type = "button";
    button.setAttribute("aria-label", `Accept ${m.tos_name} for ${m.dataset_name}`);
    button.addEventListener("click", () => void accept(m, button));
    item.append(button);
    list.append(item);
  }
  missing.replaceChildren(list);
}

async function accept(m: MissingTos, button: HTMLButtonElement): Promise<void> {
  const result = byId<HTMLElement>("tos-result");
  button.disabled = true;
  try {
    await datasets.acceptTos({ document: { case: "id", value: BigInt(m.tos_id) } });
    result.replaceChildren(el("p", `Accepted “${m.tos_name}” for ${m.dataset_name}.`, "ok"));
    await loadAccess();
  } catch (error) {
    button.disabled = false;
    showError(result, error);
  }
}

async function loadTokens(): Promise<void> {
  const tokens = json<TokenInfo[]>(await auth.listUserTokens({}));
  const box = byId<HTMLElement>("tokens");
  const table = document.createElement("table");
  table.id = "token-table";
  const head = document.createElement("tr");
  for (const h of ["Description", "Kind", "Created", "Last used", ""]) head.append(el("th", h));
  table.append(head);
  for (const t of tokens) {
    const row = document.createElement("tr");
    row.dataset.tokenId = `${t.id}`;
    const cell = document.createElement("td");
    if (t.kind === "api" || t.kind === "long_lived") {
      const button = el("button", "Revoke") as HTMLButtonElement;
      button.type = "button";
      button.setAttribute("aria-label", `Revoke token “${t.description}”`);
      button.addEventListener("click", () => void revoke(t, button));
      cell.append(button);
    } else {
      cell.append(el("span", "signs out with its browser", "muted"));
    }
    const kind = t.kind === "login" ? "browser sign-in" : t.kind.replace("_", "-");
    const when = (v: string | null) => (v ? new Date(v).toLocaleString() : "never");
    row.append(el("td", t.description), el("td", kind), el("td", when(t.created)), el("td", when(t.last_used)), cell);
    table.append(row);
  }
  box.replaceChildren(table);
}

async function revoke(t: TokenInfo, button: HTMLButtonElement): Promise<void> {
  if (!window.confirm(`Revoke the token “${t.description}”? Scripts using it stop working.`)) return;
  button.disabled = true;
  try {
    await auth.revokeApiKey({ id: BigInt(t.id) });
    await loadTokens();
  } catch (error) {
    button.disabled = false;
    showError(byId<HTMLElement>("new-token"), error);
  }
}

function setUpTokenForm(): void {
  const form = byId<HTMLFormElement>("token-form");
  const result = byId<HTMLElement>("new-token");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void create();
  });

  async function create(): Promise<void> {
    const description = byId<HTMLInputElement>("token-description").value.trim();
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    try {
      const token = json<string>(await auth.createToken(jsonBody({ description })));
      const value = document.createElement("input");
      value.id = "new-token-value";
      value.readOnly = true;
      value.value = token;
      value.setAttribute("aria-label", "The new token");
      const copy = el("button", "Copy") as HTMLButtonElement;
      copy.type = "button";
      copy.id = "copy-token";
      const copied = el("span", "", "ok");
      copied.setAttribute("aria-live", "polite");
      copy.addEventListener("click", () => {
        value.select();
        navigator.clipboard.writeText(token).then(
          () => (copied.textContent = " Copied."),
          () => (copied.textContent = " Select the token and copy it by hand."),
        );
      });
      result.replaceChildren(
        el("p", `Created “${description}”.`, "ok"),
        value,
        copy,
        copied,
        el("p", "This token is shown only now: copy it before you leave this page.", "notice"),
      );
      form.reset();
      await loadTokens();
    } catch (error) {
      showError(result, error);
    } finally {
      if (button) button.disabled = false;
    }
  }
}

async function main(): Promise<void> {
  setUpTokenForm();
  try {
    await loadProfile();
    await Promise.all([loadAccess(), loadTokens()]);
    status.replaceChildren();
  } catch (error) {
    showError(status, error);
  }
}

void main();
