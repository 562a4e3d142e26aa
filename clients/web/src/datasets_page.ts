// The dataset console (HTML in src/web/datasets.rs; spec
// authorization_dataset.md §2, §3): `/datasets` creates a dataset and lists
// those the caller sees; `/datasets/{name}` manages one dataset's versions,
// buckets, grants, admins and terms of service; `/groups` creates, renames and
// deletes groups and manages their members; `/service-accounts` creates
// service accounts and their tokens (shown once); `/audit` reads the audit log
// with filters. Calls go over gRPC-web with the browser's sign-in cookie; the
// server applies the authorization rules and the page shows its refusals.

import { createClient } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { stewardTransport } from "./client";
import { actionButton, cell, details, nodeCell, onSubmit, showError, table, text, when } from "./console";
import { byId, el } from "./dom";
import { AccessLevel, AccessMode, DatasetService, GrantSource } from "./gen/steward/dataset/v1/dataset_service_pb";
import type { AuditEntry, Grant, Group, ServiceAccount } from "./gen/steward/dataset/v1/dataset_service_pb";

const client = createClient(DatasetService, stewardTransport());

const lower = (names: Record<number, string>, value: number) => (names[value] ?? "UNSPECIFIED").toLowerCase();

function datasetLink(name: string): HTMLAnchorElement {
  const link = el("a", name) as HTMLAnchorElement;
  link.href = `/datasets/${encodeURIComponent(name)}`;
  return link;
}

// --- /datasets --------------------------------------------------------------------

async function setUpListPage(): Promise<void> {
  const status = byId<HTMLElement>("page-status");
  onSubmit(byId<HTMLFormElement>("dataset-form"), byId("dataset-result"), async (values) => {
    const { dataset } = await client.createDataset({
      name: text(values, "name"),
      description: text(values, "description"),
      accessMode: Number(text(values, "access-mode")) as AccessMode,
      requestId: crypto.randomUUID(),
    });
    await showDatasets();
    const done = el("p", "Created ", "ok");
    done.append(datasetLink(dataset?.name ?? ""), document.createTextNode("."));
    return done;
  });
  try {
    await showDatasets();
    status.replaceChildren();
  } catch (error) {
    showError(status, error);
  }
}

async function showDatasets(): Promise<void> {
  const all = [];
  let pageToken = "";
  do {
    const page = await client.listDatasets({ pageSize: 1000, pageToken });
    all.push(...page.datasets);
    pageToken = page.nextPageToken;
  } while (pageToken);
  const box = byId<HTMLElement>("dataset-list");
  if (all.length === 0) {
    box.replaceChildren(el("p", "You see no dataset yet.", "muted"));
    return;
  }
  box.replaceChildren(
    table("datasets-table", "Datasets", ["Dataset", "Access", "Buckets", "Description", "Created"], all, (d, row) => {
      row.dataset.dataset = d.name;
      return [
        nodeCell(datasetLink(d.name)),
        cell(lower(AccessMode, d.accessMode), "access"),
        cell(d.buckets.join(", ") || "—", "buckets"),
        cell(d.description || "—"),
        cell(when(d.createTime)),
      ];
    }),
  );
}

// --- /datasets/{name} ---------------------------------------------------------------

async function setUpDatasetPage(name: string): Promise<void> {
  const status = byId<HTMLElement>("page-status");
  byId<HTMLElement>("dataset-title").textContent = `Dataset ${name}`;
  wireForms(name);
  try {
    await showSummary(name);
    await Promise.all([
      showVersions(name),
      showGrants(name),
      showAdmins(name),
      showTerms(name),
    ]);
    status.replaceChildren();
  } catch (error) {
    showError(status, error);
  }
}

function wireForms(name: string): void {
  onSubmit(byId<HTMLFormElement>("version-form"), byId("version-result"), async (values) => {
    await client.createDatasetVersion({
      dataset: name,
      version: text(values, "version"),
      prefix: text(values, "prefix"),
      isPublic: values.get("is-public") === "on",
      buckets: list(text(values, "buckets")),
      requestId: crypto.randomUUID(),
    });
    await showVersions(name);
  });
  onSubmit(byId<HTMLFormElement>("bucket-form"), byId("bucket-result"), async (values) => {
    await client.addDatasetBucket({ dataset: name, bucket: text(values, "bucket") });
    await showSummary(name);
  });
  onSubmit(byId<HTMLFormElement>("grant-form"), byId("grant-result"), async (values) => {
    const who = text(values, "grantee");
    const kind = text(values, "grantee-kind");
    const grantee =
      kind === "group"
        ? ({ case: "group", value: who } as const)
        : kind === "service-account"
          ? ({ case: "serviceAccount", value: who } as const)
          : ({ case: "userEmail", value: who } as const);
    const { created } = await client.createGrant({
      dataset: name,
      grantee,
      level: Number(text(values, "level")) as AccessLevel,
      version: text(values, "version"),
      requestId: crypto.randomUUID(),
    });
    await showGrants(name);
    return created ? undefined : el("p", "That grant existed already.", "muted");
  });
  onSubmit(byId<HTMLFormElement>("admin-form"), byId("admin-result"), async (values) => {
    await client.addDatasetAdmin({ dataset: name, userEmail: text(values, "email") });
    await Promise.all([showAdmins(name), showGrants(name)]);
  });
  onSubmit(byId<HTMLFormElement>("tos-form"), byId("tos-result"), async (values) => {
    await client.createTosDocument({
      name: text(values, "name"),
      text: String(values.get("text") ?? ""),
      dataset: name,
      version: text(values, "version"),
      requestId: crypto.randomUUID(),
    });
    await showTerms(name);
  });
}

/** "a, b c" → ["a", "b", "c"]. */
function list(value: string): string[] {
  return value.split(/[\s,]+/).filter((v) => v !== "");
}

async function showSummary(name: string): Promise<void> {
  const { dataset } = await client.getDataset({ name });
  if (!dataset) throw new Error("the server sent no dataset");
  byId<HTMLElement>("summary").replaceWith(
    details("summary", [
      ["Access", lower(AccessMode, dataset.accessMode), "access"],
      ["Description", dataset.description || "—", "description"],
      ["Created", when(dataset.createTime), "created"],
    ]),
  );
  const result = byId<HTMLElement>("bucket-result");
  const box = byId<HTMLElement>("buckets");
  if (dataset.buckets.length === 0) {
    box.replaceChildren(el("p", "No bucket yet.", "muted"));
    return;
  }
  box.replaceChildren(
    table("buckets-table", "Buckets", ["Bucket", ""], dataset.buckets, (bucket, row) => {
      row.dataset.bucket = bucket;
      const remove = actionButton(`Remove ${bucket}`, result, async () => {
        await client.removeDatasetBucket({ dataset: name, bucket });
        await showSummary(name);
      }, "secondary");
      return [cell(bucket), nodeCell(remove)];
    }),
  );
}

async function showVersions(name: string): Promise<void> {
  const { versions } = await client.listDatasetVersions({ dataset: name });
  const result = byId<HTMLElement>("version-result");
  const box = byId<HTMLElement>("versions");
  if (versions.length === 0) {
    box.replaceChildren(el("p", "No version yet.", "muted"));
    return;
  }
  box.replaceChildren(
    table("versions-table", "Versions", ["Version", "Prefix", "Public", "Buckets", ""], versions, (v, row) => {
      row.dataset.version = v.version;
      const remove = actionButton(`Delete ${v.version}`, result, async () => {
        await client.deleteDatasetVersion({ dataset: name, version: v.version });
        await showVersions(name);
      }, "secondary");
      return [
        cell(v.version),
        cell(v.prefix || "—"),
        cell(v.isPublic ? "yes" : "no", "public"),
        cell(v.buckets.join(", ") || "—", "buckets"),
        nodeCell(remove),
      ];
    }),
  );
}

function grantee(g: Grant): [string, string] {
  switch (g.grantee.case) {
    case "userEmail":
      return ["user", g.grantee.value];
    case "group":
      return ["group", g.grantee.value];
    case "serviceAccount":
      return ["service account", g.grantee.value];
    default:
      return ["—", "—"];
  }
}

async function showGrants(name: string): Promise<void> {
  const grants: Grant[] = [];
  let pageToken = "";
  do {
    const page = await client.listGrants({ dataset: name, pageSize: 1000, pageToken });
    grants.push(...page.grants);
    pageToken = page.nextPageToken;
  } while (pageToken);
  const result = byId<HTMLElement>("grant-result");
  const box = byId<HTMLElement>("grants");
  if (grants.length === 0) {
    box.replaceChildren(el("p", "No grant yet: only global admins can use this dataset.", "muted"));
    return;
  }
  box.replaceChildren(
    table("grants-table", "Grants", ["Who", "Kind", "Level", "Version", "Source", "Granted by", ""], grants, (g, row) => {
      const [kind, who] = grantee(g);
      row.dataset.grantee = who;
      row.dataset.level = lower(AccessLevel, g.level);
      const revoke = actionButton(`Revoke ${lower(AccessLevel, g.level)} of ${who}`, result, async () => {
        await client.deleteGrant({ dataset: name, grantId: g.id });
        await Promise.all([showGrants(name), showAdmins(name)]);
      }, "secondary");
      return [
        cell(who, "who"),
        cell(kind, "kind"),
        cell(lower(AccessLevel, g.level), "level"),
        cell(g.version || "every version", "version"),
        cell(g.teamGroup ? `team ${g.teamGroup}` : lower(GrantSource, g.source).replace(/_/g, " "), "source"),
        cell(g.grantedBy || "—"),
        nodeCell(revoke),
      ];
    }),
  );
}

async function showAdmins(name: string): Promise<void> {
  const { userEmails } = await client.listDatasetAdmins({ dataset: name });
  const result = byId<HTMLElement>("admin-result");
  const box = byId<HTMLElement>("admins");
  if (userEmails.length === 0) {
    box.replaceChildren(el("p", "No dataset admin: global admins manage it.", "muted"));
    return;
  }
  box.replaceChildren(
    table("admins-table", "Dataset admins", ["Admin", ""], userEmails, (email, row) => {
      row.dataset.admin = email;
      const remove = actionButton(`Remove ${email}`, result, async () => {
        await client.removeDatasetAdmin({ dataset: name, userEmail: email });
        await Promise.all([showAdmins(name), showGrants(name)]);
      }, "secondary");
      return [cell(email), nodeCell(remove)];
    }),
  );
}

async function showTerms(name: string): Promise<void> {
  const { documents } = await client.listTosDocuments({ dataset: name, pageSize: 100 });
  const box = byId<HTMLElement>("terms");
  if (documents.length === 0) {
    box.replaceChildren(el("p", "No terms: access needs no acceptance.", "muted"));
    return;
  }
  box.replaceChildren(
    table("terms-table", "Terms of service", ["Terms", "Scope", "In force", "Accepted by", "Invite link"], documents, (d, row) => {
      row.dataset.terms = d.name;
      const invite = d.inviteToken ? el("a", "invite page") : el("span", "—");
      if (invite instanceof HTMLAnchorElement) invite.href = `/web/tos/${encodeURIComponent(d.inviteToken)}/`;
      return [
        cell(d.name),
        cell(d.version ? `version ${d.version}` : "every version"),
        cell(d.isCurrent ? "yes" : "no", "current"),
        cell(`${d.acceptanceCount}`, "accepted", "number"),
        nodeCell(invite),
      ];
    }),
  );
}

// --- /groups ------------------------------------------------------------------------

async function setUpGroupsPage(): Promise<void> {
  const status = byId<HTMLElement>("page-status");
  onSubmit(byId<HTMLFormElement>("group-form"), byId("group-result"), async (values) => {
    await client.createGroup({ name: text(values, "name"), requestId: crypto.randomUUID() });
    await showGroups();
  });
  onSubmit(byId<HTMLFormElement>("member-form"), byId("member-result"), async (values) => {
    const group = byId<HTMLElement>("members").dataset.group ?? "";
    await client.addGroupMember({ group, userEmail: text(values, "email") });
    await Promise.all([showMembers(group), showGroups()]);
  });
  try {
    await showGroups();
    status.replaceChildren();
  } catch (error) {
    showError(status, error);
  }
}

async function showGroups(): Promise<void> {
  const groups: Group[] = [];
  let pageToken = "";
  do {
    const page = await client.listGroups({ pageSize: 1000, pageToken });
    groups.push(...page.groups);
    pageToken = page.nextPageToken;
  } while (pageToken);
  const result = byId<HTMLElement>("group-result");
  const box = byId<HTMLElement>("group-list");
  if (groups.length === 0) {
    box.replaceChildren(el("p", "No group yet.", "muted"));
    return;
  }
  // Only global admins may list groups, and renaming and deleting need the
  // same role, so whoever sees this table may use its buttons (the server
  // still refuses reserved groups, and callers who lost the role since).
  box.replaceChildren(
    table("groups-table", "Groups", ["Group", "Members", "Created", ""], groups, (g, row) => {
      row.dataset.group = g.name;
      const name = cell(g.name, "name");
      const members = actionButton(`Members of ${g.name}`, result, () => showMembers(g.name), "secondary");
      const rename = button(`Rename ${g.name}`, "secondary");
      rename.addEventListener("click", () => openRename(g.name, name, rename));
      const remove = button(`Delete ${g.name}`, "secondary");
      remove.addEventListener("click", () => confirmGroupDelete(g, remove));
      return [name, cell(`${g.memberCount}`, "members", "number"), cell(when(g.createTime)), nodeCell(members, rename, remove)];
    }),
  );
}

/** A button that submits nothing (its click listener does the work). */
function button(label: string, className: string): HTMLButtonElement {
  const b = el("button", label, className) as HTMLButtonElement;
  b.type = "button";
  return b;
}

/** The button labelled `label` in the table row of `group`. */
function groupRowButton(group: string, label: string): HTMLButtonElement | undefined {
  const rows = document.querySelectorAll<HTMLTableRowElement>("#groups-table tr[data-group]");
  const row = [...rows].find((r) => r.dataset.group === group);
  return [...(row?.querySelectorAll("button") ?? [])].find((b) => b.textContent === label);
}

/**
 * Puts a rename form in place of the group's name; Cancel or Escape puts the
 * name back and focus on `opener`. The server's refusal (a bad name, a name
 * taken, a reserved group, no permission) goes to the page's result region and
 * the form stays open to correct it.
 */
function openRename(group: string, nameCell: HTMLTableCellElement, opener: HTMLButtonElement): void {
  const open = nameCell.querySelector("input");
  if (open) {
    open.focus();
    return;
  }
  const form = document.createElement("form");
  form.className = "rename";
  const label = el("label", `New name for ${group}`);
  const input = document.createElement("input");
  input.name = "name";
  input.required = true;
  input.maxLength = 255;
  input.autocomplete = "off";
  input.value = group;
  label.append(input);
  const save = el("button", "Save name") as HTMLButtonElement;
  save.type = "submit";
  const cancel = button("Cancel", "secondary");
  const close = (): void => {
    nameCell.replaceChildren(group);
    opener.focus();
  };
  cancel.addEventListener("click", close);
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  onSubmit(form, byId("group-result"), async (values) => {
    const newName = text(values, "name");
    await client.updateGroup({ name: group, newName });
    const members = byId<HTMLElement>("members");
    await Promise.all([showGroups(), members.dataset.group === group ? showMembers(newName) : undefined]);
    groupRowButton(newName, `Rename ${newName}`)?.focus();
    return el("p", `Group ${group} is now called ${newName}.`, "ok");
  });
  form.append(label, save, cancel);
  nameCell.replaceChildren(form);
  input.select();
  input.focus();
}

/**
 * A second, explicit button: a deleted group, its memberships and its grants
 * cannot be brought back. Afterwards focus goes to the row that took the
 * group's place (or the one above it, or the new-group field when none is left).
 */
function confirmGroupDelete(group: Group, opener: HTMLButtonElement): void {
  const box = byId<HTMLElement>("group-confirm");
  const really = button(`Yes, delete group ${group.name}`, "danger");
  const keep = button("Keep it", "secondary");
  keep.addEventListener("click", () => {
    box.replaceChildren();
    opener.focus();
  });
  really.addEventListener("click", async () => {
    really.disabled = true;
    const rows = [...document.querySelectorAll<HTMLTableRowElement>("#groups-table tr[data-group]")];
    const index = rows.findIndex((r) => r.dataset.group === group.name);
    try {
      await client.deleteGroup({ name: group.name });
    } catch (error) {
      showError(box, error);
      opener.focus();
      return;
    }
    box.replaceChildren();
    const members = byId<HTMLElement>("members");
    if (members.dataset.group === group.name) {
      members.hidden = true;
      delete members.dataset.group;
    }
    const result = byId<HTMLElement>("group-result");
    try {
      await showGroups();
    } catch (error) {
      showError(result, error);
      return;
    }
    result.replaceChildren(el("p", `Group ${group.name} was deleted.`, "ok"));
    const left = document.querySelectorAll<HTMLTableRowElement>("#groups-table tr[data-group]");
    const next = left[Math.min(index, left.length - 1)];
    (next?.querySelector("button") ?? byId<HTMLInputElement>("group-name")).focus();
  });
  const n = group.memberCount;
  const memberships = n === 0n ? "" : n === 1n ? " its 1 membership," : ` its ${n} memberships,`;
  const warning =
    `Deleting ${group.name} also removes${memberships} the dataset grants given to the group ` +
    "and the team grants its admins made. This cannot be undone.";
  box.replaceChildren(el("p", warning), really, keep);
  really.focus();
}

async function showMembers(group: string): Promise<void> {
  const section = byId<HTMLElement>("members");
  section.dataset.group = group;
  section.hidden = false;
  byId<HTMLElement>("members-heading").textContent = `Members of ${group}`;
  const { members } = await client.listGroupMembers({ group });
  const result = byId<HTMLElement>("member-result");
  const box = byId<HTMLElement>("member-list");
  if (members.length === 0) {
    box.replaceChildren(el("p", "No member yet.", "muted"));
    return;
  }
  box.replaceChildren(
    table("members-table", `Members of ${group}`, ["Member", "Group admin", ""], members, (m, row) => {
      row.dataset.member = m.email;
      const flip = actionButton(m.isAdmin ? `${m.email} is no longer group admin` : `Make ${m.email} group admin`, result, async () => {
        await client.setGroupAdmin({ group, userEmail: m.email, isAdmin: !m.isAdmin });
        await showMembers(group);
      }, "secondary");
      const remove = actionButton(`Remove ${m.email}`, result, async () => {
        await client.removeGroupMember({ group, userEmail: m.email });
        await Promise.all([showMembers(group), showGroups()]);
      }, "secondary");
      return [cell(m.email), cell(m.isAdmin ? "yes" : "no", "admin"), nodeCell(flip, remove)];
    }),
  );
}

// --- /service-accounts ------------------------------------------------------------

async function setUpServiceAccountsPage(): Promise<void> {
  const status = byId<HTMLElement>("page-status");
  onSubmit(byId<HTMLFormElement>("sa-form"), byId("sa-result"), async (values) => {
    await client.createServiceAccount({
      name: text(values, "name"),
      description: text(values, "description"),
      requestId: crypto.randomUUID(),
    });
    await showServiceAccounts();
  });
  onSubmit(byId<HTMLFormElement>("sa-token-form"), byId("sa-token-result"), async (values) => {
    const name = byId<HTMLElement>("sa-tokens").dataset.account ?? "";
    const created = await client.createServiceAccountToken({ name, description: text(values, "description") });
    await Promise.all([showTokens(name), showServiceAccounts()]);
    return tokenOnce(created.token);
  });
  try {
    await showServiceAccounts();
    status.replaceChildren();
  } catch (error) {
    showError(status, error);
  }
}

/** A new token in a field to copy from: it is stored only as a hash and never shown again. */
function tokenOnce(token: string): HTMLElement {
  const box = el("div", "", "notice");
  box.append(el("p", "The new token, shown only now. Store it where the service reads its secrets."));
  const label = el("label", "Token") as HTMLLabelElement;
  label.htmlFor = "new-sa-token";
  const input = document.createElement("input");
  input.id = "new-sa-token";
  input.readOnly = true;
  input.value = token;
  box.append(label, input);
  return box;
}

async function showServiceAccounts(): Promise<void> {
  const accounts: ServiceAccount[] = [];
  let pageToken = "";
  do {
    const page = await client.listServiceAccounts({ pageSize: 1000, pageToken });
    accounts.push(...page.serviceAccounts);
    pageToken = page.nextPageToken;
  } while (pageToken);
  const result = byId<HTMLElement>("sa-result");
  const box = byId<HTMLElement>("sa-list");
  if (accounts.length === 0) {
    box.replaceChildren(el("p", "No service account yet.", "muted"));
    return;
  }
  box.replaceChildren(
    table("sa-table", "Service accounts", ["Name", "E-mail", "Active", "Tokens", "Grants", "Description", ""], accounts, (a, row) => {
      row.dataset.account = a.name;
      const tokens = actionButton(`Tokens of ${a.name}`, result, () => showTokens(a.name), "secondary");
      const flip = actionButton(`${a.isActive ? "Deactivate" : "Activate"} ${a.name}`, result, async () => {
        await client.setServiceAccountActive({ name: a.name, isActive: !a.isActive });
        await showServiceAccounts();
      }, "secondary");
      return [
        cell(a.name),
        cell(a.email),
        cell(a.isActive ? "yes" : "no", "active"),
        cell(`${a.tokenCount}`, "tokens", "number"),
        cell(`${a.grantCount}`, "grants", "number"),
        cell(a.description || "—"),
        nodeCell(tokens, flip),
      ];
    }),
  );
}

async function showTokens(name: string): Promise<void> {
  const section = byId<HTMLElement>("sa-tokens");
  section.dataset.account = name;
  section.hidden = false;
  byId<HTMLElement>("sa-tokens-heading").textContent = `Tokens of ${name}`;
  const { tokens } = await client.listServiceAccountTokens({ name });
  const result = byId<HTMLElement>("sa-token-result");
  const box = byId<HTMLElement>("sa-token-list");
  if (tokens.length === 0) {
    box.replaceChildren(el("p", "No token: the account cannot call Steward yet.", "muted"));
    return;
  }
  box.replaceChildren(
    table("sa-token-table", `Tokens of ${name}`, ["Description", "Created", "Last used", "Expires", ""], tokens, (t, row) => {
      row.dataset.token = String(t.id);
      const revoke = actionButton(`Revoke token ${t.id}`, result, async () => {
        await client.revokeServiceAccountToken({ name, tokenId: t.id });
        await Promise.all([showTokens(name), showServiceAccounts()]);
      }, "secondary");
      return [cell(t.description || "—", "description"), cell(when(t.createTime)), cell(when(t.lastUsedTime)), cell(when(t.expireTime)), nodeCell(revoke)];
    }),
  );
}

// --- /audit --------------------------------------------------------------------------

function setUpAuditPage(): void {
  const form = byId<HTMLFormElement>("audit-form");
  const result = byId<HTMLElement>("audit-result");
  let shown: AuditEntry[] = [];
  let next = "";

  async function load(values: FormData, pageToken: string): Promise<void> {
    const time = (field: string) => {
      const value = text(values, field);
      return value ? timestampFromDate(new Date(value)) : undefined;
    };
    const page = await client.listAuditLog({
      actor: text(values, "actor"),
      action: text(values, "action"),
      targetType: text(values, "target-type"),
      targetId: text(values, "target-id"),
      since: time("since"),
      until: time("until"),
      pageSize: 50,
      pageToken,
    });
    shown = pageToken ? [...shown, ...page.entries] : page.entries;
    next = page.nextPageToken;
    render(values);
  }

  function render(values: FormData): void {
    const box = byId<HTMLElement>("audit-list");
    if (shown.length === 0) {
      box.replaceChildren(el("p", "No entry matches.", "muted"));
      return;
    }
    const entries = table("audit-table", "Audit log", ["When", "Who", "Action", "Target", "Change"], shown, (e, row) => {
      row.dataset.action = e.action;
      return [
        cell(when(e.createTime)),
        cell(e.actor || "system", "actor"),
        cell(e.action, "action"),
        cell(`${e.targetType} ${e.targetId}`.trim(), "target"),
        cell(change(e), "change"),
      ];
    });
    const more = actionButton("Older entries", result, () => load(values, next), "secondary");
    more.id = "audit-more";
    more.hidden = !next;
    box.replaceChildren(entries, more);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = new FormData(form);
    result.replaceChildren();
    load(values, "").catch((error) => showError(result, error));
  });
  load(new FormData(form), "").catch((error) => showError(result, error));
}

/** The fields an entry changed, as `field: before → after`. */
function change(e: AuditEntry): string {
  const before = e.beforeState ?? {};
  const after = e.afterState ?? {};
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  const show = (v: unknown) => (v === undefined || v === null ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));
  return keys
    .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
    .map((k) => `${k}: ${show(before[k])} → ${show(after[k])}`)
    .join("; ");
}

// --- which page -------------------------------------------------------------------------

const path = window.location.pathname;
const one = /^\/datasets\/([^/]+)$/.exec(path);
if (one) {
  void setUpDatasetPage(decodeURIComponent(one[1]));
} else if (path === "/audit") {
  setUpAuditPage();
} else if (path === "/groups") {
  void setUpGroupsPage();
} else if (path === "/service-accounts") {
  void setUpServiceAccountsPage();
} else {
  void setUpListPage();
}
