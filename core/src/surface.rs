//! The part of a client's API that is the same for every transport, so
//! that it is written once: the constructors, the config getter, and the
//! builder of the one setting every transport has (requests in flight).
//!
//! Must not hold any logic: it expands, inside a client crate, to calls of
//! that crate's `connect(config, max_in_flight)`. The crate defines
//! `Inner { config: Config, .. }`.

/// Expands the shared client surface: the re-exports, `Client` (with
/// `$client` as its doc), its constructors and `ClientBuilder`;
/// `$in_flight` documents what the in-flight bound means for this
/// transport.
#[doc(hidden)]
#[macro_export]
macro_rules! client_surface {
    ($client:literal, $in_flight:literal) => {
        pub use $crate as core;
        pub use $crate::prelude::*;

        #[doc = $client]
        #[derive(Clone, Debug)]
        pub struct Client {
            inner: std::sync::Arc<Inner>,
        }

        impl Client {
            /// A client for `config` with this transport's defaults.
            pub fn new(config: Config) -> Result<Self, Error> {
                ClientBuilder::default().build(config)
            }

            /// The transport's own settings.
            pub fn builder() -> ClientBuilder {
                ClientBuilder::default()
            }

            /// A client configured the way the vendor's SDKs find their
            /// settings: environment variables, the profile file
            /// (`~/.huaweicloud/credentials`) and server metadata (see
            /// [`ConfigBuilder::with_sources`]); the error names every
            /// variable that is missing and the file and line of anything
            /// wrong in the profile file.
            pub fn from_env() -> Result<Self, Error> {
                Self::new(Config::from_sources(
                    &|k| std::env::var(k).ok(),
                    &read_profile_file,
                )?)
            }

            /// The configuration every call uses.
            pub fn config(&self) -> &Config {
                &self.inner.config
            }
        }

        /// Reads a profile file for [`ConfigBuilder::with_sources`]: at
        /// most 1 MiB and a byte, so that a wrong path to a huge file fails
        /// as "too large" instead of filling memory. A pipe works (for
        /// example a shell's `<(command)`), and is read until its writer
        /// closes it.
        pub fn read_profile_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
            use std::io::Read;
            let mut bytes = Vec::new();
            std::fs::File::open(path)?
                .take((1 << 20) + 1)
                .read_to_end(&mut bytes)?;
            Ok(bytes)
        }

        /// This transport's settings; everything else is in [`Config`].
        #[derive(Debug, Clone, Default)]
        pub struct ClientBuilder {
            max_in_flight: Option<usize>,
        }

        impl ClientBuilder {
            #[doc = $in_flight]
            pub fn max_in_flight(mut self, n: usize) -> Self {
                self.max_in_flight = Some(n.max(1));
                self
            }

            /// Builds the client and its pool for `config`.
            pub fn build(self, config: Config) -> Result<Client, Error> {
                connect(config, self.max_in_flight.unwrap_or(256))
            }
        }
    };
}
