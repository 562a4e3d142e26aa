// What the console pages (donations, datasets, audit log) share: tables that
// scroll sideways on a phone instead of the page, definition lists, times,
// errors in words, and forms whose submit calls the server.

import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { explain } from "./client";
import { el, errorBox } from "./dom";

/** A time in the reader's locale, or a dash. */
export function when(time: Timestamp | undefined): string {
  return time ? timestampDate(time).toLocaleString() : "—";
}

/** Replaces `where`'s content with what went wrong and what to try. */
export function showError(where: HTMLElement, error: unknown): void {
  where.replaceChildren(errorBox(explain(error)));
}

/**
 * A table with a header row (`cells` gives each row's cells) in a region that
 * scrolls sideways on a narrow screen, so the page itself never does.
 */
export function table<T>(
  id: string,
  label: string,
  headers: string[],
  items: T[],
  cells: (item: T, row: HTMLTableRowElement) => Node[],
): HTMLElement {
  const t = document.createElement("table");
  t.id = id;
  const head = document.createElement("tr");
  for (const h of headers) head.append(el("th", h));
  t.append(head);
  for (const item of items) {
    const row = document.createElement("tr");
    row.append(...cells(item, row));
    t.append(row);
  }
  const region = el("div", "", "scroll");
  region.tabIndex = 0;
  region.setAttribute("role", "region");
  region.setAttribute("aria-label", label);
  region.append(t);
  return region;
}

/** A table cell with its text, a `data-field` for tests and scripts, and a class. */
export function cell(text: string, field?: string, className?: string): HTMLTableCellElement {
  const td = el("td", text, className) as HTMLTableCellElement;
  if (field) td.dataset.field = field;
  return td;
}

/** A cell holding `nodes` (links, buttons). */
export function nodeCell(...nodes: Node[]): HTMLTableCellElement {
  const td = document.createElement("td");
  td.append(...nodes);
  return td;
}

/** A definition list of (label, value, data-field) rows. */
export function details(id: string, rows: [string, string, string][]): HTMLElement {
  const list = document.createElement("dl");
  list.className = "identity";
  list.id = id;
  for (const [name, value, field] of rows) {
    const dd = el("dd", value);
    dd.dataset.field = field;
    list.append(el("dt", name), dd);
  }
  return list;
}

/** A button that runs `action` (disabled while it runs; errors shown in `result`). */
export function actionButton(text: string, result: HTMLElement, action: () => Promise<void>, className?: string): HTMLButtonElement {
  const button = el("button", text, className) as HTMLButtonElement;
  button.type = "button";
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      showError(result, error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/**
 * Calls `action` with the form's values on submit; its result (or what went
 * wrong) goes to `result`. The form is reset after a success.
 */
export function onSubmit(form: HTMLFormElement, result: HTMLElement, action: (values: FormData) => Promise<Node | void>): void {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector<HTMLButtonElement>('button[type="submit"]');
    if (button) button.disabled = true;
    result.replaceChildren(el("p", "Asking the server…", "muted"));
    try {
      const shown = await action(new FormData(form));
      result.replaceChildren(...(shown ? [shown] : []));
      form.reset();
    } catch (error) {
      showError(result, error);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

/** A form field's trimmed text ("" when absent). */
export function text(values: FormData, name: string): string {
  const value = values.get(name);
  return typeof value === "string" ? value.trim() : "";
}
