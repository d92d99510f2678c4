//! The certificate verifier: the platform's, set up at the first TLS
//! handshake rather than when the client is built.
//!
//! Owns one thing: deferring the platform verifier's set-up. On Linux that
//! reads and parses every certificate of the system store (about 150 files,
//! milliseconds), which a client that only ever talks plain `http` to a
//! loopback endpoint, or a command that makes one call, should not pay
//! before its first request. Every verification is the platform verifier's
//! own; a store that cannot be loaded fails the handshake with its error.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::Verifier;

use clouddc_core::Error;

/// The client's TLS settings: rustls with the `ring` provider, HTTP/1.1,
/// and the platform verifier, set up at the first handshake. The platform
/// verifier loads the system's certificates then, not here: plain-http
/// clients and one-call commands start without reading the store.
pub(crate) fn config() -> Result<rustls::ClientConfig, Error> {
    let tls_error = |e| Error::transport("cannot set up TLS (rustls with ring)", e);
    let provider = ring_provider();
    let verifier = Arc::new(LazyPlatformVerifier::new(provider.clone()));
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// rustls's `ring` crypto provider. rustls 0.23.48 deprecates it ("no
/// support for post-quantum algorithms"); the other routes are aws-lc-rs (a C
/// build and a larger binary, against the command's size limit) or installing
/// a process-wide default provider (global state, which a library must not
/// set). It offers the classical key exchanges, which every Huawei Cloud
/// endpoint accepts. The one place the deprecation is allowed, in this crate.
#[allow(deprecated)]
fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The platform verifier, made on first use.
#[derive(Debug)]
pub(crate) struct LazyPlatformVerifier {
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<Verifier, rustls::Error>>,
}

impl LazyPlatformVerifier {
    pub(crate) fn new(provider: Arc<CryptoProvider>) -> Self {
        Self {
            provider,
            verifier: OnceLock::new(),
        }
    }

    fn get(&self) -> Result<&Verifier, rustls::Error> {
        self.verifier
            .get_or_init(|| Verifier::new(self.provider.clone()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyPlatformVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.get()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls13_signature(message, cert, dss)
    }

    /// Asked for the ClientHello of an `https` connection: the platform
    /// verifier's answer (a store that failed to load fails the handshake
    /// at the certificate; until then, the provider's schemes).
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match self.get() {
            Ok(v) => v.supported_verify_schemes(),
            Err(_) => self
                .provider
                .signature_verification_algorithms
                .supported_schemes(),
        }
    }
}
