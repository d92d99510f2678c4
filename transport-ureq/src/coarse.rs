//! Socket timeouts in steps: the attempt's remaining time rounded up to a
//! whole [`STEP`] before the transport below sees it.
//!
//! Owns one thing: ureq passes each read and write the exact time left of
//! the attempt, which shrinks by microseconds between requests, and its TCP
//! transport calls `setsockopt` whenever that value changes: three system
//! calls a request on a kept-alive connection. Rounded up, the value stays
//! the same from one request to the next, and the socket is not touched.
//! An attempt may so run up to one step past its timeout; a time left of
//! zero stays zero, so an attempt that has run out still ends at once. Must
//! not make any decision about HTTP.

use std::time::Duration;

use ureq::Error;
use ureq::unversioned::transport::time::Duration as UreqDuration;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

/// The step the time left is rounded up to.
pub(crate) const STEP: Duration = Duration::from_millis(10);

/// A connector that wraps the chain's transport in [`Stepped`].
#[derive(Debug)]
pub(crate) struct StepTimeouts;

impl<In: Transport> Connector<In> for StepTimeouts {
    type Out = Stepped<In>;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, Error> {
        Ok(chained.map(Stepped))
    }
}

/// A transport whose timeouts reach the one below in whole steps.
#[derive(Debug)]
pub(crate) struct Stepped<T>(T);

/// `timeout` with its time left rounded up to a whole [`STEP`].
fn stepped(mut timeout: NextTimeout) -> NextTimeout {
    if let UreqDuration::Exact(left) = timeout.after
        && !left.is_zero()
    {
        let step = STEP.as_nanos();
        let rounded = left.as_nanos().div_ceil(step).saturating_mul(step);
        let rounded = u64::try_from(rounded).map_or(Duration::MAX, Duration::from_nanos);
        timeout.after = UreqDuration::Exact(rounded);
    }
    timeout
}

impl<T: Transport> Transport for Stepped<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        self.0.transmit_output(amount, stepped(timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.0.await_input(stepped(timeout))
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::unversioned::transport::time::Duration as D;

    fn after(d: D) -> D {
        let t = NextTimeout {
            after: d,
            ..NextTimeout::default()
        };
        stepped(t).after
    }

    #[test]
    fn time_left_is_rounded_up_to_a_step_and_zero_stays_zero() {
        let ms = |n| D::Exact(Duration::from_millis(n));
        assert_eq!(after(ms(10_000)), ms(10_000));
        assert_eq!(
            after(D::Exact(Duration::from_micros(9_999_970))),
            ms(10_000)
        );
        assert_eq!(after(D::Exact(Duration::from_nanos(1))), ms(10));
        assert_eq!(after(ms(0)), ms(0));
        assert_eq!(after(D::NotHappening), D::NotHappening);
        assert_eq!(after(D::Exact(Duration::MAX)), D::Exact(Duration::MAX));
    }
}
