// The home page's live parts, and forms posted by script (logout).

import { CONSOLE_HEADER } from "./common.js";

// Logout (and any other console form posted by script, with the console header).
export function postFormsByScript() {
  document.addEventListener("submit", async (submit) => {
    const form = submit.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-console-post")) return;
    submit.preventDefault();
    try {
      await fetch(form.action, { method: "POST", headers: CONSOLE_HEADER, credentials: "same-origin" });
    } finally {
      window.location.assign("/login");
    }
  });
}

// Parts of the home page (task queues, runs) that re-read themselves every 2 s.
export function liveParts() {
  for (const box of document.querySelectorAll("[data-live][data-part]")) {
    const base = box.dataset.live || "/";
    const url = base + (base.includes("?") ? "&" : "?") + "partial=" + encodeURIComponent(box.dataset.part);
    let last = null;
    const tick = async () => {
      if (!document.hidden) {
        try {
          const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
          if (response.redirected || response.status === 401) return; // logged out: stop
          if (response.ok) {
            const html = await response.text();
            if (html !== last) box.innerHTML = html;
            last = html;
          }
        } catch (error) {
          // the server may be restarting; try again on the next tick
        }
      }
      window.setTimeout(tick, 2000);
    };
    window.setTimeout(tick, 2000);
  }
}
