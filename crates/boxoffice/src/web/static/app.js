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

// The door: where the browser reads QR codes (BarcodeDetector), the camera fills the
// form's `qr` field and sends it; typing the code always works.
function cameraScanner() {
  const form = document.querySelector("form[data-scanner]");
  if (!form || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  const button = form.querySelector("[data-camera]");
  const video = form.querySelector("[data-preview]");
  button.hidden = false;
  button.addEventListener("click", async () => {
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    const look = async () => {
      const codes = await detector.detect(video).catch(() => []);
      if (codes.length > 0) {
        stream.getTracks().forEach((t) => t.stop());
        form.querySelector('input[name="qr"]').value = codes[0].rawValue;
        form.submit();
        return;
      }
      requestAnimationFrame(look);
    };
    look();
  });
}

// The on-sale dashboard: figures and bars move as the sale does.
function followSales() {
  const board = document.querySelector("[data-sales-live]");
  if (!board || !("EventSource" in window)) return;
  const source = new EventSource(board.getAttribute("data-sales-live"));
  source.addEventListener("sales", (event) => {
    const report = JSON.parse(event.data);
    for (const el of board.querySelectorAll("[data-money]")) {
      const minor = report[el.getAttribute("data-money")];
      if (typeof minor !== "number") continue;
      const sign = minor < 0 ? "-" : "";
      const abs = Math.abs(minor);
      el.textContent = `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")} ${el.getAttribute("data-currency")}`;
    }
    for (const z of report.zones) {
      const row = board.querySelector(`tr[data-zone="${z.zone_id}"]`);
      if (row) {
        for (const key of ["sold", "held", "available"]) {
          const cell = row.querySelector(`[data-figure="${key}"]`);
          if (cell) cell.textContent = String(z[key]);
        }
      }
      const bars = board.querySelector(`g[data-bars="${z.zone_id}"]`);
      if (bars) {
        const cap = Math.max(1, z.capacity);
        const sold = (z.sold * 100) / cap;
        const held = (z.held * 100) / cap;
        bars.querySelector('[data-bar="sold"]').setAttribute("width", String(sold));
        const heldBar = bars.querySelector('[data-bar="held"]');
        heldBar.setAttribute("x", String(sold));
        heldBar.setAttribute("width", String(held));
      }
    }
  });
}

// A page waiting on something quick (a payment, tickets being issued) looks again by
// itself after `data-refresh` seconds; without the script it offers a link instead
// of a timed refresh, which would take the page away from a screen reader.
function refreshWhenAsked() {
  const el = document.querySelector("[data-refresh]");
  if (!el) return;
  const secs = Number(el.getAttribute("data-refresh")) || 2;
  setTimeout(() => window.location.reload(), secs * 1000);
}

// The seat map picks seats too: a click on a free seat ticks its box in the list
// below (the list stays the way for keyboards and screen readers), and a ticked box
// shows on the map.
function pickOnTheMap() {
  const map = document.querySelector("[data-seat-map] svg");
  const form = document.querySelector("form.seat-pick");
  if (!map || !form) return;
  const boxOf = (circle) => form.querySelector(`input[data-index="${circle.id.slice(1)}"]`);
  const show = (box) => {
    const circle = map.querySelector(`#s${box.getAttribute("data-index")}`);
    if (circle) circle.classList.toggle("p", box.checked);
  };
  for (const circle of map.querySelectorAll("circle.f")) {
    if (boxOf(circle)) circle.classList.add("pickable");
  }
  map.addEventListener("click", (e) => {
    const circle = e.target.closest("circle.f");
    const box = circle && boxOf(circle);
    if (!box) return;
    box.checked = !box.checked;
    show(box);
  });
  form.addEventListener("change", (e) => {
    if (e.target.matches("input[data-index]")) show(e.target);
  });
  for (const box of form.querySelectorAll("input[data-index]:checked")) show(box);
}

document.addEventListener("DOMContentLoaded", () => {
  pickOnTheMap();
  refreshWhenAsked();
  followSales();
  cameraScanner();
  startCountdowns();
  followAvailability();
  followQueue();
});
