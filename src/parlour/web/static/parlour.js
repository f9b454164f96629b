// Parlour's only script: small improvements on pages that work without it.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  if (form.hasAttribute("data-once")) {
    // A second click would send the form again; the server would still make one booking.
    for (const button of form.querySelectorAll("button[type=submit], button:not([type])")) {
      button.disabled = true;
    }
  }
});

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
      if (fresh) live.innerHTML = fresh.innerHTML;
      live.dispatchEvent(new CustomEvent("parlour:refreshed", { bubbles: true }));
    }, 150);
  };
  let opened = false;
  const source = new EventSource(live.getAttribute("data-live"));
  source.addEventListener("hello", () => { if (opened) refresh(); opened = true; });
  source.addEventListener("booking", refresh);
  source.addEventListener("resync", refresh);
}
