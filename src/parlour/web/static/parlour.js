// Parlour's only script: small improvements on pages that work without it. No inline script or
// style anywhere, so a strict Content-Security-Policy (script-src 'self') holds.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question) {
    if (!window.confirm(question)) {
      event.preventDefault();
      return;
    }
    // Asked here already: the server need not show its own confirmation step.
    if (!form.querySelector("input[name=confirmed]")) {
      const confirmed = document.createElement("input");
      confirmed.type = "hidden";
      confirmed.name = "confirmed";
      confirmed.value = "yes";
      form.appendChild(confirmed);
    }
  }
  if (form.hasAttribute("data-once")) {
    // A second click would send the form again; the server would still make one booking.
    for (const button of form.querySelectorAll("button[type=submit], button:not([type])")) {
      button.disabled = true;
    }
  }
});

// The staff menu (a <details>) closes on a click elsewhere or Escape, as menus do.
const menus = document.querySelectorAll("details.more");
document.addEventListener("click", (event) => {
  for (const menu of menus) {
    if (menu.open && !menu.contains(event.target)) menu.open = false;
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const menu of menus) {
    if (menu.open) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  }
});

// A week on a phone opens at the day asked for, not at Monday.
const grid = document.querySelector(".timegrid");
const chosen = grid && grid.querySelector(".lane.chosen");
if (chosen && grid.scrollWidth > grid.clientWidth) {
  const times = grid.querySelector(".times").offsetWidth;
  grid.scrollLeft += chosen.getBoundingClientRect().left - grid.getBoundingClientRect().left - times;
}

// Staff desk: re-read the live part of the page whenever a booking changes anywhere, and after
// every reconnection (events sent while disconnected are not replayed, so trust nothing).
const live = document.querySelector("[data-live]");
if (live && "EventSource" in window) {
  let pending = null;
  const refresh = () => {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const response = await fetch(window.location.href, { headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.querySelector("[data-live]");
      if (!fresh) return;
      // The calendar scrolls sideways on a phone: keep the lane the reader is looking at.
      const scrolled = new Map();
      for (const element of live.querySelectorAll("[data-keep-scroll][id]")) {
        scrolled.set(element.id, element.scrollLeft);
      }
      live.innerHTML = fresh.innerHTML;
      for (const [id, left] of scrolled) {
        const element = document.getElementById(id);
        if (element) element.scrollLeft = left;
      }
      live.dispatchEvent(new CustomEvent("parlour:refreshed", { bubbles: true }));
    }, 150);
  };
  let opened = false;
  const source = new EventSource(live.getAttribute("data-live"));
  source.addEventListener("hello", () => { if (opened) refresh(); opened = true; });
  source.addEventListener("booking", refresh);
  source.addEventListener("resync", refresh);
}
