//! docs/events.md is made from the event types themselves: this test renders it and compares.
//! After changing an event, run `FANZ_BLESS=1 cargo test -p fanz --test events_doc`.

use fanz_events::catalogue_markdown;

fn render() -> String {
    let mut doc = String::from(
        "# Events\n\n\
         Every domain event, generated from the types (`crates/fanz/tests/events_doc.rs` checks \
         that this file matches them). An event is written to the `events` outbox in the \
         transaction that caused it and delivered at least once to each subscriber, in order of \
         `seq`, with this envelope:\n\n\
         | field | meaning |\n|---|---|\n\
         | `id` | 32 hex digits, unique; subscribers are idempotent by it |\n\
         | `seq` | delivery order, given after commit |\n\
         | `type` | `module.event_name`, below |\n\
         | `cluster` | the cluster it happened on, or empty |\n\
         | `subject` | what it is about, such as `user:42` |\n\
         | `occurred_at` | microseconds since the Unix epoch |\n\
         | `payload` | the event: `type` and the fields below |\n\n\
         Through NATS (`events_url`) each event is a message on `fanz.events.<type>` in the \
         `FANZ_EVENTS` stream, its body the envelope as JSON and `Nats-Msg-Id` its id.\n\n",
    );
    doc.push_str(&catalogue_markdown::<fanz_identity::IdentityEvent>(
        "identity",
    ));
    doc.push_str(&catalogue_markdown::<fanz_profiles::ProfileEvent>(
        "profiles",
    ));
    doc.push_str(&catalogue_markdown::<fanz_content::ContentEvent>("content"));
    doc.push_str(&catalogue_markdown::<fanz_events::Probe>("events"));
    doc
}

#[test]
fn docs_events_md_matches_the_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/events.md");
    let want = render();
    if std::env::var("FANZ_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/events.md is out of date: run FANZ_BLESS=1 cargo test -p fanz --test events_doc"
    );
}
