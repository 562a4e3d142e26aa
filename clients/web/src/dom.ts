// Small DOM helpers shared by Steward's page scripts.

import type { Explained } from "./client";

/** An element the page's HTML must contain. */
export function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) {
    throw new Error(`${document.title}: element #${id} is missing`);
  }
  return element as T;
}

/** `tag` with text content and an optional class. */
export function el(tag: string, text: string, className?: string): HTMLElement {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) {
    element.className = className;
  }
  return element;
}

/** An alert with what went wrong and, below, what to try. */
export function errorBox({ summary, hint }: Explained): HTMLElement {
  const box = el("div", "", "error");
  box.setAttribute("role", "alert");
  box.append(el("p", summary, "summary"), el("p", hint));
  return box;
}

/** Sizes in bytes as people read them (1 KiB = 1024 bytes). */
export function formatBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * The page's token field `#id`. A `#token=` fragment fills it (on load and on
 * later changes) and is removed from the address bar, so the token is not
 * left in the history.
 */
export function tokenField(id: string): HTMLInputElement {
  const input = byId<HTMLInputElement>(id);
  const takeFromFragment = (): void => {
    const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const token = fragment.get("token");
    if (token !== null) {
      input.value = token;
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  };
  takeFromFragment();
  window.addEventListener("hashchange", takeFromFragment);
  return input;
}
