//! After the sale, the server's own sales report must agree with what the buyers were
//! told: nothing oversold, nobody above the limit, every acknowledged hold recorded.
use super::api::{Api, Sales, Show};
use std::time::Duration;

/// How long to wait for writes still in flight before judging.
const SETTLE: Duration = Duration::from_secs(5);

/// What the load generator observed, to compare with the server's report.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub capacity: u32,
    pub per_user_limit: u32,
    pub quantity: u32,
    /// Reserves answered `201`.
    pub holds: u64,
    /// Holds confirmed (`--confirm`).
    pub confirmed: Option<u64>,
    /// Most holds one buyer received.
    pub max_holds_per_buyer: u32,
    /// Buyers told `limit-reached` while they still had room for `quantity` more.
    pub false_limit_reached: u64,
    pub sold_out_seen: bool,
    /// Reserves without an answer: their outcome is unknown.
    pub unanswered: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

fn check(name: &'static str, passed: bool, detail: String) -> Check {
    Check {
        name,
        passed,
        detail,
    }
}

/// Every check of `sales` against `seen`.
pub fn checks(sales: &Sales, seen: &Observed) -> Vec<Check> {
    let mut out = vec![check(
        "server reports consistent",
        sales.consistent,
        format!("consistent = {}", sales.consistent),
    )];
    let Some(z) = sales.zones.first() else {
        out.push(check(
            "zone present",
            false,
            "the sales report has no zone".into(),
        ));
        return out;
    };
    let q = u64::from(seen.quantity);
    let committed = u64::from(z.held) + u64::from(z.sold);
    let recorded = u64::from(z.recorded_held) + u64::from(z.recorded_sold);
    let expected = seen.holds * q;
    let unknown = if seen.unanswered > 0 {
        format!(
            " ({} requests got no answer; their outcome is unknown)",
            seen.unanswered
        )
    } else {
        String::new()
    };
    out.push(check(
        "held + sold == acknowledged holds x quantity",
        committed == expected,
        format!(
            "{} + {} = {committed}, expected {} x {q} = {expected}{unknown}",
            z.held, z.sold, seen.holds
        ),
    ));
    out.push(check(
        "live counters == recorded bookings",
        committed == recorded && z.held == z.recorded_held && z.sold == z.recorded_sold,
        format!(
            "live held {} sold {}, recorded held {} sold {}",
            z.held, z.sold, z.recorded_held, z.recorded_sold
        ),
    ));
    if let Some(confirmed) = seen.confirmed {
        out.push(check(
            "sold == confirmed x quantity",
            u64::from(z.sold) == confirmed * q,
            format!("sold {}, expected {confirmed} x {q}", z.sold),
        ));
    }
    let sum = u64::from(z.available) + committed;
    out.push(check(
        "available + held + sold == capacity",
        sum == u64::from(z.capacity) && z.capacity == seen.capacity,
        format!(
            "{} + {} + {} = {sum}, capacity {} (created with {})",
            z.available, z.held, z.sold, z.capacity, seen.capacity
        ),
    ));
    out.push(check(
        "not oversold",
        committed <= u64::from(seen.capacity),
        format!("{committed} committed of {}", seen.capacity),
    ));
    let limit = seen.per_user_limit;
    out.push(check(
        "per-buyer limit (server)",
        sales.max_per_buyer <= limit
            && sales.recorded_max_per_buyer <= limit
            && sales.per_user_limit == limit,
        format!(
            "max per buyer {} live, {} recorded, limit {} (server says {})",
            sales.max_per_buyer, sales.recorded_max_per_buyer, limit, sales.per_user_limit
        ),
    ));
    let client_max = u64::from(seen.max_holds_per_buyer) * q;
    out.push(check(
        "per-buyer limit (client)",
        client_max <= u64::from(limit),
        format!("most tickets acknowledged to one buyer: {client_max}, limit {limit}"),
    ));
    out.push(check(
        "limit-reached only at the limit",
        seen.false_limit_reached == 0,
        format!(
            "{} buyers refused while below the limit",
            seen.false_limit_reached
        ),
    ));
    if seen.sold_out_seen {
        out.push(check(
            "sold out only when sold out",
            z.available < seen.quantity,
            format!(
                "sold out was answered; {} tickets still available (quantity {})",
                z.available, seen.quantity
            ),
        ));
    }
    out
}

/// Reads the sales report, waiting up to a few seconds for it to settle, and checks it.
pub async fn verify(api: &Api, show: &Show, seen: &Observed) -> anyhow::Result<Vec<Check>> {
    let started = tokio::time::Instant::now();
    loop {
        let mut sales = api.sales(show).await?;
        // The zone on sale: an existing show may have others.
        sales
            .zones
            .retain(|z| z.zone_id.to_string() == show.zone_id);
        let result = checks(&sales, seen);
        if result.iter().all(|c| c.passed) || started.elapsed() >= SETTLE {
            return Ok(result);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::ZoneSales;

    fn sales(available: u32, held: u32, sold: u32) -> Sales {
        Sales {
            show_id: boxoffice_domain::ShowId::new(),
            per_user_limit: 2,
            max_per_buyer: 2,
            recorded_max_per_buyer: 2,
            consistent: true,
            revenue: Default::default(),
            zones: vec![ZoneSales {
                zone_id: boxoffice_domain::ZoneId::new(),
                name: "GA".into(),
                capacity: available + held + sold,
                available,
                held,
                sold,
                recorded_held: held,
                recorded_sold: sold,
            }],
        }
    }

    fn seen() -> Observed {
        Observed {
            capacity: 10,
            per_user_limit: 2,
            quantity: 1,
            holds: 10,
            confirmed: None,
            max_holds_per_buyer: 2,
            false_limit_reached: 0,
            sold_out_seen: true,
            unanswered: 0,
        }
    }

    fn failed(sales: &Sales, seen: &Observed) -> Vec<&'static str> {
        checks(sales, seen)
            .into_iter()
            .filter(|c| !c.passed)
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn a_clean_sell_out_passes() {
        assert!(failed(&sales(0, 10, 0), &seen()).is_empty());
        let with_confirm = Observed {
            confirmed: Some(4),
            ..seen()
        };
        assert!(failed(&sales(0, 6, 4), &with_confirm).is_empty());
        assert_eq!(
            failed(&sales(0, 7, 3), &with_confirm),
            ["sold == confirmed x quantity"]
        );
    }

    #[test]
    fn lost_and_phantom_holds_fail() {
        assert_eq!(
            failed(&sales(1, 9, 0), &seen()),
            [
                "held + sold == acknowledged holds x quantity",
                "sold out only when sold out"
            ]
        );
        let mut s = sales(0, 10, 0);
        s.zones[0].recorded_held = 9;
        s.consistent = false;
        assert_eq!(
            failed(&s, &seen()),
            [
                "server reports consistent",
                "live counters == recorded bookings"
            ]
        );
    }

    #[test]
    fn overselling_and_limits_fail() {
        let over = Observed {
            capacity: 9,
            ..seen()
        };
        let names = failed(&sales(0, 10, 0), &over);
        assert!(names.contains(&"not oversold"), "{names:?}");
        assert!(names.contains(&"available + held + sold == capacity"));
        let greedy = Observed {
            max_holds_per_buyer: 3,
            false_limit_reached: 1,
            ..seen()
        };
        assert_eq!(
            failed(&sales(0, 10, 0), &greedy),
            [
                "per-buyer limit (client)",
                "limit-reached only at the limit"
            ]
        );
        let mut s = sales(0, 10, 0);
        s.max_per_buyer = 3;
        assert_eq!(failed(&s, &seen()), ["per-buyer limit (server)"]);
    }
}
