// The README's API tour through a client generated from the served OpenAPI document:
// every path, body and answer below is type-checked against it (tsc --strict).
// Run by scripts/contract; exits non-zero on the first answer that is not as expected.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Problem = components["schemas"]["Problem"];

const base = process.env.BOXOFFICE_URL ?? "http://127.0.0.1:8080";
const api = createClient<paths>({ baseUrl: base });
const run = Date.now().toString(36);

function check(ok: boolean, what: string, detail?: unknown): asserts ok {
  if (!ok) {
    console.error(`tour: ${what}`, detail === undefined ? "" : JSON.stringify(detail));
    process.exit(1);
  }
}

function bearer(token: string) {
  return { headers: { authorization: `Bearer ${token}` } };
}

async function main(): Promise<void> {
  // An organizer signs up and publishes an event with one show and one zone.
  const org = await api.POST("/api/v1/auth/register", {
    body: {
      email: `organizer-${run}@example.com`,
      password: "correct horse battery staple",
      display_name: "Olga Organizer",
      role: "organizer",
    },
  });
  check(org.response.status === 201 && org.data !== undefined, "register organizer", org.error);
  check(org.data.user.role === "organizer", "organizer role", org.data.user);
  const orgToken = org.data.access_token;

  const event = await api.POST("/api/v1/events", {
    ...bearer(orgToken),
    body: { title: `Jazz Night ${run}`, category: "concert", city: "Lyon" },
  });
  check(event.response.status === 201 && event.data !== undefined, "create event", event.error);
  check(event.data.category === "concert", "event category", event.data);

  const starts = new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString();
  const show = await api.POST("/api/v1/events/{id}/shows", {
    ...bearer(orgToken),
    params: { path: { id: event.data.id } },
    body: {
      venue: "Salle 3",
      starts_at: starts,
      hold_ttl_secs: 600,
      per_user_limit: 4,
      zones: [{ name: "Floor", price_minor: 4500, currency: "EUR", capacity: 800 }],
    },
  });
  check(show.response.status === 201 && show.data !== undefined, "create show", show.error);
  check(show.data.sale_state === "open", "sale is open", show.data);
  const zone = show.data.zones[0];
  check(zone !== undefined && zone.available === 800, "zone with 800 tickets", show.data.zones);

  // A buyer signs up, browses and holds two tickets.
  const buyer = await api.POST("/api/v1/auth/register", {
    body: {
      email: `buyer-${run}@example.com`,
      password: "correct horse battery staple",
      display_name: "Bruno Buyer",
    },
  });
  check(buyer.response.status === 201 && buyer.data !== undefined, "register buyer", buyer.error);
  check(buyer.data.user.role === "buyer", "buyer role", buyer.data.user);
  const token = buyer.data.access_token;

  const found = await api.GET("/api/v1/events", {
    params: { query: { q: `Jazz Night ${run}`, city: "Lyon", category: "concert", per_page: 10 } },
  });
  check(found.data !== undefined && found.data.total === 1, "browse finds the event", found.data ?? found.error);
  check(found.data.items[0]?.id === event.data.id, "the event is the one published", found.data.items);

  const shows = await api.GET("/api/v1/events/{id}/shows", {
    params: { path: { id: event.data.id } },
  });
  check(shows.data !== undefined && shows.data[0]?.id === show.data.id, "the event's shows", shows.data);

  const reserve = () =>
    api.POST("/api/v1/bookings/reserve", {
      ...bearer(token),
      params: { header: { "Idempotency-Key": `tour-${run}-reserve-1` } },
      body: { show_id: show.data.id, zone_id: zone.id, quantity: 2 },
    });
  const held = await reserve();
  check(held.response.status === 201 && held.data !== undefined, "reserve", held.error);
  check(held.data.status === "held" && held.data.total_minor === 9000, "a hold of 2 × 45.00", held.data);
  const replay = await reserve();
  check(
    replay.response.headers.get("idempotent-replayed") === "true" && replay.data?.id === held.data.id,
    "a retry with the same Idempotency-Key replays the hold",
    replay.data,
  );

  // A paid hold is confirmed by its payment, not by asking.
  const asked = await api.POST("/api/v1/bookings/{id}/confirm", {
    ...bearer(token),
    params: { path: { id: held.data.id } },
  });
  check(
    asked.response.status === 409 && asked.error?.type === "/problems/payment-required",
    "a paid hold is not confirmed without its payment",
    asked.error,
  );
  const paid = await api.POST("/api/v1/bookings/{id}/checkout", {
    ...bearer(token),
    params: { path: { id: held.data.id }, header: { "Idempotency-Key": `tour-${run}-pay-1` } },
    body: { payment_method: "pm_card_ok" },
  });
  check(paid.response.status === 202 && paid.data?.payment?.amount_minor === 9000, "checkout", paid.data ?? paid.error);
  let status = paid.data.booking.status;
  for (let i = 0; i < 100 && status !== "confirmed"; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const now = await api.GET("/api/v1/bookings/{id}", { ...bearer(token), params: { path: { id: held.data.id } } });
    status = now.data?.status ?? status;
  }
  check(status === "confirmed", "the captured payment confirms the booking", status);
  const money = await api.GET("/api/v1/bookings/{id}/payments", {
    ...bearer(token),
    params: { path: { id: held.data.id } },
  });
  check(
    money.data?.ledger.map((l) => l.kind).join(",") === "charge,capture",
    "the ledger has the charge and the capture",
    money.data ?? money.error,
  );

  const other = await api.POST("/api/v1/bookings/reserve", {
    ...bearer(token),
    body: { show_id: show.data.id, zone_id: zone.id, quantity: 1 },
  });
  check(other.response.status === 201 && other.data !== undefined, "a second hold", other.error);
  const cancelled = await api.POST("/api/v1/bookings/{id}/cancel", {
    ...bearer(token),
    params: { path: { id: other.data.id } },
  });
  check(cancelled.data?.status === "cancelled", "cancel", cancelled.data ?? cancelled.error);

  const mine = await api.GET("/api/v1/bookings", {
    ...bearer(token),
    params: { query: { status: "held,confirmed" } },
  });
  check(mine.data?.total === 1 && mine.data.items[0]?.id === held.data.id, "my live bookings", mine.data);
  const pending = await api.GET("/api/v1/bookings/pending", bearer(token));
  check(pending.data?.total === 0, "nothing pending", pending.data);

  // Over the per-buyer limit: a typed problem, nothing taken.
  const tooMany = await api.POST("/api/v1/bookings/reserve", {
    ...bearer(token),
    body: { show_id: show.data.id, zone_id: zone.id, quantity: 3 },
  });
  const problem: Problem | undefined = tooMany.error;
  check(
    tooMany.response.status === 409 && problem?.type === "/problems/limit-reached",
    "the per-buyer limit is a 409 limit-reached problem",
    problem,
  );

  const sales = await api.GET("/api/v1/shows/{id}/sales", {
    ...bearer(orgToken),
    params: { path: { id: show.data.id } },
  });
  check(sales.data !== undefined && sales.data.consistent, "sales are consistent", sales.data ?? sales.error);
  check(sales.data.revenue.net_minor === 9000 && sales.data.revenue.mismatches.length === 0, "revenue by the ledger", sales.data.revenue);
  const floor = sales.data.zones[0];
  check(
    floor !== undefined && floor.sold === 2 && floor.held === 0 && floor.available === 798,
    "2 sold, none held, 798 left",
    floor,
  );
  console.log("tour: OK (organizer, event, show, buyer, browse, reserve, replay, checkout, cancel, lists, limit, sales)");
}

main().catch((e: unknown) => {
  console.error("tour: failed", e);
  process.exit(1);
});
