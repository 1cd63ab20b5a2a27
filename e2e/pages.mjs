// The pages the buyer and organizer flows do not reach, audited in headless Chromium:
// picking seats on a seat map, the waiting room (before joining, waiting, admitted),
// an organization's team page, the authenticator's set-up, a seat map drawn on a
// show's set-up page (refused, then drawn), and the admin's accounts, audit log and
// dead letters. Each at desktop size with axe-core (no serious or critical
// violation) and at phone size without sideways scrolling.
//
//   BOXOFFICE_E2E_URL=http://127.0.0.1:8080 \
//   BOXOFFICE_E2E_ORGANIZER_EMAIL=… BOXOFFICE_E2E_ORGANIZER_PASSWORD=… \
//   BOXOFFICE_E2E_ADMIN_EMAIL=… BOXOFFICE_E2E_ADMIN_PASSWORD=… node --test pages.mjs
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { assertNoSidewaysScroll, audit, launchChromium } from "./lib.mjs";

const BASE = process.env.BOXOFFICE_E2E_URL?.replace(/\/+$/, "");
const ORGANIZER = [process.env.BOXOFFICE_E2E_ORGANIZER_EMAIL, process.env.BOXOFFICE_E2E_ORGANIZER_PASSWORD];
const ADMIN = [process.env.BOXOFFICE_E2E_ADMIN_EMAIL, process.env.BOXOFFICE_E2E_ADMIN_PASSWORD];
const PHONE = { width: 360, height: 740 };
const DESKTOP = { width: 1280, height: 800 };

assert.ok(BASE, "BOXOFFICE_E2E_URL names the server");

let browser;
const errors = [];

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

/** A fresh browser session (its own cookies), signed in as `email`. */
async function session(email, password) {
  const context = await browser.newContext({ baseURL: BASE, viewport: DESKTOP, locale: "en-GB" });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy/i.test(m.text())) errors.push(`${page.url()}: ${m.text()}`);
  });
  await page.goto("/signin");
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForNavigation(), page.click('button:has-text("Sign in")')]);
  assert.ok(await page.isVisible('button:has-text("Sign out")'), `${email} is signed in`);
  return page;
}

/** A new buyer, signed up through the form. */
async function newBuyer() {
  const context = await browser.newContext({ baseURL: BASE, viewport: DESKTOP, locale: "en-GB" });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
  await page.goto("/signup");
  await page.fill('input[name="display_name"]', "Page Auditor");
  page.email = `pages-${Math.random().toString(36).slice(2, 10)}@example.com`;
  await page.fill('input[name="email"]', page.email);
  await page.fill('input[name="password"]', "correct horse battery");
  await Promise.all([page.waitForNavigation(), page.click('button:has-text("Create account")')]);
  return page;
}

/** Audits the page as it is, then again at phone width. */
async function check(page, label) {
  await page.setViewportSize(DESKTOP);
  await audit(page, label);
  await page.setViewportSize(PHONE);
  await assertNoSidewaysScroll(page, label);
  await audit(page, `${label} (phone)`);
  await page.setViewportSize(DESKTOP);
}

describe("the other pages", () => {
  it("the seat map and its seat list", async () => {
    const buyer = await newBuyer();
    await buyer.goto("/");
    const events = await buyer.$$eval('article.event a[href^="/events/"]', (as) => as.map((a) => a.getAttribute("href")));
    let seats = null;
    for (const href of events) {
      await buyer.goto(href);
      seats = await buyer.getAttribute('a[href$="/seats"]', "href").catch(() => null);
      if (seats) break;
    }
    assert.ok(seats, "a demo event has numbered seats");
    await buyer.goto(seats);
    assert.ok(await buyer.isVisible("figure.seatmap svg"), "the seat map is drawn in the page");
    await check(buyer, "the seat picker");
    // One seat picked on the map, one ticked in the list: both show on the map and are
    // held in one order.
    const boxes = buyer.locator('form.seat-pick input[type="checkbox"]');
    const first = await boxes.nth(0).getAttribute("data-index");
    await buyer.click(`figure.seatmap svg circle#s${first}`);
    assert.equal(await boxes.nth(0).isChecked(), true, "a click on the map ticks the seat's box");
    await boxes.nth(1).check();
    const second = await boxes.nth(1).getAttribute("data-index");
    for (const index of [first, second]) {
      assert.match(
        (await buyer.getAttribute(`figure.seatmap svg circle#s${index}`, "class")) ?? "",
        /\bp\b/,
        `seat ${index} shows as picked on the map`,
      );
    }
    await Promise.all([buyer.waitForNavigation(), buyer.click('button:has-text("Hold these seats")')]);
    assert.match(new URL(buyer.url()).pathname, /^\/bookings\//);
    assert.equal(await buyer.getAttribute(".status", "data-status"), "held");
    await buyer.context().close();
  });

  it("the waiting room, from joining to the pass", async () => {
    const organizer = await session(...ORGANIZER);
    await organizer.goto("/organize");
    await organizer.click('table a[href^="/organize/events/"]');
    const dashboard = await organizer.getAttribute('a[href^="/organize/shows/"]', "href");
    await organizer.goto(dashboard);
    if (await organizer.isVisible('button:has-text("Set up the waiting room")')) {
      await organizer.selectOption('select[name="method"]', "fifo");
      await organizer.fill('input[name="rate_per_sec"]', "50");
      await Promise.all([organizer.waitForNavigation(), organizer.click('button:has-text("Set up the waiting room")')]);
    }
    assert.ok(await organizer.isVisible("[data-queue-state]"), "the dashboard shows the waiting room");
    await check(organizer, "the dashboard with its waiting room");
    const show = dashboard.split("/").pop();

    // Paused, so the buyer stays in line while the page is audited.
    const steer = async (label) => {
      await Promise.all([organizer.waitForNavigation(), organizer.click(`button:has-text("${label}")`)]);
    };
    if (await organizer.isVisible('button:has-text("Pause")')) await steer("Pause");
    assert.equal(await organizer.innerText("[data-queue-state]"), "paused");

    const buyer = await newBuyer();
    await buyer.goto(`/shows/${show}/queue`);
    await check(buyer, "the waiting room before joining");
    await Promise.all([buyer.waitForNavigation(), buyer.click('button:has-text("Join the waiting room")')]);
    assert.ok(await buyer.isVisible('h2:has-text("You are in the queue")'));
    await check(buyer, "the waiting room while waiting");
    // Resumed: the place moves on its own and the page turns into the pass.
    await steer("Resume");
    await buyer.waitForSelector('h2:has-text("It is your turn")', { timeout: 15_000 });
    await buyer.waitForLoadState("load");
    await check(buyer, "the waiting room with a pass");
    await buyer.context().close();
    await organizer.context().close();
  });

  it("the organization's team page and the authenticator's set-up", async () => {
    const organizer = await session(...ORGANIZER);
    await organizer.goto("/organize");
    await organizer.click('a[href^="/organize/orgs/"]');
    assert.ok(await organizer.isVisible('h2:has-text("Members")'));
    await check(organizer, "the team page");
    await organizer.fill('input[name="name"]', "audit key");
    await Promise.all([organizer.waitForNavigation(), organizer.click('button:has-text("Create key")')]);
    assert.match(await organizer.innerText("code.secret"), /^bo_/);
    await check(organizer, "the team page showing a new key");
    await organizer.context().close();

    const buyer = await newBuyer();
    await buyer.goto("/account");
    await Promise.all([buyer.waitForNavigation(), buyer.click('button:has-text("Set up an authenticator")')]);
    assert.ok(await buyer.isVisible(".qr.enrol svg"), "the QR code to scan");
    await check(buyer, "the authenticator's set-up");
    await buyer.context().close();
  });

  it("a seat map drawn on a show's set-up page", async () => {
    const organizer = await session(...ORGANIZER);
    await organizer.goto("/organize");
    await organizer.click('table a[href^="/organize/events/"]');
    const event = new URL(organizer.url()).pathname.split("/").pop();
    // A show of its own, so the demo's sales are left alone.
    const add = organizer.locator(`form[action="/organize/events/${event}/shows"]`);
    for (const [name, value] of Object.entries({
      venue: "Salle Plan", starts_at: "2099-08-01T20:00", zone_name: "Parterre",
      zone_price: "30", zone_currency: "EUR", zone_capacity: "10",
    })) {
      await add.locator(`input[name="${name}"]`).fill(value);
    }
    await Promise.all([organizer.waitForNavigation(), add.locator('button:has-text("Add show")').click()]);
    const show = new URL(organizer.url()).pathname.split("/").pop();
    await organizer.goto(`/organize/shows/${show}/setup`);
    await check(organizer, "a show's set-up page");
    const draw = async (text) => {
      await organizer.fill("textarea#drawing", text);
      await Promise.all([organizer.waitForNavigation(), organizer.click('button:has-text("Seat the show")')]);
    };
    await draw("Stalls | A-C | 1-12 | Parterre\nStalls | F-D | 1-12 | Parterre");
    assert.match(await organizer.innerText("#drawing-note"), /Line 2: rows "F-D" run backwards/);
    assert.equal(await organizer.getAttribute("textarea#drawing", "aria-invalid"), "true");
    await check(organizer, "a show's set-up page with a refused drawing");
    await draw("Stalls | A-F | 1-8, 11-18 | Parterre | 1-2");
    assert.equal(new URL(organizer.url()).pathname, `/organize/shows/${show}/setup`);
    assert.match(await organizer.innerText("#seat-map ~ p"), /96 numbered seats/);
    assert.ok(await organizer.isVisible("img.seat-map"), "the map is drawn");
    await check(organizer, "a show's set-up page with its seat map");
    await organizer.context().close();
  });

  it("the admin's accounts page", async () => {
    const buyer = await newBuyer();
    await buyer.context().close();
    const admin = await session(...ADMIN);
    await admin.goto("/admin/users");
    await check(admin, "the accounts page");
    await admin.fill('input[name="q"]', buyer.email);
    await admin.selectOption('select#role', "buyer");
    await Promise.all([admin.waitForNavigation(), admin.click('button:has-text("Find")')]);
    const rows = admin.locator("table.accounts tbody tr");
    assert.equal(await rows.count(), 1, `one account is ${buyer.email}`);
    const row = rows.first();
    await row.locator('select[name="role"]').selectOption("organizer");
    await Promise.all([admin.waitForNavigation(), row.locator('button:has-text("Change")').click()]);
    assert.match(await admin.innerText("p.notice"), /is now organizer/);
    await check(admin, "the accounts page after a role change");
    await admin.context().close();
  });

  it("the admin's audit log and dead letters", async () => {
    const admin = await session(...ADMIN);
    await admin.goto("/admin/audit");
    assert.ok(await admin.isVisible("table.audit"), "entries are listed");
    await check(admin, "the audit log");
    await admin.fill('input[name="action"]', "auth.login.succeeded");
    await Promise.all([admin.waitForNavigation(), admin.click('button:has-text("Filter")')]);
    const actions = await admin.$$eval("table.audit td:nth-child(2) code", (cs) => cs.map((c) => c.textContent));
    assert.ok(actions.length > 0 && actions.every((a) => a === "auth.login.succeeded"), actions.join(", "));
    await admin.goto("/admin/dead-letters");
    await check(admin, "the dead letters");
    await admin.context().close();
  });

  it("no page raised a script error or broke its policy", () => {
    assert.deepEqual(errors, []);
  });
});
