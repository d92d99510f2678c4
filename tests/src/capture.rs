//! A tracing subscriber for tests: keeps every span's fields and every
//! event's text, so tests can assert on what was logged and on what never
//! is (secrets).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

type FieldMap = BTreeMap<String, String>;
/// Span id to span name and fields.
type SpanMap = BTreeMap<u64, (String, FieldMap)>;

/// A subscriber that keeps every span's fields and every event's text.
#[derive(Clone, Default)]
pub struct Capture {
    next: Arc<AtomicU64>,
    spans: Arc<Mutex<SpanMap>>,
    events: Arc<Mutex<Vec<String>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let name = attrs.metadata().name().to_owned();
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, (name, fields));
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some((_, fields)) = self
            .spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&span.into_u64())
        {
            values.record(&mut Fields(fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let target = event.metadata().target();
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("{target} {fields:?}"));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Capture {
    /// The fields of every span with this name.
    pub fn spans(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        let spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        spans
            .values()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect()
    }
    /// Every span and event as text.
    pub fn everything(&self) -> String {
        let mut all = String::new();
        for (name, fields) in self
            .spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            let _ = writeln!(all, "{name} {fields:?}");
        }
        for e in self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(all, "{e}");
        }
        all
    }

    /// The events' text, in order.
    pub fn events(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
