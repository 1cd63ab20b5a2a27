//! Mail templates, embedded in the binary: `templates/mail/<name>.txt` and
//! `<name>.html` rendered by minijinja from one context. HTML output is autoescaped;
//! the text template sets the subject (`{% set subject = "…" %}`).
use anyhow::{anyhow, Context};
use minijinja::Environment;
use serde::Serialize;

/// Templates of account mail, whose context carries an emailed token.
#[cfg(test)]
const ACCOUNT_TEMPLATES: &[&str] = &["verify_email", "password_reset", "invitation"];

/// `(name, text, html)` of every template.
const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "verify_email",
        include_str!("../../templates/mail/verify_email.txt"),
        include_str!("../../templates/mail/verify_email.html"),
    ),
    (
        "password_reset",
        include_str!("../../templates/mail/password_reset.txt"),
        include_str!("../../templates/mail/password_reset.html"),
    ),
    (
        "invitation",
        include_str!("../../templates/mail/invitation.txt"),
        include_str!("../../templates/mail/invitation.html"),
    ),
    (
        "booking_confirmed",
        include_str!("../../templates/mail/booking_confirmed.txt"),
        include_str!("../../templates/mail/booking_confirmed.html"),
    ),
    (
        "hold_expired",
        include_str!("../../templates/mail/hold_expired.txt"),
        include_str!("../../templates/mail/hold_expired.html"),
    ),
    (
        "payment_failed",
        include_str!("../../templates/mail/payment_failed.txt"),
        include_str!("../../templates/mail/payment_failed.html"),
    ),
    (
        "refund_processed",
        include_str!("../../templates/mail/refund_processed.txt"),
        include_str!("../../templates/mail/refund_processed.html"),
    ),
    (
        "tickets_issued",
        include_str!("../../templates/mail/tickets_issued.txt"),
        include_str!("../../templates/mail/tickets_issued.html"),
    ),
];

/// A rendered message: subject, text and HTML bodies.
#[derive(Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        // `.html` names are HTML-escaped, `.txt` names are not (minijinja's default
        // by file extension); undefined variables are errors, not blanks.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, text, html) in TEMPLATES {
            env.add_template_owned(format!("{name}.txt"), *text)
                .unwrap_or_else(|e| panic!("mail template {name}.txt: {e}"));
            env.add_template_owned(format!("{name}.html"), *html)
                .unwrap_or_else(|e| panic!("mail template {name}.html: {e}"));
        }
        Self { env }
    }

    /// Names of every template.
    pub fn names() -> impl Iterator<Item = &'static str> {
        TEMPLATES.iter().map(|(name, _, _)| *name)
    }

    pub fn render(&self, name: &str, context: impl Serialize) -> anyhow::Result<Rendered> {
        let context = minijinja::Value::from_serialize(&context);
        let text = self
            .env
            .get_template(&format!("{name}.txt"))
            .with_context(|| format!("no mail template {name}"))?;
        let captured = text
            .render_captured(&context)
            .with_context(|| format!("rendering {name}.txt"))?;
        let subject = captured
            .state()
            .lookup("subject")
            .and_then(|s| s.as_str().map(str::to_owned))
            .ok_or_else(|| anyhow!("{name}.txt sets no subject"))?;
        let text = captured.into_output();
        let html = self
            .env
            .get_template(&format!("{name}.html"))
            .with_context(|| format!("no mail template {name}.html"))?
            .render(&context)
            .with_context(|| format!("rendering {name}.html"))?;
        Ok(Rendered {
            subject,
            text: text.trim_start().to_owned(),
            html,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> serde_json::Value {
        json!({"display_name": "Ana <b>Lopes</b>", "email": "ana@example.com", "token": "tok-123", "hours": 24,
               "organization_name": "Lyon <i>Jazz</i>", "role": "box_office", "inviter": "Olga",
               "expires_at": "2026-11-29T22:00:00Z"})
    }

    #[test]
    fn every_account_template_renders_both_bodies_and_a_subject() {
        let t = Templates::new();
        for name in ACCOUNT_TEMPLATES.iter().copied() {
            let r = t.render(name, context()).unwrap();
            assert!(!r.subject.is_empty(), "{name}");
            assert!(r.text.contains("tok-123"), "{name} text carries the token");
            assert!(r.html.contains("tok-123"), "{name} HTML carries the token");
            assert!(r.html.contains("<html"), "{name} is an HTML document");
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let r = Templates::new().render("verify_email", context()).unwrap();
        assert!(
            r.html.contains("Ana &lt;b&gt;Lopes&lt;&#x2f;b&gt;")
                || r.html.contains("Ana &lt;b&gt;Lopes&lt;/b&gt;"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<b>Lopes"));
        assert!(r.text.contains("Ana <b>Lopes</b>"));
    }

    #[test]
    fn invitations_name_the_organization_role_inviter_and_expiry() {
        let r = Templates::new().render("invitation", context()).unwrap();
        assert!(r.subject.contains("Lyon <i>Jazz</i>"), "{}", r.subject);
        for body in [&r.text, &r.html] {
            for part in ["box_office", "Olga", "2026-11-29T22:00:00Z", "tok-123"] {
                assert!(body.contains(part), "{part} in {body}");
            }
        }
        assert!(r.text.contains("Lyon <i>Jazz</i>"));
        assert!(
            !r.html.contains("<i>Jazz"),
            "HTML escapes the organization name"
        );
    }

    fn summary() -> serde_json::Value {
        json!({"display_name": "Ana", "summary": {
            "booking_id": "0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77", "event_name": "Jazz <b>Night</b>",
            "venue": "Hall", "show_starts_at": "2027-03-01T20:00:00Z", "zone": "Floor",
            "quantity": 2, "unit_price": "25.00 EUR", "total": "50.00 EUR",
            "hold_until": "2027-02-01T10:10:00Z", "refunded": "50.00 EUR"}})
    }

    #[test]
    fn the_tickets_mail_lists_every_ticket() {
        let r = Templates::new()
            .render(
                "tickets_issued",
                json!({"display_name": "Ana", "event_name": "Jazz <b>Night</b>", "venue": "Hall",
                    "starts_at": "2027-03-01T20:00:00Z", "tickets": [
                        {"zone": "Floor", "seat": null, "holder": "Ana", "code": "AAAA-BBBB"},
                        {"zone": "Balcony", "seat": "B-7", "holder": "Ana", "code": "CCCC-DDDD"}]}),
            )
            .unwrap();
        assert!(r.subject.contains("Jazz <b>Night</b>"));
        assert!(!r.html.contains("<b>Night"));
        for part in ["AAAA-BBBB", "CCCC-DDDD", "seat B-7", "Floor"] {
            assert!(r.text.contains(part), "{part} in {}", r.text);
        }
        assert!(r.html.contains("<code>CCCC-DDDD</code>"));
    }

    #[test]
    fn buyer_templates_carry_the_order_summary() {
        let t = Templates::new();
        let buyer: Vec<_> = Templates::names()
            .filter(|n| !ACCOUNT_TEMPLATES.contains(n) && *n != "tickets_issued")
            .collect();
        assert_eq!(buyer.len(), 4, "{buyer:?}");
        for name in buyer {
            let r = t.render(name, summary()).unwrap();
            assert!(
                r.subject.contains("Jazz <b>Night</b>"),
                "{name}: {}",
                r.subject
            );
            assert!(r.html.contains("<html"), "{name}");
            assert!(!r.html.contains("<b>Night"), "{name} HTML escapes");
            for part in [
                "0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77",
                "Floor",
                "2027-03-01T20:00:00Z",
            ] {
                assert!(r.text.contains(part), "{name}: {part} in {}", r.text);
                assert!(r.html.contains(part), "{name}: {part} in HTML");
            }
        }
        let confirmed = t.render("booking_confirmed", summary()).unwrap();
        for part in ["25.00 EUR", "50.00 EUR", "Quantity:   2"] {
            assert!(
                confirmed.text.contains(part),
                "{part} in {}",
                confirmed.text
            );
        }
    }

    #[test]
    fn unknown_templates_and_missing_variables_are_errors() {
        let t = Templates::new();
        assert!(t.render("no_such_template", context()).is_err());
        assert!(t
            .render("verify_email", json!({"display_name": "Ana"}))
            .is_err());
    }
}
