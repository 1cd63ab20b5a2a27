// The organizer's way through the web pages, in headless Chromium: sign in as the demo
// organizer, create an event (a refused empty title first), add a show with its first
// zone, and keep its sales dashboard open while a real sale runs against the server:
// the figures and bars must follow over Server-Sent Events without a reload. Then, on
// a phone-sized door page, check a real ticket in (valid, then already used), an
// unknown code and a ticket of another show. Along the way: an axe-core audit of every
// page (no serious or critical violation) and screenshots.
//
//   BOXOFFICE_E2E_URL=http://127.0.0.1:8080 \
//   BOXOFFICE_E2E_ORGANIZER_PASSWORD=<printed at start-up> node --test e2e/organizer.mjs
//
// The server must run with the demo data (`BOXOFFICE_DEMO_DATA=true`), which prints
// the demo accounts' random passwords once at start-up; scripts/e2e reads the
// organizer's from the server log. The sale is made through the JSON API by buyers
// registered for the run, so the server's rate limits for registering and reserving
// must allow a dozen of each from one address (scripts/e2e raises them). Optional:
//   BOXOFFICE_E2E_ORGANIZER_EMAIL  the organizer (default organizer@boxoffice.local)
//   BOXOFFICE_E2E_SCREENSHOTS      folder for organize/dashboard (desktop) and door (phone) PNGs
//   BOXOFFICE_E2E_ARTIFACTS        folder for a screenshot and the HTML of a failed step
//   CHROMIUM                       the browser (default /usr/bin/chromium)
//   BOXOFFICE_E2E_BIN, BOXOFFICE_E2E_ADMIN_EMAIL, BOXOFFICE_E2E_ADMIN_PASSWORD
//                                  the binary and an admin: a second show is then set up
//                                  on its page and sold by `boxoffice loadtest --show`
//                                  while its dashboard is watched

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  assertNoSidewaysScroll as noSidewaysScroll,
  audit as auditPage,
  launchChromium,
  watch,
} from "./lib.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));

const BASE = process.env.BOXOFFICE_E2E_URL?.replace(/\/+$/, "");
const ORGANIZER_EMAIL = process.env.BOXOFFICE_E2E_ORGANIZER_EMAIL ?? "organizer@boxoffice.local";
const ORGANIZER_PASSWORD = process.env.BOXOFFICE_E2E_ORGANIZER_PASSWORD;
const SCREENSHOTS = process.env.BOXOFFICE_E2E_SCREENSHOTS
  ? path.resolve(process.env.BOXOFFICE_E2E_SCREENSHOTS)
  : null;
const ARTIFACTS = path.resolve(process.env.BOXOFFICE_E2E_ARTIFACTS ?? path.join(here, "artifacts"));

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 740 };
/** The password of the buyers registered for the sale (scripts/e2e greps the log for it). */
const BUYER_PASSWORD = "correct horse battery";

/** The show the organizer adds: one zone of this many tickets. */
const CAPACITY = 40;
/** … at this price (12.50 EUR, as typed in the form). */
const PRICE_MINOR = 1250;
/** The sale: this many buyers hold this many tickets each, at the same time… */
const SALE_BUYERS = 10;
const SALE_QUANTITY = 2;
/** … and this many of them pay. */
const SALE_PAYERS = 4;
/** How long the open dashboard may take to show the sale. */
const LIVE_TIMEOUT_MS = 10_000;
/** The second show, sold by `boxoffice loadtest`: its capacity after the set-up… */
const LOAD_CAPACITY = 400;
/** … and the load: reserves a second for this long, spread over this many buyers. */
const LOAD_RATE = 60;
const LOAD_SECONDS = 4;
const LOAD_BUYERS = 200;
const BIN = process.env.BOXOFFICE_E2E_BIN;
const ADMIN_EMAIL = process.env.BOXOFFICE_E2E_ADMIN_EMAIL;
const ADMIN_PASSWORD = process.env.BOXOFFICE_E2E_ADMIN_PASSWORD;

/** How long a paid booking may take to get its tickets. */
const TICKETS_TIMEOUT_MS = 15_000;

if (!BASE) {
  throw new Error("BOXOFFICE_E2E_URL is not set (the base URL of a running boxoffice serve)");
}
if (!ORGANIZER_PASSWORD) {
  throw new Error(
    "BOXOFFICE_E2E_ORGANIZER_PASSWORD is not set (the demo organizer's password, printed once " +
      "when the server seeds the demo data; scripts/e2e reads it from the server log)",
  );
}

const run = Math.random().toString(36).slice(2, 8);

// What the steps learn and later steps use. A step whose prerequisite failed is
// skipped, so a failure is reported once, where it happened.
const state = {
  signedIn: false,
  /** the new event: { id, title } */
  event: null,
  /** the new show and its zone: { id, zoneId } */
  show: null,
  /** the figures the sale should leave on the dashboard */
  expected: null,
  /** a paid ticket of the new show: { code } */
  ticket: null,
  /** whether the ticket was admitted once at the door */
  checkedIn: false,
};

/** Problems the pages reported while the scenario ran, checked by the last step. */
const health = { pageErrors: [], cspViolations: [], failedResources: [] };

let browser;
let context;
let page;

before(async () => {
  browser = await launchChromium();
  context = await browser.newContext({ baseURL: BASE, viewport: DESKTOP, locale: "en-GB" });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
  page = await context.newPage();
  watch(page, health);
});

after(async () => {
  await browser?.close();
});

// ---------------------------------------------------------------------------------
// Helpers

/**
 * Runs one step; when it fails, keeps a screenshot and the HTML of the page in the
 * artifacts folder before reporting the failure. `options` are node:test's (`todo`
 * for a step that fails on a known bug).
 */
function step(name, fn, options = {}) {
  it(name, options, async (t) => {
    try {
      await fn(t);
    } catch (error) {
      // A known failure (todo) leaves no artifacts to look at every run.
      if (!options.todo) await keepArtifacts(name).catch(() => {});
      throw error;
    }
  });
}

async function keepArtifacts(name) {
  if (!page || page.isClosed()) return;
  const base = path.join(
    ARTIFACTS,
    `failed-organizer-${name.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`,
  );
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${base}.png`, fullPage: true });
  await writeFile(`${base}.html`, `<!-- ${page.url()} -->\n${await page.content()}`);
}

function requires(t, ...conditions) {
  if (conditions.some((c) => !c)) {
    t.skip("an earlier step it depends on failed");
    return false;
  }
  return true;
}

/** Opens a path and asserts a successful answer. */
async function open(pathname) {
  const response = await page.goto(pathname);
  assert.ok(response, `no response for ${pathname}`);
  assert.equal(response.status(), 200, `GET ${pathname} answered ${response.status()}`);
  return response;
}

/** Clicks something that submits a form, waits for the next page and returns its answer. */
async function submitWith(locator) {
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    locator.click(),
  ]);
  return response;
}

function pathOf(url) {
  return new URL(url).pathname;
}

/** What the page says went wrong, for a failure message. */
async function pageAlerts() {
  const alerts = await page.locator("[role=alert], .alert, .field-error").allInnerTexts();
  return alerts.length ? `; the page says: ${alerts.map((a) => a.trim()).join(" | ")}` : "";
}

/** Asserts that every named input, select or textarea exists once and has a <label>. */
async function assertLabelled(scope, names, where) {
  for (const name of names) {
    const input = scope.locator(`[name="${name}"]:is(input, select, textarea)`);
    assert.equal(await input.count(), 1, `${where}: one field named ${name}`);
    assert.ok(
      await input.evaluate((el) => el.labels.length > 0),
      `${where}: [name=${name}] has no <label>`,
    );
  }
}

/** Audits the current page with axe-core (see lib.mjs). */
async function audit(label) {
  await auditPage(page, label);
}

/** The page must not scroll sideways at its current size. */
async function assertNoSidewaysScroll(label) {
  await noSidewaysScroll(page, label);
}

/** Saves the viewport as `<file>` when BOXOFFICE_E2E_SCREENSHOTS is set. */
async function screenshot(file) {
  if (!SCREENSHOTS) return;
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, file) });
}

/**
 * A call to the JSON API from the test itself (not the browser). Answers the status
 * and the parsed body; `expect` fails the step on any other status.
 */
async function api(method, pathname, { token, body, headers = {}, expect } = {}) {
  const response = await fetch(`${BASE}/api/v1${pathname}`, {
    method,
    headers: {
      accept: "application/json",
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (expect !== undefined) {
    const wanted = [expect].flat();
    assert.ok(
      wanted.includes(response.status),
      `${method} /api/v1${pathname} answered ${response.status} (expected ${wanted.join(" or ")}): ${text.slice(0, 500)}`,
    );
  }
  return { status: response.status, json };
}

/** Registers a buyer for this run and answers its access token. */
async function registerBuyer(tag) {
  const { json } = await api("POST", "/auth/register", {
    body: {
      email: `buyer-${run}-${tag}@example.com`,
      password: BUYER_PASSWORD,
      display_name: `E2E Buyer ${tag}`,
    },
    expect: 201,
  });
  assert.ok(json?.access_token, `registering buyer ${tag} answered no access_token`);
  return json.access_token;
}

/** Holds `quantity` tickets of the new show's zone for a buyer; answers the booking. */
async function reserve(token, quantity) {
  const { json } = await api("POST", "/bookings/reserve", {
    token,
    body: { show_id: state.show.id, zone_id: state.show.zoneId, quantity },
    expect: 201,
  });
  assert.equal(json?.status, "held", `a new hold is "held", not "${json?.status}"`);
  return json;
}

/** Pays for a hold with the simulator's approving test card; answers when confirmed. */
async function pay(token, bookingId) {
  const { json } = await api("POST", `/bookings/${bookingId}/checkout`, {
    token,
    headers: { prefer: "wait=5", "idempotency-key": `e2e-${run}-pay-${bookingId}` },
    body: { payment_method: "pm_card_ok" },
    expect: [200, 202],
  });
  let status = json?.booking?.status;
  // Not settled within the wait: the booking says when it is.
  for (let i = 0; status !== "confirmed" && i < 40; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    status = (await api("GET", `/bookings/${bookingId}`, { token, expect: 200 })).json?.status;
  }
  assert.equal(status, "confirmed", `booking ${bookingId} was not confirmed after paying`);
}

/** The dashboard's figures and bars for a zone, as the page shows them now. */
async function dashboardZone(zoneId) {
  return page.evaluate((zone) => {
    const row = document.querySelector(`tr[data-zone="${zone}"]`);
    const figure = (name) => {
      const text = row?.querySelector(`[data-figure="${name}"]`)?.textContent ?? "";
      return /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
    };
    const bars = document.querySelector(`svg.bars g[data-bars="${zone}"]`);
    const bar = (name) => bars?.querySelector(`[data-bar="${name}"]`) ?? null;
    const width = (el) => (el ? Number.parseFloat(el.getAttribute("width")) : NaN);
    // The drawn width of a bar against the full (available) bar behind it.
    const full = bars?.querySelector(".bar-available")?.getBoundingClientRect().width ?? 0;
    const drawn = (el) => (el && full > 0 ? el.getBoundingClientRect().width / full : NaN);
    return {
      row: row !== null,
      bars: bars !== null,
      sold: figure("sold"),
      held: figure("held"),
      available: figure("available"),
      soldWidth: width(bar("sold")),
      heldWidth: width(bar("held")),
      heldX: bar("held") ? Number.parseFloat(bar("held").getAttribute("x")) : NaN,
      soldDrawn: drawn(bar("sold")),
      heldDrawn: drawn(bar("held")),
    };
  }, zoneId);
}

/** Whether the dashboard shows `want` ({sold, held, available}) in its figures and bars. */
function dashboardShows(shown, want, capacity) {
  const close = (a, b, tolerance = 0.01) => Math.abs(a - b) <= tolerance;
  return (
    shown.sold === want.sold &&
    shown.held === want.held &&
    shown.available === want.available &&
    close(shown.soldWidth, (want.sold * 100) / capacity) &&
    close(shown.heldWidth, (want.held * 100) / capacity) &&
    close(shown.heldX, (want.sold * 100) / capacity) &&
    // What is drawn, not only the attributes: a bar's share of the zone's full bar.
    close(shown.soldDrawn, want.sold / capacity, 0.02) &&
    close(shown.heldDrawn, want.held / capacity, 0.02)
  );
}

/**
 * Runs `boxoffice loadtest` against the server with `args`, with none of this
 * process's BOXOFFICE_* settings; answers its exit code and output once it ends.
 */
function loadtest(args) {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("BOXOFFICE_")),
  );
  const child = spawn(BIN, ["loadtest", "--url", BASE, ...args], {
    env: { ...env, RUST_LOG: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** `10000` → `100.00 EUR`, as the pages write amounts. */
function money(minor, currency) {
  return `${Math.trunc(minor / 100)}.${String(minor % 100).padStart(2, "0")} ${currency}`;
}

/** Submits the door form with a code; answers the verdict box's classes and big word. */
async function checkAtDoor(code) {
  const form = page.locator("form[data-scanner]");
  await form.locator('input[name="code"]').fill(code);
  const response = await submitWith(form.getByRole("button", { name: "Check", exact: true }));
  const verdict = page.locator(".verdict");
  assert.equal(
    await verdict.count(),
    1,
    `checking a code shows one .verdict (${page.url()} answered ${response?.status()})`,
  );
  return {
    status: response?.status(),
    classes: ((await verdict.getAttribute("class")) ?? "").split(/\s+/),
    word: (await verdict.locator(".verdict-word").innerText()).trim(),
  };
}

/** "3 of 9 in" on the door page → { in: 3, of: 9 }. */
async function attendance() {
  const text = (await page.locator("[data-attendance]").innerText()).trim();
  const match = text.match(/(\d+)\s+of\s+(\d+)/);
  assert.ok(match, `[data-attendance] shows no "N of M": "${text}"`);
  return { in: Number(match[1]), of: Number(match[2]) };
}

// ---------------------------------------------------------------------------------
// The scenario, in order

describe("organizer flow", () => {
  step("the demo organizer signs in", async () => {
    await open("/signin");
    const form = page.locator('form[action="/signin"]');
    await form.locator('input[name="email"]').fill(ORGANIZER_EMAIL);
    await form.locator('input[name="password"]').fill(ORGANIZER_PASSWORD);
    await submitWith(form.getByRole("button", { name: "Sign in" }));
    assert.notEqual(
      pathOf(page.url()),
      "/signin",
      `signing in as ${ORGANIZER_EMAIL} was refused${await pageAlerts()}`,
    );
    const nav = page.locator("header nav");
    assert.equal(
      await nav.locator('a[href="/organize"]').count(),
      1,
      "an organizer's header links to /organize",
    );
    assert.equal(await nav.locator('a[href="/door"]').count(), 1, "the header links to /door");
    state.signedIn = true;
  });

  step("a new event without a title is refused next to the title, keeping the rest", async (t) => {
    if (!requires(t, state.signedIn)) return;
    await open("/organize");
    const form = page.locator('form[action="/organize/events"]');
    assert.equal(
      await form.count(),
      1,
      '/organize has a "New event" form[action="/organize/events"]',
    );
    await assertLabelled(
      form,
      ["organization_id", "title", "category", "city", "description"],
      "the new event form",
    );
    assert.ok(
      (await form.locator('select[name="organization_id"] option').count()) >= 1,
      "the organizer may create events in at least one organization",
    );
    await audit("the organize page");

    const description = `Songs and stories, e2e run ${run}.`;
    const categories = await form
      .locator('select[name="category"] option')
      .evaluateAll((options) => options.map((o) => o.value));
    // Not the first one: keeping the choice must be the form's doing, not the default.
    const category = categories.at(-1);
    await form.locator('select[name="category"]').selectOption(category);
    await form.locator('input[name="city"]').fill("Lyon");
    await form.locator('textarea[name="description"]').fill(description);
    const refused = await submitWith(form.getByRole("button", { name: "Create event" }));
    assert.equal(pathOf(page.url()), "/organize/events", "the refused form is shown again");
    assert.equal(refused?.status(), 422, "a refused new event answers 422");

    const titleField = page.locator('.field:has(input[name="title"])');
    assert.equal(await titleField.count(), 1, "the title input sits in a .field wrapper");
    const error = titleField.locator("#title-error");
    assert.equal(await error.count(), 1, "a #title-error inside the title's .field");
    assert.ok(await error.isVisible(), "the #title-error is visible");
    assert.notEqual((await error.innerText()).trim(), "", "the #title-error is empty");
    const title = page.locator('input[name="title"]');
    assert.equal(await title.getAttribute("aria-invalid"), "true", "the title is aria-invalid");
    assert.match(
      (await title.getAttribute("aria-describedby")) ?? "",
      /(^|\s)title-error(\s|$)/,
      "the title input is described by #title-error",
    );
    assert.equal(
      await page.locator('textarea[name="description"]').inputValue(),
      description,
      "the refused form keeps the description typed",
    );
    assert.equal(
      await page.locator('input[name="city"]').inputValue(),
      "Lyon",
      "the refused form keeps the city typed",
    );
    assert.equal(
      await page.locator('select[name="category"]').inputValue(),
      category,
      "the refused form keeps the category chosen",
    );
    await audit("the organize page showing an error");
  });

  step("creating the event leads to its page", async (t) => {
    if (!requires(t, state.signedIn)) return;
    if (pathOf(page.url()) !== "/organize/events") await open("/organize");
    const form = page.locator('form[action="/organize/events"]');
    const title = `E2E Night ${run}`;
    await form.locator('input[name="title"]').fill(title);
    await form.locator('input[name="city"]').fill("Lyon");
    if (!(await form.locator('textarea[name="description"]').inputValue())) {
      await form.locator('textarea[name="description"]').fill(`Songs and stories, e2e run ${run}.`);
    }
    await submitWith(form.getByRole("button", { name: "Create event" }));
    const match = pathOf(page.url()).match(/^\/organize\/events\/([^/]+)$/);
    assert.ok(
      match,
      `creating the event leads to ${page.url()} instead of /organize/events/{id}${await pageAlerts()}`,
    );
    state.event = { id: decodeURIComponent(match[1]), title };
    assert.equal((await page.locator("h1").innerText()).trim(), title, "the event page's heading");

    await open("/organize");
    assert.equal(
      await page.locator(`a[href="/organize/events/${state.event.id}"]`).count(),
      1,
      "/organize lists the new event",
    );
    await assertNoSidewaysScroll("/organize at desktop size");
    await screenshot("organize-desktop.png");
  });

  step("adding a show with its first zone leads to the dashboard", async (t) => {
    if (!requires(t, state.event)) return;
    await open(`/organize/events/${state.event.id}`);
    const form = page.locator(`form[action="/organize/events/${state.event.id}/shows"]`);
    assert.equal(await form.count(), 1, 'the event page has an "Add a show" form');
    const fields = {
      venue: "Salle E2E",
      starts_at: "2099-06-01T20:00",
      per_user_limit: "4",
      hold_minutes: "10",
      zone_name: "Floor",
      zone_price: "12.50",
      zone_currency: "EUR",
      zone_capacity: String(CAPACITY),
    };
    await assertLabelled(form, Object.keys(fields), "the add-a-show form");
    assert.equal(
      await form.locator('input[name="starts_at"]').getAttribute("type"),
      "datetime-local",
      "starts_at is a datetime-local input",
    );
    await audit("the organizer's event page");

    for (const [name, value] of Object.entries(fields)) {
      await form.locator(`input[name="${name}"]`).fill(value);
    }
    await submitWith(form.getByRole("button", { name: "Add show" }));
    const match = pathOf(page.url()).match(/^\/organize\/shows\/([^/]+)$/);
    assert.ok(
      match,
      `adding the show leads to ${page.url()} instead of /organize/shows/{id}${await pageAlerts()}`,
    );
    const rows = await page
      .locator("tr[data-zone]")
      .evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-zone")));
    assert.equal(rows.length, 1, "the dashboard of a new show has one zone row");
    state.show = { id: decodeURIComponent(match[1]), zoneId: rows[0] };

    const { json: show } = await api("GET", `/shows/${state.show.id}`, { expect: 200 });
    assert.equal(show.sale_state, "open", "a show added without a sale date is on sale");
    assert.deepEqual(
      show.zones.map((z) => ({
        id: z.id,
        name: z.name,
        price_minor: z.price_minor,
        capacity: z.capacity,
      })),
      [{ id: state.show.zoneId, name: "Floor", price_minor: PRICE_MINOR, capacity: CAPACITY }],
      "the show has the zone typed in the form",
    );
    assert.equal(
      Date.parse(show.starts_at),
      Date.parse("2099-06-01T20:00:00Z"),
      "starts_at is read as UTC",
    );
  });

  step("the open dashboard follows a sale live, without a reload", async (t) => {
    if (!requires(t, state.show)) return;
    const { id: showId, zoneId } = state.show;
    // Subscribed before the sale starts: the numbers must then come over the stream.
    const subscribed = page.waitForResponse(
      (r) => pathOf(r.url()) === `/organize/shows/${showId}/live` && r.status() === 200,
    );
    await open(`/organize/shows/${showId}`);
    assert.equal(
      await page.locator("[data-sales-live]").getAttribute("data-sales-live"),
      `/organize/shows/${showId}/live`,
      "the dashboard follows its own show's sales",
    );
    await subscribed;
    const start = await dashboardZone(zoneId);
    assert.ok(start.row, `a tr[data-zone="${zoneId}"] on the dashboard`);
    assert.ok(start.bars, `a g[data-bars="${zoneId}"] in svg.bars on the dashboard`);
    assert.ok(
      dashboardShows(start, { sold: 0, held: 0, available: CAPACITY }, CAPACITY),
      `a new show's dashboard shows nothing sold or held: ${JSON.stringify(start)}`,
    );
    await audit("the dashboard");
    // Gone after any reload or navigation: the figures must move in this very document.
    await page.evaluate(() => {
      window.e2eSameDocument = true;
    });

    // The sale: buyers hold at the same moment, then some of them pay.
    const tokens = await Promise.all(
      Array.from({ length: SALE_BUYERS }, (_, i) => registerBuyer(`sale${i}`)),
    );
    const saleStarted = Date.now();
    const holds = await Promise.all(tokens.map((token) => reserve(token, SALE_QUANTITY)));
    await Promise.all(
      holds.slice(0, SALE_PAYERS).map((booking, i) => pay(tokens[i], booking.id)),
    );
    const saleEnded = Date.now();
    const sold = SALE_PAYERS * SALE_QUANTITY;
    const held = (SALE_BUYERS - SALE_PAYERS) * SALE_QUANTITY;
    const want = { sold, held, available: CAPACITY - sold - held };
    t.diagnostic(
      `sale: ${SALE_BUYERS} buyers held ${SALE_QUANTITY} each, ${SALE_PAYERS} paid, in ${saleEnded - saleStarted} ms`,
    );

    // The server agrees with what the dashboard must show.
    const { json: zones } = await api("GET", `/shows/${showId}/zones`, { expect: 200 });
    const zone = zones.find((z) => z.id === zoneId);
    assert.deepEqual(
      { sold: zone?.sold, held: zone?.held, available: zone?.available },
      want,
      "the API's figures after the sale",
    );

    let shown = await dashboardZone(zoneId);
    while (!dashboardShows(shown, want, CAPACITY) && Date.now() - saleEnded < LIVE_TIMEOUT_MS) {
      await page.waitForTimeout(200);
      shown = await dashboardZone(zoneId);
    }
    assert.ok(
      dashboardShows(shown, want, CAPACITY),
      `within ${LIVE_TIMEOUT_MS / 1000} s of the sale the dashboard shows ` +
        `${JSON.stringify(shown)}, not sold ${want.sold}, held ${want.held}, available ` +
        `${want.available} with bars of ${(want.sold * 100) / CAPACITY} and ${(want.held * 100) / CAPACITY}`,
    );
    t.diagnostic(`the dashboard showed the sale ${Date.now() - saleEnded} ms after it ended`);
    assert.equal(
      await page.evaluate(() => window.e2eSameDocument === true),
      true,
      "the dashboard was reloaded or left while the sale ran",
    );
    state.expected = { ...want, revenueMinor: SALE_PAYERS * SALE_QUANTITY * PRICE_MINOR };

    await page.setViewportSize(DESKTOP);
    await assertNoSidewaysScroll("the dashboard at desktop size");
    await screenshot("dashboard-desktop.png");
  });

  step(
    "the dashboard shows the revenue of the sale, live and after a reload",
    async (t) => {
      if (!requires(t, state.expected)) return;
      const want = money(state.expected.revenueMinor, "EUR");
      const { json: report } = await api("GET", `/shows/${state.show.id}/sales`, {
        token: (
          await api("POST", "/auth/login", {
            body: { email: ORGANIZER_EMAIL, password: ORGANIZER_PASSWORD },
            expect: 200,
          })
        ).json.access_token,
        expect: 200,
      });
      assert.equal(
        report.revenue?.net_minor,
        state.expected.revenueMinor,
        "the API's net revenue after the sale",
      );
      // Still the document that followed the sale. The figures it already shows came
      // with the revenue in the same pushed report: a short wait is enough.
      const net = page.locator('[data-figure="net"]');
      const deadline = Date.now() + 3_000;
      let shown = (await net.innerText()).trim();
      while (shown !== want && Date.now() < deadline) {
        await page.waitForTimeout(200);
        shown = (await net.innerText()).trim();
      }
      assert.equal(shown, want, "the open dashboard's net revenue follows the sale");
      await open(`/organize/shows/${state.show.id}`);
      assert.equal(
        (await net.innerText()).trim(),
        want,
        "the dashboard's net revenue after a reload",
      );
    },
  );

  step(
    "a second show, set up on its page, is sold by `boxoffice loadtest` while its dashboard watches",
    async (t) => {
      if (!requires(t, state.event)) return;
      if (!BIN || !ADMIN_PASSWORD) {
        t.skip("BOXOFFICE_E2E_BIN and the admin's credentials are not set");
        return;
      }
      // The show: added with the event page's form, then changed on its set-up page.
      await open(`/organize/events/${state.event.id}`);
      const add = page.locator(`form[action="/organize/events/${state.event.id}/shows"]`);
      const fields = {
        venue: "Salle Charge",
        starts_at: "2099-07-01T20:00",
        zone_name: "Floor",
        zone_price: "20",
        zone_currency: "EUR",
        zone_capacity: "10",
      };
      for (const [name, value] of Object.entries(fields)) {
        await add.locator(`input[name="${name}"]`).fill(value);
      }
      await submitWith(add.getByRole("button", { name: "Add show" }));
      const showId = decodeURIComponent(pathOf(page.url()).split("/").pop());
      await submitWith(page.getByRole("link", { name: /Set up the show/ }));
      assert.equal(pathOf(page.url()), `/organize/shows/${showId}/setup`);
      await audit("a show's set-up page");
      const details = page.locator(`form[action="/organize/shows/${showId}/edit"]`);
      await assertLabelled(
        details,
        ["venue", "starts_at", "sale_opens_at", "sale_closes_at", "per_user_limit", "hold_minutes"],
        "the show's form",
      );
      await details.locator('input[name="per_user_limit"]').fill("2");
      await submitWith(details.getByRole("button", { name: "Save the show" }));
      const zone = page.locator("article.zone-edit form.row-form").first();
      await zone.locator('input[name="capacity"]').fill("-5");
      await submitWith(zone.getByRole("button", { name: /^Save/ }));
      const capacity = page.locator('article.zone-edit input[name="capacity"]').first();
      assert.equal(await capacity.getAttribute("aria-invalid"), "true", `a negative capacity is refused${await pageAlerts()}`);
      assert.equal(await capacity.inputValue(), "-5", "what was typed stays");
      await audit("a show's set-up page with an error");
      await page.locator('article.zone-edit input[name="capacity"]').first().fill(String(LOAD_CAPACITY));
      await submitWith(page.locator("article.zone-edit form.row-form").first().getByRole("button", { name: /^Save/ }));
      const { json: show } = await api("GET", `/shows/${showId}`, { expect: 200 });
      assert.deepEqual(
        { limit: show.per_user_limit, capacity: show.zones[0]?.capacity },
        { limit: 2, capacity: LOAD_CAPACITY },
        "the set-up page changed the show and its zone",
      );
      const zoneId = show.zones[0].id;
      await page.setViewportSize(DESKTOP);
      await page.evaluate(() => window.scrollTo(0, 0));
      await screenshot("show-setup-desktop.png");

      // Its dashboard, open before the load starts.
      const subscribed = page.waitForResponse(
        (r) => pathOf(r.url()) === `/organize/shows/${showId}/live` && r.status() === 200,
      );
      await open(`/organize/shows/${showId}`);
      await subscribed;
      await page.evaluate(() => {
        window.e2eSameDocument = true;
      });
      const sale = loadtest([
        "--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD,
        "--show", showId, "--buyers", String(LOAD_BUYERS), "--rate", String(LOAD_RATE),
        "--duration", String(LOAD_SECONDS), "--json", "--quiet",
      ]);
      let ended = null;
      sale.then((r) => (ended = r));
      // What the dashboard shows while the load runs.
      const seen = new Set();
      while (!ended) {
        const shown = await dashboardZone(zoneId);
        if (shown.held + shown.sold > 0) seen.add(shown.held + shown.sold);
        await page.waitForTimeout(200);
      }
      const { code, stdout, stderr } = ended;
      assert.equal(code, 0, `boxoffice loadtest failed (${code}):\n${stdout}\n${stderr}`);
      const summary = JSON.parse(stdout.trim().split("\n").pop());
      assert.equal(summary.checks_passed, true, `the load test's checks: ${stdout}`);
      assert.equal(summary.show_id, showId);
      const holds = summary.holds;
      assert.ok(holds > 0, `the load test held tickets: ${JSON.stringify(summary)}`);
      t.diagnostic(`loadtest: ${holds} holds; the dashboard showed ${[...seen].sort((a, b) => a - b).join(", ")} during the sale`);
      assert.ok(
        seen.size >= 2,
        `the dashboard moved during the sale, not only at its end: it showed ${[...seen].join(", ")}`,
      );
      const want = { sold: 0, held: holds, available: LOAD_CAPACITY - holds };
      let shown = await dashboardZone(zoneId);
      const deadline = Date.now() + LIVE_TIMEOUT_MS;
      while (!dashboardShows(shown, want, LOAD_CAPACITY) && Date.now() < deadline) {
        await page.waitForTimeout(200);
        shown = await dashboardZone(zoneId);
      }
      assert.ok(
        dashboardShows(shown, want, LOAD_CAPACITY),
        `after the load test the dashboard shows ${JSON.stringify(shown)}, not ${JSON.stringify(want)}`,
      );
      assert.equal(await page.evaluate(() => window.e2eSameDocument === true), true, "no reload");
      await screenshot("dashboard-loadtest-desktop.png");
    },
  );

  step("a buyer gets a paid ticket of the new show", async (t) => {
    if (!requires(t, state.show)) return;
    const token = await registerBuyer("door");
    const booking = await reserve(token, 1);
    await pay(token, booking.id);
    const deadline = Date.now() + TICKETS_TIMEOUT_MS;
    let tickets = [];
    while (Date.now() < deadline) {
      tickets = (await api("GET", `/bookings/${booking.id}/tickets`, { token, expect: 200 })).json;
      if (Array.isArray(tickets) && tickets.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(
      tickets.length,
      1,
      `one ticket for booking ${booking.id} within ${TICKETS_TIMEOUT_MS} ms`,
    );
    assert.equal(tickets[0].show_id, state.show.id);
    assert.ok(tickets[0].code, "the ticket has a code");
    state.ticket = { code: tickets[0].code };
  });

  step("at the door on a phone: valid, then already used; an unknown code", async (t) => {
    if (!requires(t, state.show, state.ticket)) return;
    await page.setViewportSize(PHONE);
    await open("/door");
    const link = page.locator(`a[href="/door/${state.show.id}"]`);
    assert.equal(
      await link.count(),
      1,
      `/door links to the new show (a[href="/door/${state.show.id}"])`,
    );
    await assertNoSidewaysScroll("/door at phone size");
    await audit("the door's list of shows");

    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), link.click()]);
    assert.equal(pathOf(page.url()), `/door/${state.show.id}`);
    await assertLabelled(page.locator("form[data-scanner]"), ["code", "gate"], "the door form");
    assert.equal(
      (await page.getByLabel("Ticket code", { exact: true }).getAttribute("name")) ?? "",
      "code",
      'the code input is labelled "Ticket code"',
    );
    const before = await attendance();
    await page.locator('input[name="gate"]').fill("north-1");

    const first = await checkAtDoor(state.ticket.code);
    assert.ok(
      first.classes.includes("verdict-valid"),
      `a paid ticket's first check is .verdict-valid, not ${first.classes.join(".")} ("${first.word}")`,
    );
    assert.match(first.word, /VALID/, "the valid verdict says so in big letters");
    assert.match(first.word, /let in/i);
    state.checkedIn = true;
    const afterFirst = await attendance();
    assert.equal(afterFirst.in, before.in + 1, "the attendance counts the admission");
    assert.equal(
      await page.locator('input[name="gate"]').inputValue(),
      "north-1",
      "the door keeps its gate's name between checks",
    );
    await assertNoSidewaysScroll("the door page with a verdict at phone size");
    await audit("the door page (valid verdict)");
    await screenshot("door-phone.png");

    const second = await checkAtDoor(state.ticket.code);
    assert.ok(
      second.classes.includes("verdict-already_used"),
      `the same ticket's second check is .verdict-already_used, not ${second.classes.join(".")} ("${second.word}")`,
    );
    assert.match(second.word, /ALREADY USED/);
    assert.match(
      await page.locator(".verdict").innerText(),
      /north-1/,
      "the already-used verdict names the gate of the first scan",
    );
    assert.equal((await attendance()).in, afterFirst.in, "a second check admits nobody");
    await audit("the door page (already used)");

    const unknown = await checkAtDoor(`ZZ${run.toUpperCase()}NOSUCHTICKET`);
    assert.ok(
      unknown.classes.includes("verdict-unknown"),
      `an unknown code is .verdict-unknown, not ${unknown.classes.join(".")} ("${unknown.word}")`,
    );
    await audit("the door page (unknown)");
  });

  step("at another show's door the ticket is for the wrong show", async (t) => {
    if (!requires(t, state.show, state.ticket)) return;
    await open("/door");
    const other = await page
      .locator('a[href^="/door/"]')
      .evaluateAll((links, own) =>
        links.map((a) => a.getAttribute("href")).find((href) => href !== `/door/${own}`),
      state.show.id);
    assert.ok(other, "/door lists the demo shows besides the new one");
    await open(other);
    const verdict = await checkAtDoor(state.ticket.code);
    assert.ok(
      verdict.classes.includes("verdict-wrong_show"),
      `another show's ticket is .verdict-wrong_show, not ${verdict.classes.join(".")} ("${verdict.word}")`,
    );
    await audit("the door page (wrong show)");
    await page.setViewportSize(DESKTOP);
  });

  step("the account page", async (t) => {
    if (!requires(t, state.signedIn)) return;
    await page.setViewportSize(DESKTOP);
    await open("/account");
    assert.match(
      await page.locator("main").innerText(),
      new RegExp(ORGANIZER_EMAIL.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")),
      "the account page shows the organizer's email",
    );
    await audit("the account page");
  });

  step("no page raised a script error, broke its policy or missed a resource", async () => {
    const problems = [
      ...health.pageErrors.map((e) => `script error: ${e}`),
      ...health.cspViolations.map((e) => `policy violation: ${e}`),
      ...health.failedResources.map((e) => `failed resource: ${e}`),
    ];
    assert.deepEqual(problems, [], problems.join("\n"));
  });
});
