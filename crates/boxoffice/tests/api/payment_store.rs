//! The payment store on both backends: every change moves its record once, and only
//! the change that moved it writes the ledger row, the booking step and the events.
use crate::on_both_backends;
use crate::store_suite::{at, booking, event, organizations, show, store, user, zone, HOUR};
use crate::support::Backend;
use boxoffice::store::{
    AccountStore, BookingStep, BookingStore, BookingWrite, CatalogStore, Deadline, LedgerEntry,
    LedgerKind, PaymentChange, PaymentRecord, PaymentStore, RefundChange, RefundRecord, StoreError,
};
use boxoffice_domain::account::Role;
use boxoffice_domain::booking::{BookingAction, BookingStatus};
use boxoffice_domain::payment::{
    PaymentStatus, RefundPolicy, RefundReason, RefundStatus, RefundTier,
};
use boxoffice_domain::{BookingId, Money, Timestamp};

fn payment(b: &boxoffice::store::BookingRecord, attempt: u32, now: Timestamp) -> PaymentRecord {
    PaymentRecord {
        id: uuid::Uuid::now_v7().to_string(),
        booking_id: b.id,
        user_id: b.user_id,
        show_id: b.show_id,
        attempt,
        amount: b.unit_price.times(b.quantity).unwrap(),
        payment_method: "pm_card_visa".into(),
        status: PaymentStatus::Pending,
        intent_id: None,
        failure_code: None,
        captured_at: None,
        created_at: now,
        updated_at: now,
    }
}

fn ledger(p: &PaymentRecord, kind: LedgerKind, reference: &str, amount: Money) -> LedgerEntry {
    LedgerEntry {
        id: uuid::Uuid::now_v7().to_string(),
        booking_id: p.booking_id,
        show_id: p.show_id,
        payment_id: p.id.clone(),
        refund_id: None,
        kind,
        amount,
        external_ref: reference.into(),
        at: at(0),
    }
}

fn capture(p: &PaymentRecord, intent: &str, captured: Timestamp) -> PaymentChange {
    PaymentChange {
        payment_id: p.id.clone(),
        to: PaymentStatus::Succeeded,
        at: captured,
        intent_id: Some(intent.into()),
        captured_at: Some(captured),
        failure_code: None,
        ledger: Some(ledger(p, LedgerKind::Capture, intent, p.amount)),
        booking: Some(BookingStep {
            action: BookingAction::Confirm,
            deadline: Deadline::NotPassed,
            at: captured,
        }),
    }
}

async fn events_of(s: &boxoffice::store::SqlStore, aggregate: &str) -> Vec<String> {
    s.outbox_after(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.aggregate_id == aggregate)
        .map(|e| e.event_type)
        .collect()
}

async fn payments_settle_once(backend: Backend) {
    let (s, _db) = store(backend).await;
    let org = user("olga@example.com", Role::Organizer);
    let ana = user("ana@example.com", Role::Buyer);
    s.insert_users(&[org.clone(), ana.clone()]).await.unwrap();
    organizations(&s, &[&org]).await;
    let e = event(org.id, "Night", "concert", "Lyon", 0);
    s.insert_event(&e).await.unwrap();
    let sh = show(e.id, at(30 * 24 * HOUR));
    s.insert_show(&sh).await.unwrap();
    let floor = zone(sh.id, "Floor", 100);
    s.insert_zone(&floor).await.unwrap();
    let deadline = at(10 * 60 * 1000);
    let paid = booking(ana.id, &floor, 2, deadline);
    let late = booking(ana.id, &floor, 1, deadline);
    s.apply(&[
        BookingWrite::Hold(paid.clone()),
        BookingWrite::Hold(late.clone()),
    ])
    .await
    .unwrap();

    // Starting: the booking moves to payment_pending with the payment row; a second
    // start while it is pending writes nothing.
    let p1 = payment(&paid, 1, at(1_000));
    let started = s.start_payment(&p1, at(1_000)).await.unwrap().unwrap();
    assert_eq!(started.status, BookingStatus::PaymentPending);
    let p2 = payment(&paid, 2, at(2_000));
    assert!(s.start_payment(&p2, at(2_000)).await.unwrap().is_none());
    assert!(matches!(s.payment(&p2.id).await, Err(StoreError::NotFound)));
    // Nobody else's booking, and not after the deadline.
    let mut foreign = payment(&late, 1, at(1_000));
    foreign.user_id = org.id;
    assert!(s
        .start_payment(&foreign, at(1_000))
        .await
        .unwrap()
        .is_none());
    assert!(s
        .start_payment(&payment(&late, 1, deadline), deadline)
        .await
        .unwrap()
        .is_none());

    let charge = ledger(&p1, LedgerKind::Charge, "pi_1", p1.amount);
    let processing = s
        .payment_processing(&p1.id, "pi_1", &charge, at(1_500))
        .await
        .unwrap();
    assert_eq!(processing.status, PaymentStatus::Processing);
    assert_eq!(processing.intent_id.as_deref(), Some("pi_1"));
    assert_eq!(s.payment_by_intent("pi_1").await.unwrap().id, p1.id);

    // The capture confirms the booking, once.
    let done = s
        .change_payment(&capture(&p1, "pi_1", at(5_000)))
        .await
        .unwrap();
    assert!(done.changed);
    assert_eq!(done.record.status, PaymentStatus::Succeeded);
    assert_eq!(done.booking.unwrap().status, BookingStatus::Confirmed);
    let again = s
        .change_payment(&capture(&p1, "pi_1", at(6_000)))
        .await
        .unwrap();
    assert!(!again.changed, "a duplicate webhook changes nothing");
    assert!(again.booking.is_none());
    let rows = s.ledger_of(paid.id).await.unwrap();
    let kinds: Vec<LedgerKind> = rows.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, vec![LedgerKind::Charge, LedgerKind::Capture]);
    assert_eq!(events_of(&s, &p1.id).await, vec!["payment.succeeded"]);
    let booking_events = events_of(&s, &paid.id.to_string()).await;
    assert_eq!(
        booking_events,
        vec![
            "booking.reserved",
            "booking.payment_started",
            "booking.confirmed"
        ]
    );

    // A full refund takes the sale back, once, with its ledger row.
    let refund = RefundRecord {
        id: uuid::Uuid::now_v7().to_string(),
        booking_id: paid.id,
        payment_id: p1.id.clone(),
        show_id: paid.show_id,
        user_id: ana.id,
        amount: p1.amount,
        percent: 100,
        reason: RefundReason::Requested,
        status: RefundStatus::Processing,
        requested_by: Some(ana.id),
        decided_by: None,
        gateway_refund_id: None,
        failure: None,
        created_at: at(7_000),
        updated_at: at(7_000),
    };
    s.insert_refund(&refund).await.unwrap();
    let succeed = RefundChange {
        refund_id: refund.id.clone(),
        from: vec![RefundStatus::Processing, RefundStatus::Failed],
        to: RefundStatus::Succeeded,
        at: at(8_000),
        decided_by: None,
        amount: None,
        gateway_refund_id: Some("re_1".into()),
        failure: None,
        ledger: Some(LedgerEntry {
            refund_id: Some(refund.id.clone()),
            ..ledger(&p1, LedgerKind::Refund, "re_1", p1.amount)
        }),
        booking: Some(BookingStep {
            action: BookingAction::Refund,
            deadline: Deadline::Any,
            at: at(8_000),
        }),
    };
    let refunded = s.change_refund(&succeed).await.unwrap();
    assert!(refunded.changed);
    assert_eq!(refunded.booking.unwrap().status, BookingStatus::Refunded);
    assert!(!s.change_refund(&succeed).await.unwrap().changed);
    assert_eq!(s.refund_by_gateway_id("re_1").await.unwrap().id, refund.id);
    let money = s.show_money(sh.id).await.unwrap();
    assert_eq!(money.len(), 1);
    assert_eq!(money[0].captured_minor, p1.amount.amount_minor);
    assert_eq!(money[0].refunded_minor, p1.amount.amount_minor);

    // A failed attempt keeps the hold; a capture of it after the deadline moves the
    // payment but not the booking (the saga decides what happens to the money).
    let p3 = payment(&late, 1, at(1_000));
    s.start_payment(&p3, at(1_000)).await.unwrap().unwrap();
    s.payment_processing(
        &p3.id,
        "pi_3",
        &ledger(&p3, LedgerKind::Charge, "pi_3", p3.amount),
        at(1_100),
    )
    .await
    .unwrap();
    let failed = s
        .change_payment(&PaymentChange {
            payment_id: p3.id.clone(),
            to: PaymentStatus::Failed,
            at: at(2_000),
            intent_id: None,
            captured_at: None,
            failure_code: Some("card_declined".into()),
            ledger: None,
            booking: Some(BookingStep {
                action: BookingAction::FailPayment,
                deadline: Deadline::Any,
                at: at(2_000),
            }),
        })
        .await
        .unwrap();
    assert_eq!(failed.booking.unwrap().status, BookingStatus::PaymentFailed);
    let overdue = s.overdue_payment_holds(deadline, 10).await.unwrap();
    assert_eq!(
        overdue.iter().map(|b| b.id).collect::<Vec<BookingId>>(),
        vec![late.id]
    );
    assert!(s
        .overdue_payment_holds(at(1_000), 10)
        .await
        .unwrap()
        .is_empty());
    let after = s
        .change_payment(&capture(&p3, "pi_3", deadline.plus_secs(1)))
        .await
        .unwrap();
    assert!(after.changed, "a capture overrides a failure");
    assert!(after.booking.is_none(), "but not the deadline");
    assert_eq!(
        s.booking(late.id).await.unwrap().status,
        BookingStatus::PaymentFailed
    );

    // Refund policies round-trip and replace.
    assert_eq!(s.refund_policy(sh.id).await.unwrap(), None);
    let policy = RefundPolicy::parse(vec![RefundTier {
        min_hours_before: 24,
        percent: 80,
    }])
    .unwrap();
    s.set_refund_policy(sh.id, &policy, at(0)).await.unwrap();
    s.set_refund_policy(sh.id, &policy, at(1)).await.unwrap();
    assert_eq!(s.refund_policy(sh.id).await.unwrap(), Some(policy));
    s.close().await;
}

on_both_backends!(payments_settle_once);
