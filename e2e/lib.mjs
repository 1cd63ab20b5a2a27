// What the browser tests share: the accessibility audit and the layout check.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = readFile(require.resolve("axe-core/axe.min.js"), "utf8");

/**
 * Audits `page` with axe-core and fails on any serious or critical violation, listing
 * each with the elements concerned.
 *
 * axe is evaluated through the DevTools protocol rather than added as a <script> tag:
 * the pages' policy (no 'unsafe-inline' in script-src) rightly refuses an injected
 * inline script, and the audit must not need that policy relaxed.
 */
export async function audit(page, label) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) {
    await page.evaluate(await axeSource);
  }
  const result = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ["violations"] }),
  );
  const blocking = result.violations.filter((v) => ["serious", "critical"].includes(v.impact));
  const report = blocking
    .map(
      (v) =>
        `  [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n` +
        v.nodes
          .slice(0, 5)
          .map(
            (n) =>
              `      ${n.target.join(" ")}\n        ${n.failureSummary.replace(/\n/g, "\n        ")}`,
          )
          .join("\n"),
    )
    .join("\n");
  assert.equal(
    blocking.length,
    0,
    `axe: ${blocking.length} serious or critical violation(s) on ${label} (${page.url()}):\n${report}`,
  );
}

/** `page` must not scroll sideways at its current size. */
export async function assertNoSidewaysScroll(page, label) {
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  assert.ok(overflow <= 0, `${label} scrolls sideways by ${overflow}px`);
}

/** Debian's Chromium, headless, with the flags these tests run it with. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/**
 * Records in `health` what `page` reports while a scenario runs: script errors,
 * violations of its Content-Security-Policy, and stylesheets, scripts, images, fonts
 * or live updates (Server-Sent Events) that failed to load.
 */
export function watch(page, health) {
  page.on("pageerror", (error) => health.pageErrors.push(`${page.url()}: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy/i.test(message.text())) {
      health.cspViolations.push(`${page.url()}: ${message.text()}`);
    }
  });
  page.on("response", (response) => {
    const type = response.request().resourceType();
    const url = new URL(response.url());
    if (
      response.status() >= 400 &&
      ["stylesheet", "script", "image", "font", "eventsource"].includes(type) &&
      url.pathname !== "/favicon.ico"
    ) {
      health.failedResources.push(`${type} ${response.url()}: ${response.status()}`);
    }
  });
}
