//! Demo data for a first start: three accounts (their random passwords are printed
//! once, then only their hashes exist) and a few events with shows on sale, so
//! `cargo run --release` is immediately explorable.
use crate::accounts::{NewAccount, Principal};
use crate::catalog::{EventInput, ShowInput, ZoneInput};
use crate::seating::{CategoryZone, LayoutRequest, LayoutRowInput, ShowSeatingRequest};
use crate::state::AppState;
use crate::timefmt::rfc3339;
use base64::Engine;
use boxoffice_domain::account::Role;
use rand::RngCore;

fn random_password() -> String {
    let mut bytes = [0u8; 15];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn zone(name: &str, price_minor: i64, capacity: i64) -> ZoneInput {
    ZoneInput {
        name: name.into(),
        price_minor,
        currency: "EUR".into(),
        capacity,
    }
}

/// Seeds demo data when the database has no accounts yet.
pub async fn seed_if_empty(state: &AppState) -> anyhow::Result<()> {
    if state.store.count_users().await? > 0 {
        return Ok(());
    }
    let mut principals = Vec::new();
    for (role, email, name) in [
        ("admin", "admin@boxoffice.local", "Ada Admin"),
        ("organizer", "organizer@boxoffice.local", "Olga Organizer"),
        ("buyer", "buyer@boxoffice.local", "Bruno Buyer"),
    ] {
        let password = random_password();
        let account = NewAccount {
            email: email.into(),
            password: password.clone(),
            display_name: name.into(),
            role: Some(role.into()),
        };
        let user = state
            .accounts
            .create(account, true)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("demo account  role={role:<9}  email={email:<26}  password={password}");
        if user.role == Role::Organizer {
            state
                .organizations
                .create_personal(user.id, &user.display_name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        principals.push(Principal::user(user.id, user.role));
    }
    let organizer = principals[1];
    let now = state.clock.now();
    let day = 24 * 3600;
    let events = [
        (
            EventInput {
                title: "Aurora Live — World Tour".into(),
                description: "Synth-pop under the northern lights.".into(),
                category: boxoffice_domain::catalog::Category::Concert,
                city: "Lisbon".into(),
                organization_id: None,
            },
            vec![
                (
                    "Altice Arena",
                    30,
                    0,
                    vec![zone("Floor", 8_900, 2_000), zone("Balcony", 6_500, 800)],
                ),
                (
                    "Altice Arena",
                    31,
                    0,
                    vec![zone("Floor", 8_900, 2_000), zone("Balcony", 6_500, 800)],
                ),
            ],
        ),
        (
            EventInput {
                title: "City Derby".into(),
                description: "The season's decisive match.".into(),
                category: boxoffice_domain::catalog::Category::Sports,
                city: "Madrid".into(),
                organization_id: None,
            },
            vec![(
                "Estadio Central",
                14,
                0,
                vec![
                    zone("North Stand", 4_500, 5_000),
                    zone("VIP Box", 25_000, 200),
                ],
            )],
        ),
        (
            EventInput {
                title: "Stand-up Night".into(),
                description: "Five comedians, one microphone.".into(),
                category: boxoffice_domain::catalog::Category::Comedy,
                city: "Paris".into(),
                organization_id: None,
            },
            vec![("Le Petit Théâtre", 20, 2, vec![zone("Hall", 2_500, 300)])],
        ),
    ];
    for (event, shows) in events {
        let created = state
            .catalog
            .create_event(organizer, event)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for (venue, in_days, opens_in_days, zones) in shows {
            let show = ShowInput {
                venue: venue.into(),
                starts_at: rfc3339(now.plus_secs(in_days * day)),
                sale_opens_at: Some(rfc3339(now.plus_secs(opens_in_days * day))),
                sale_closes_at: None,
                hold_ttl_secs: None,
                per_user_limit: None,
                zones,
            };
            state
                .catalog
                .create_show(organizer, created.id, show)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    seed_seated_show(state, organizer).await?;
    tracing::info!("demo data created");
    Ok(())
}

/// A concert hall sold by seat: twelve stalls rows and four circle rows, two price
/// categories, the first seats of row A accessible.
async fn seed_seated_show(state: &AppState, organizer: Principal) -> anyhow::Result<()> {
    let fail = |e: crate::error::Error| anyhow::anyhow!("{e}");
    let event = state
        .catalog
        .create_event(
            organizer,
            EventInput {
                title: "Chamber Orchestra — Goldberg Variations".into(),
                description: "Bach by candlelight, every seat numbered.".into(),
                category: boxoffice_domain::catalog::Category::Concert,
                city: "Porto".into(),
                organization_id: None,
            },
        )
        .await
        .map_err(fail)?;
    let now = state.clock.now();
    let show = ShowInput {
        venue: "Teatro Nacional".into(),
        starts_at: rfc3339(now.plus_secs(21 * 24 * 3600)),
        sale_opens_at: Some(rfc3339(now)),
        sale_closes_at: None,
        hold_ttl_secs: None,
        per_user_limit: None,
        zones: vec![zone("Stalls", 5_500, 1), zone("Circle", 3_500, 1)],
    };
    let show = state
        .catalog
        .create_show(organizer, event.id, show)
        .await
        .map_err(fail)?;
    let bundle = state.store.show_bundle(show.id).await?;
    let mut rows = Vec::new();
    for (n, (section, category, row)) in (0..12)
        .map(|r| ("Stalls", "S", r))
        .chain((0..4).map(|r| ("Circle", "C", r)))
        .enumerate()
    {
        let width = if section == "Stalls" { 24 } else { 30 };
        rows.push(LayoutRowInput {
            section: section.into(),
            row: char::from(b'A' + u8::try_from(row).unwrap_or(0)).to_string(),
            first: 1,
            count: width,
            x: 12 * (30 - i32::try_from(width).unwrap_or(30)) / 2,
            y: 20 + 12 * i32::try_from(n).unwrap_or(0),
            spacing: Some(12),
            category: category.into(),
            accessible: if section == "Stalls" && row == 0 {
                vec![1, 24]
            } else {
                vec![]
            },
            companion: if section == "Stalls" && row == 0 {
                vec![2, 23]
            } else {
                vec![]
            },
        });
    }
    let layout = state
        .seating
        .create_layout(
            organizer,
            LayoutRequest {
                organization_id: bundle.organization_id,
                name: "Teatro Nacional".into(),
                rows,
            },
        )
        .await
        .map_err(fail)?;
    state
        .seating
        .set_show_seating(
            organizer,
            show.id,
            ShowSeatingRequest {
                layout_id: layout.id,
                categories: vec![
                    CategoryZone {
                        category: "S".into(),
                        zone_id: show.zones[0].id,
                    },
                    CategoryZone {
                        category: "C".into(),
                        zone_id: show.zones[1].id,
                    },
                ],
                blocked: Vec::new(),
            },
        )
        .await
        .map_err(fail)?;
    Ok(())
}
