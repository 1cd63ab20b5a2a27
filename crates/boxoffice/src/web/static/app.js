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

// The waiting room: the place moves as the queue pushes it; admitted (or out), the
// page reloads to show what to do next.
function followQueue() {
  const place = document.querySelector("[data-queue-live]");
  if (!place || !("EventSource" in window)) return;
  const source = new EventSource(place.getAttribute("data-queue-live"));
  source.addEventListener("position", (event) => {
    const view = JSON.parse(event.data);
    for (const key of ["position", "ahead", "waiting"]) {
      const el = place.querySelector(`[data-place="${key}"]`);
      if (el && view[key] !== null && view[key] !== undefined) el.textContent = String(view[key]);
    }
    const eta = place.querySelector('[data-place="estimated_wait_secs"]');
    if (eta && typeof view.estimated_wait_secs === "number") {
      eta.textContent = `${Math.ceil(view.estimated_wait_secs / 60)} min`;
    }
  });
  for (const end of ["admitted", "lost", "left"]) {
    source.addEventListener(end, () => {
      source.close();
      window.location.reload();
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  startCountdowns();
  followAvailability();
  followQueue();
});
