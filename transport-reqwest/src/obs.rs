//! Observability behind the `tracing` feature: one span per call or wait,
//! one per attempt. Fields are ids, numbers, statuses and error kinds only:
//! headers are never recorded, so tokens, keys and signatures cannot leak.
//! Without the feature every function here compiles to nothing.

#[cfg(feature = "tracing")]
mod imp {
    use std::time::Duration;

    use clouddc_core::{Attempt, Error, InstanceId, http, response::request_id};
    use tracing::field::Empty;

    pub(crate) type Span = tracing::Span;

    pub(crate) fn call(op: &'static str, id: &InstanceId) -> Span {
        tracing::info_span!("clouddc.call", op, instance_id = %id, attempts = Empty, outcome = Empty)
    }

    pub(crate) fn attempt(a: &Attempt) -> Span {
        tracing::debug_span!(
            "clouddc.attempt",
            number = a.number,
            timeout_ms = a.timeout.as_millis() as u64,
            status = Empty,
            request_id = Empty,
            error = Empty,
        )
    }

    pub(crate) fn response(span: &Span, r: &http::Response<Vec<u8>>) {
        span.record("status", r.status().as_u16());
        if let Some(id) = request_id(r.headers()) {
            span.record("request_id", id.as_str());
        }
    }

    pub(crate) fn failed(span: &Span, e: &Error) {
        span.record("error", e.kind().as_str());
    }

    pub(crate) fn done(span: &Span, attempts: u32, outcome: &str) {
        span.record("attempts", attempts);
        span.record("outcome", outcome);
    }

    pub(crate) fn delay(d: Duration) {
        tracing::debug!(
            delay_ms = d.as_millis() as u64,
            "pausing before the next attempt or poll"
        );
    }

    pub(crate) fn instrument<F: Future>(f: F, span: Span) -> impl Future<Output = F::Output> {
        tracing::Instrument::instrument(f, span)
    }
}

#[cfg(not(feature = "tracing"))]
mod imp {
    use std::time::Duration;

    use clouddc_core::{Attempt, Error, InstanceId, http};

    #[derive(Clone)]
    pub(crate) struct Span;

    pub(crate) fn call(_op: &'static str, _id: &InstanceId) -> Span {
        Span
    }
    pub(crate) fn attempt(_a: &Attempt) -> Span {
        Span
    }
    pub(crate) fn response(_span: &Span, _r: &http::Response<Vec<u8>>) {}
    pub(crate) fn failed(_span: &Span, _e: &Error) {}
    pub(crate) fn done(_span: &Span, _attempts: u32, _outcome: &str) {}
    pub(crate) fn delay(_d: Duration) {}
    pub(crate) fn instrument<F: Future>(f: F, _span: Span) -> F {
        f
    }
}

pub(crate) use imp::*;

/// Records how an attempt ended on its span and passes the result on.
pub(crate) fn attempt_result(
    span: &Span,
    result: Result<clouddc_core::http::Response<Vec<u8>>, clouddc_core::Error>,
) -> Result<clouddc_core::http::Response<Vec<u8>>, clouddc_core::Error> {
    match &result {
        Ok(r) => response(span, r),
        Err(e) => failed(span, e),
    }
    result
}

/// A machine whose pauses (backoff before a retry, a wait between polls,
/// rate limiting) are traced as `delay_ms` events.
pub(crate) struct Traced<'a, M>(pub(crate) &'a mut M);

impl<M: clouddc_core::Machine> clouddc_core::Machine for Traced<'_, M> {
    type Output = M::Output;

    fn poll(&mut self, now: clouddc_core::Now) -> clouddc_core::Step<M::Output> {
        let step = self.0.poll(now);
        if let clouddc_core::Step::Wait(until) = &step {
            delay(until.saturating_duration_since(now.mono));
        }
        step
    }

    fn handle_response(
        &mut self,
        now: clouddc_core::Now,
        response: clouddc_core::http::Response<Vec<u8>>,
    ) {
        self.0.handle_response(now, response);
    }

    fn handle_transport_error(&mut self, now: clouddc_core::Now, error: clouddc_core::Error) {
        self.0.handle_transport_error(now, error);
    }
}
