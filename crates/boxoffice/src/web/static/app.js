// Progressive enhancement of the server-rendered pages: everything works without it.
"use strict";

// A hold's countdown: `<time class="countdown" datetime="…">` shows minutes:seconds
// left, and the page reloads once the deadline passes so it shows what happened.
function startCountdowns() {
  for (const el of document.querySelectorAll("time.countdown")) {
    const deadline = Date.parse(el.getAttribute("datetime"));
    if (Number.isNaN(deadline)) continue;
    const tick = () => {
      const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      const m = Math.floor(left / 60);
      const s = String(left % 60).padStart(2, "0");
      el.textContent = `${m}:${s}`;
      el.classList.toggle("urgent", left <= 60);
      if (left === 0) {
        clearInterval(timer);
        el.textContent = "time is up";
        setTimeout(() => window.location.reload(), 1500);
      }
    };
    const timer = setInterval(tick, 1000);
    tick();
  }
}

// Live availability: the event page subscribes to its Server-Sent Events and
// updates each zone's count as tickets are held, sold or released.
function followAvailability() {
  const page = document.querySelector("[data-live]");
  if (!page || !("EventSource" in window)) return;
  const source = new EventSource(page.getAttribute("data-live"));
  source.addEventListener("availability", (event) => {
    const counts = JSON.parse(event.data);
    for (const [zone, available] of Object.entries(counts)) {
      const el = document.querySelector(`[data-zone-available="${zone}"]`);
      if (el) el.textContent = String(available);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  startCountdowns();
  followAvailability();
});
