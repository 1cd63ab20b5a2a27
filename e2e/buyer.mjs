// The buyer's way through the web pages, in headless Chromium: browse and search the
// events, sign up (a refused password first), reserve two tickets, watch the hold's
// countdown, pay, get the tickets with their QR codes, find the booking in the list;
// then reserve with the keyboard alone and cancel that hold. Along the way: the
// security headers, the CSRF refusal, an axe-core audit of every page (no serious or
// critical violation) and screenshots at desktop and phone sizes.
//
//   BOXOFFICE_E2E_URL=http://127.0.0.1:8080 node --test e2e/buyer.mjs
//
// The server must run with the demo data (`BOXOFFICE_DEMO_DATA=true`); scripts/e2e
// starts one on a fresh database. Optional:
//   BOXOFFICE_E2E_SCREENSHOTS  folder for home/event/booking PNGs (desktop, phone)
//   BOXOFFICE_E2E_ARTIFACTS    folder for a screenshot and the HTML of a failed step
//   CHROMIUM                   the browser (default /usr/bin/chromium)

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
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
const SCREENSHOTS = process.env.BOXOFFICE_E2E_SCREENSHOTS
  ? path.resolve(process.env.BOXOFFICE_E2E_SCREENSHOTS)
  : null;
const ARTIFACTS = path.resolve(process.env.BOXOFFICE_E2E_ARTIFACTS ?? path.join(here, "artifacts"));

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 740 };
const PASSWORD = "correct horse battery";
/** How long a payment may take from "Pay" to a confirmed booking. */
const PAYMENT_TIMEOUT_MS = 20_000;
/** How long a confirmed booking may take to show its tickets (they are issued after it). */
const TICKETS_TIMEOUT_MS = 10_000;

if (!BASE) {
  throw new Error("BOXOFFICE_E2E_URL is not set (the base URL of a running boxoffice serve)");
}

// What the steps learn and later steps use. A step whose prerequisite failed is
// skipped, so a failure is reported once, where it happened.
const state = {
  /** href of the first event of the home page and a word of its title */
  firstEvent: null,
  /** path of the event page the buyer reserves on */
  eventPath: null,
  /** show_id and zone_id of the zone reserved in */
  zone: null,
  /** the paid booking */
  bookingId: null,
  signedUp: false,
  email: `buyer-${Math.random().toString(36).slice(2, 10)}@example.com`,
};

/** Problems the pages reported while the scenario ran, checked by the last step. */
const health = { pageErrors: [], cspViolations: [], failedResources: [] };

let browser;
let context;
let page;

before(async () => {
  browser = await launchChromium();
  // The pages run under their own Content-Security-Policy, as for a real buyer: a
  // script the policy blocks shows up as a failed step (the countdown) and below.
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
 * artifacts folder before reporting the failure.
 */
function step(name, fn) {
  it(name, async (t) => {
    try {
      await fn(t);
    } catch (error) {
      await keepArtifacts(name).catch(() => {});
      throw error;
    }
  });
}

async function keepArtifacts(name) {
  if (!page || page.isClosed()) return;
  const base = path.join(ARTIFACTS, `failed-${name.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`);
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

/** Clicks something that submits a form and waits for the next page to load. */
async function submitWith(locator) {
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), locator.click()]);
}

function pathOf(url) {
  return new URL(url).pathname;
}

/** The id of the booking page the browser is on; fails with what the page says otherwise. */
async function bookingIdFromPage(action) {
  const match = pathOf(page.url()).match(/^\/bookings\/([^/]+)$/);
  if (!match) {
    const alerts = await page.locator("[role=alert], .alert, .field-error").allInnerTexts();
    assert.fail(
      `${action} leads to ${page.url()} instead of /bookings/{id}` +
        (alerts.length ? `; the page says: ${alerts.map((a) => a.trim()).join(" | ")}` : ""),
    );
  }
  return decodeURIComponent(match[1]);
}

/** Audits the current page with axe-core (see lib.mjs). */
async function audit(label) {
  await auditPage(page, label);
}

/**
 * At desktop and phone sizes: the page never scrolls sideways, and when
 * BOXOFFICE_E2E_SCREENSHOTS is set its PNGs are saved there as `<name>-desktop.png`
 * and `<name>-phone.png`.
 */
async function screenshots(name) {
  for (const [size, viewport] of [
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ]) {
    await page.setViewportSize(viewport);
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    assert.ok(overflow <= 0, `${name} at ${size} size scrolls sideways by ${overflow}px`);
    if (SCREENSHOTS) {
      await mkdir(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${size}.png`) });
    }
  }
  await page.setViewportSize(DESKTOP);
}

/** The booking's status as the page shows it (`.status[data-status]`). */
async function bookingStatus() {
  const status = page.locator(".status[data-status]");
  await status.first().waitFor({ state: "attached" });
  return status.first().getAttribute("data-status");
}

/**
 * Waits until the booking page shows `wanted`. The page refreshes itself while a
 * payment is pending; it is also reloaded here every few seconds, so the outcome is
 * what the server says rather than how the page polls.
 */
async function waitForStatus(wanted, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  let reloadedAt = Date.now();
  while (Date.now() < deadline) {
    try {
      await page.waitForLoadState("load");
      last = await page.locator(".status[data-status]").first().getAttribute("data-status", {
        timeout: 2_000,
      });
      if (last === wanted) return;
    } catch {
      // The page was navigating (its own refresh): look again.
    }
    if (Date.now() - reloadedAt > 3_000) {
      await page.reload().catch(() => {});
      reloadedAt = Date.now();
    } else {
      await page.waitForTimeout(500);
    }
  }
  assert.fail(
    `the booking page did not show status "${wanted}" within ${timeoutMs} ms (last: ${last})`,
  );
}

/**
 * The number a zone's `[data-zone-available]` element shows: its text (digit group
 * separators allowed), or the attribute's value when the text holds no number.
 */
function parseAvailable(attribute, text) {
  const shown = (text ?? "").trim();
  if (/^\d{1,3}([\s,.\u00a0\u202f]?\d{3})*$/.test(shown)) return Number(shown.replace(/\D/g, ""));
  if (attribute && /^\d+$/.test(attribute.trim())) return Number(attribute.trim());
  return NaN;
}

/**
 * The general-admission zones of the current event page: per `form[action="/reserve"]`,
 * its hidden ids and the availability shown nearest to it.
 */
async function zonesOnPage() {
  return page.$$eval('form[action="/reserve"]', (forms) =>
    forms.map((form) => {
      // The availability of a zone: the one [data-zone-available] in the smallest
      // ancestor of its form that holds any.
      let scope = form;
      while (scope && scope.querySelectorAll("[data-zone-available]").length === 0) {
        scope = scope.parentElement;
      }
      const shown = scope ? scope.querySelectorAll("[data-zone-available]") : [];
      const available = shown.length === 1 ? shown[0] : null;
      return {
        showId: form.querySelector("input[type=hidden][name=show_id]")?.value ?? null,
        zoneId: form.querySelector("input[type=hidden][name=zone_id]")?.value ?? null,
        hasQuantity: form.querySelector("select[name=quantity]") !== null,
        method: (form.getAttribute("method") ?? "get").toLowerCase(),
        availableAttribute: available?.getAttribute("data-zone-available") ?? null,
        availableText: available?.textContent ?? null,
        availableElements: shown.length,
      };
    }),
  );
}

async function zoneAvailable(zoneId) {
  const zone = (await zonesOnPage()).find((z) => z.zoneId === zoneId);
  assert.ok(zone, `zone ${zoneId} is no longer offered on ${page.url()}`);
  return parseAvailable(zone.availableAttribute, zone.availableText);
}

// ---------------------------------------------------------------------------------
// The scenario, in order

describe("buyer flow", () => {
  step("the home page is served with strict security headers", async () => {
    const response = await open("/");
    const headers = response.headers();
    const csp = headers["content-security-policy"];
    assert.ok(csp, "no content-security-policy header on /");
    const directives = new Map(
      csp
        .split(";")
        .map((d) => d.trim().split(/\s+/))
        .filter((d) => d[0])
        .map(([name, ...values]) => [name.toLowerCase(), values]),
    );
    assert.deepEqual(
      directives.get("frame-ancestors"),
      ["'none'"],
      `content-security-policy should say frame-ancestors 'none': ${csp}`,
    );
    const scripts = directives.get("script-src") ?? directives.get("default-src");
    assert.ok(scripts, `content-security-policy restricts no script source: ${csp}`);
    assert.ok(
      !scripts.includes("'unsafe-inline'"),
      `content-security-policy allows 'unsafe-inline' scripts: ${csp}`,
    );
    assert.equal(headers["x-content-type-options"], "nosniff");
  });

  step("the home page lists the events and searching finds one by its title", async () => {
    await open("/");
    const events = page.locator("article.event");
    const count = await events.count();
    assert.ok(count >= 1, "no article.event on / although the demo data is loaded");
    for (let i = 0; i < count; i++) {
      assert.ok(
        (await events.nth(i).locator('a[href^="/events/"]').count()) >= 1,
        `event #${i + 1} on / has no link to its page (a[href^="/events/"])`,
      );
    }
    const first = events.first();
    const href = await first.locator('a[href^="/events/"]').first().getAttribute("href");
    const heading = first.locator("h1, h2, h3, h4");
    const title = (
      (await heading.count()) > 0
        ? await heading.first().innerText()
        : await first.locator('a[href^="/events/"]').first().innerText()
    ).trim();
    // The longest word of the title is the most telling one to search for.
    const word = title
      .split(/[^\p{L}\p{N}]+/u)
      .filter((w) => w.length >= 3)
      .sort((a, b) => b.length - a.length)[0];
    assert.ok(word, `no word to search for in the first event's title "${title}"`);
    state.firstEvent = { href: pathOf(new URL(href, BASE).href), title, word };

    await audit("the home page");
    await screenshots("home");

    const search = page.locator("form[role=search]");
    assert.equal(await search.count(), 1, "one search form (form[role=search]) on /");
    const q = search.locator("input[name=q]");
    assert.equal(await q.count(), 1, "the search form has an input named q");
    await q.fill(word);
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), q.press("Enter")]);
    assert.equal(
      (await page.locator(`article.event a[href="${state.firstEvent.href}"]`).count()) > 0,
      true,
      `searching for "${word}" does not list "${title}" (${state.firstEvent.href}) any more`,
    );
    assert.equal(
      await page.locator("form[role=search] input[name=q]").inputValue(),
      word,
      "the search box keeps the words searched for",
    );

    const nonsense = "zqxjvbnonsense";
    await page.locator("form[role=search] input[name=q]").fill(nonsense);
    await Promise.all([
      page.waitForNavigation({ waitUntil: "load" }),
      page.locator("form[role=search] input[name=q]").press("Enter"),
    ]);
    assert.equal(await page.locator("article.event").count(), 0, `"${nonsense}" matches no event`);
  });

  step("the sign-in page has labelled fields", async () => {
    await open("/signin");
    for (const name of ["email", "password"]) {
      const input = page.locator(`input[name="${name}"]`);
      assert.equal(await input.count(), 1, `/signin has one input named ${name}`);
      assert.ok(
        await input.evaluate((el) => el.labels.length > 0),
        `/signin: input[name=${name}] has no <label>`,
      );
    }
    await audit("the sign-in page");
  });

  step(
    "signing up refuses a short password next to its field, then creates the account",
    async () => {
      await open("/signup");
      const form = page.locator('form:has(input[name="password"])');
      for (const name of ["display_name", "email", "password"]) {
        const input = form.locator(`input[name="${name}"]`);
        assert.equal(await input.count(), 1, `/signup has one input named ${name}`);
        assert.ok(
          await input.evaluate((el) => el.labels.length > 0),
          `/signup: input[name=${name}] has no <label>`,
        );
      }
      const submit = form.getByRole("button", { name: "Create account" });
      assert.equal(await submit.count(), 1, '/signup has a "Create account" button');
      await audit("the sign-up page");

      await form.locator('input[name="display_name"]').fill("E2E Buyer");
      await form.locator('input[name="email"]').fill(state.email);
      await form.locator('input[name="password"]').fill("short");
      // The server's own check is what is tested: a `minlength` in the page would stop
      // the browser from sending the form at all.
      await form.evaluate((f) => {
        f.noValidate = true;
      });
      await submitWith(submit);

      const passwordField = page.locator('.field:has(input[name="password"])');
      assert.equal(await passwordField.count(), 1, "the password input sits in a .field wrapper");
      const error = passwordField.locator(".field-error");
      assert.ok(
        (await error.count()) > 0 && (await error.first().isVisible()),
        "no visible .field-error next to the too-short password",
      );
      assert.notEqual((await error.first().innerText()).trim(), "", "the .field-error is empty");
      assert.equal(
        await page.locator('input[name="email"]').inputValue(),
        state.email,
        "the refused form no longer holds the email typed",
      );
      assert.equal(
        await page.locator('input[name="password"]').inputValue(),
        "",
        "the refused form sends the password back to the browser",
      );
      await audit("the sign-up page showing an error");

      const again = page.locator('form:has(input[name="password"])');
      await again.locator('input[name="display_name"]').fill("E2E Buyer");
      await again.locator('input[name="email"]').fill(state.email);
      await again.locator('input[name="password"]').fill(PASSWORD);
      await submitWith(again.getByRole("button", { name: "Create account" }));
      assert.equal(pathOf(page.url()), "/", "a successful sign-up leads to /");

      const signOut = page.locator("header").getByRole("button", { name: "Sign out" });
      assert.equal(await signOut.count(), 1, 'the header shows a "Sign out" button once signed up');
      const signOutForm = await signOut.evaluate((b) => ({
        action: b.form?.getAttribute("action"),
        method: (b.form?.getAttribute("method") ?? "get").toLowerCase(),
      }));
      assert.deepEqual(
        signOutForm,
        { action: "/signout", method: "post" },
        "signing out is a POST to /signout",
      );
      state.signedUp = true;
    },
  );

  step("the event page offers every general-admission zone; reserving 2 holds them", async (t) => {
    if (!requires(t, state.firstEvent, state.signedUp)) return;
    // The first event is where the buyer goes; if it is not on sale yet (no zone to
    // reserve), the next one on the home page is.
    await open("/");
    const hrefs = await page
      .locator('article.event a[href^="/events/"]')
      .evaluateAll((links) => [...new Set(links.map((a) => new URL(a.href).pathname))]);
    let zones = [];
    for (const href of hrefs) {
      await open(href);
      zones = await zonesOnPage();
      if (zones.length > 0) {
        state.eventPath = href;
        break;
      }
      t.diagnostic(`${href} offers no zone to reserve (not on sale yet or seated only)`);
    }
    assert.ok(state.eventPath, 'no event page has a form[action="/reserve"]');
    if (state.eventPath !== state.firstEvent.href) {
      t.diagnostic(
        `the first event (${state.firstEvent.href}) offers nothing to reserve; using ${state.eventPath}`,
      );
    }

    for (const [i, zone] of zones.entries()) {
      assert.ok(zone.showId, `reserve form #${i + 1}: no hidden input show_id`);
      assert.ok(zone.zoneId, `reserve form #${i + 1}: no hidden input zone_id`);
      assert.ok(zone.hasQuantity, `reserve form #${i + 1}: no select[name=quantity]`);
      assert.equal(zone.method, "post", `reserve form #${i + 1} is not a POST`);
      assert.equal(
        zone.availableElements,
        1,
        `reserve form #${i + 1}: expected one [data-zone-available] for its zone, found ${zone.availableElements}`,
      );
      assert.ok(
        Number.isFinite(parseAvailable(zone.availableAttribute, zone.availableText)),
        `reserve form #${i + 1}: [data-zone-available] shows no number ("${zone.availableText}")`,
      );
    }
    const forms = page.locator('form[action="/reserve"]');
    for (let i = 0; i < zones.length; i++) {
      assert.equal(
        await forms.nth(i).getByRole("button", { name: "Reserve" }).count(),
        1,
        `reserve form #${i + 1} has no "Reserve" button`,
      );
      assert.ok(
        await forms
          .nth(i)
          .locator("select[name=quantity]")
          .evaluate(
            (el) =>
              el.labels.length > 0 ||
              !!el.getAttribute("aria-label") ||
              !!el.getAttribute("aria-labelledby"),
          ),
        `reserve form #${i + 1}: select[name=quantity] has no label`,
      );
    }
    await audit("the event page");
    await screenshots("event");

    const zone = zones[0];
    state.zone = { showId: zone.showId, zoneId: zone.zoneId };
    const before = parseAvailable(zone.availableAttribute, zone.availableText);
    const form = forms.first();
    await form.locator("select[name=quantity]").selectOption("2");
    await submitWith(form.getByRole("button", { name: "Reserve" }));
    state.bookingId = await bookingIdFromPage("reserving 2 tickets");

    await open(state.eventPath);
    assert.equal(
      await zoneAvailable(zone.zoneId),
      before - 2,
      "the zone shows 2 fewer available tickets after the hold",
    );
  });

  step("the booking page shows the hold with a live countdown", async (t) => {
    if (!requires(t, state.bookingId)) return;
    await open(`/bookings/${state.bookingId}`);
    assert.equal(await bookingStatus(), "held");
    const countdown = page.locator("time.countdown");
    assert.equal(await countdown.count(), 1, "one time.countdown on a held booking");
    const datetime = await countdown.getAttribute("datetime");
    assert.ok(
      datetime && !Number.isNaN(Date.parse(datetime)),
      `time.countdown datetime="${datetime}" is no date`,
    );
    assert.ok(Date.parse(datetime) > Date.now(), `the hold's deadline ${datetime} is already past`);
    // Let the script start, then the text must move on within two seconds.
    await page.waitForTimeout(300);
    const first = (await countdown.innerText()).trim();
    await page.waitForTimeout(2_100);
    const later = (await countdown.innerText()).trim();
    assert.notEqual(
      later,
      first,
      `the countdown stayed at "${first}" for 2 s (is its script running?)`,
    );
    await audit("the booking page (held)");
  });

  step("paying confirms the booking and shows the tickets with QR codes", async (t) => {
    if (!requires(t, state.bookingId)) return;
    await open(`/bookings/${state.bookingId}`);
    const pay = page
      .locator(`form[action="/bookings/${state.bookingId}/pay"]`)
      .getByRole("button", { name: "Pay" });
    assert.equal(
      await pay.count(),
      1,
      `a "Pay" button in form[action="/bookings/${state.bookingId}/pay"]`,
    );
    await submitWith(pay);
    assert.match(
      pathOf(page.url()),
      new RegExp(`^/bookings/${state.bookingId}`),
      "paying stays on the booking",
    );
    await waitForStatus("confirmed", PAYMENT_TIMEOUT_MS);

    // Tickets are issued once the booking is confirmed, not with it: a page loaded in
    // between shows none yet (and does not refresh itself), so look again for a while.
    const qrCodes = page.locator(".ticket svg");
    const deadline = Date.now() + TICKETS_TIMEOUT_MS;
    let reloads = 0;
    while ((await qrCodes.count()) === 0 && Date.now() < deadline) {
      await page.waitForTimeout(500);
      await page.reload();
      reloads++;
    }
    assert.ok(
      (await qrCodes.count()) >= 1,
      `a confirmed booking shows at least one .ticket with an inline svg QR code (none within ${TICKETS_TIMEOUT_MS} ms)`,
    );
    if (reloads > 0) {
      t.diagnostic(`the tickets showed after ${reloads} reload(s) of the confirmed booking`);
    }
    assert.equal(
      await page.locator("time.countdown").count(),
      0,
      "a confirmed booking shows no hold countdown",
    );
    await audit("the booking page (confirmed)");
    await screenshots("booking");
  });

  step("the bookings page lists the booking", async (t) => {
    if (!requires(t, state.bookingId)) return;
    await open("/bookings");
    assert.ok(
      (await page.locator(`a[href="/bookings/${state.bookingId}"]`).count()) >= 1,
      `/bookings has no link to /bookings/${state.bookingId}`,
    );
    await audit("the bookings page");
  });

  step("a form post without its CSRF token is refused", async (t) => {
    if (!requires(t, state.zone)) return;
    // Same browser, same session cookie: only the token is missing.
    const response = await page.request.post("/reserve", {
      form: { show_id: state.zone.showId, zone_id: state.zone.zoneId, quantity: "1" },
      maxRedirects: 0,
    });
    assert.equal(
      response.status(),
      403,
      `POST /reserve without csrf answered ${response.status()}`,
    );
  });

  step("reserving works with the keyboard alone, and the hold can be cancelled", async (t) => {
    // Needs a page where reserving works: when it did not, that was reported above.
    if (!requires(t, state.eventPath, state.bookingId)) return;
    await open(state.eventPath);
    // From the top of the page, Tab until the first quantity select has the focus.
    await page.evaluate(() => {
      document.activeElement?.blur();
      window.scrollTo(0, 0);
    });
    let presses = 0;
    const focused = () =>
      page.evaluate(() => {
        const el = document.activeElement;
        return el
          ? {
              tag: el.tagName.toLowerCase(),
              name: el.getAttribute("name"),
              type: el.getAttribute("type"),
            }
          : null;
      });
    for (;;) {
      await page.keyboard.press("Tab");
      presses++;
      const el = await focused();
      if (el?.tag === "select" && el.name === "quantity") break;
      assert.ok(presses < 80, "no select[name=quantity] reached with 80 Tab presses");
    }
    const select = page.locator("select[name=quantity]:focus");
    const form = page.locator('form[action="/reserve"]:has(select[name=quantity]:focus)');
    const zoneId = await form.locator("input[name=zone_id]").inputValue();
    // Arrow keys to the option 1 (moving away and back when it is already chosen).
    const { values, index } = await select.evaluate((el) => ({
      values: [...el.options].map((o) => o.value),
      index: el.selectedIndex,
    }));
    const target = values.indexOf("1");
    assert.ok(target >= 0, `the quantity select offers no 1 (${values.join(", ")})`);
    if (index === target) {
      assert.ok(values.length > 1, "the quantity select offers a single option");
      await page.keyboard.press(target + 1 < values.length ? "ArrowDown" : "ArrowUp");
      assert.notEqual(await select.inputValue(), "1", "the arrow keys change the quantity");
    }
    for (let i = await select.evaluate((el) => el.selectedIndex); i !== target;) {
      await page.keyboard.press(i < target ? "ArrowDown" : "ArrowUp");
      const now = await select.evaluate((el) => el.selectedIndex);
      assert.notEqual(now, i, "the arrow keys change the quantity");
      i = now;
    }
    assert.equal(await select.inputValue(), "1");
    // On to the form's Reserve button, then Enter.
    for (let i = 0; ; i++) {
      await page.keyboard.press("Tab");
      const onReserve = await page.evaluate(
        () =>
          document.activeElement?.matches(
            'form[action="/reserve"] button, form[action="/reserve"] input[type=submit]',
          ) && /reserve/i.test(document.activeElement.textContent || document.activeElement.value),
      );
      if (onReserve) break;
      assert.ok(i < 10, 'no "Reserve" button within 10 Tab presses of the quantity');
    }
    assert.equal(
      await page.evaluate(
        () => document.activeElement.form?.querySelector("input[name=zone_id]")?.value,
      ),
      zoneId,
      "Tab from the quantity reaches the Reserve button of the same zone",
    );
    await Promise.all([
      page.waitForNavigation({ waitUntil: "load" }),
      page.keyboard.press("Enter"),
    ]);
    const id = await bookingIdFromPage("Enter on the Reserve button");
    assert.notEqual(id, state.bookingId, "a second booking");
    assert.equal(await bookingStatus(), "held");

    const cancel = page
      .locator(`form[action="/bookings/${id}/cancel"]`)
      .getByRole("button", { name: "Cancel hold" });
    assert.equal(
      await cancel.count(),
      1,
      `a "Cancel hold" button in form[action="/bookings/${id}/cancel"]`,
    );
    await submitWith(cancel);
    if (!pathOf(page.url()).startsWith(`/bookings/${id}`)) await open(`/bookings/${id}`);
    await waitForStatus("cancelled", 10_000);
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
