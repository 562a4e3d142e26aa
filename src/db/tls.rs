//! TLS to PostgreSQL. tokio-postgres knows `sslmode` only as disable, prefer
//! or require and leaves certificate checks to its TLS connector, so libpq's
//! `sslmode` and `sslrootcert` are read here from the connection string, and
//! the rustls (ring) configuration built from them does the verification:
//!
//! | `sslmode` | encrypted | server certificate checked |
//! |---|---|---|
//! | `disable` | never | no |
//! | `prefer` (default) | when the server offers TLS | no (with `sslrootcert`: chain, like `verify-ca`) |
//! | `require` | always | no (with `sslrootcert`: chain, like `verify-ca`) |
//! | `verify-ca` | always | chain to a trusted root |
//! | `verify-full` | always | chain to a trusted root and host name |
//!
//! The trusted roots are the PEM file named by `sslrootcert`; without it (or
//! with `sslrootcert=system`) the system's bundle (`SSL_CERT_FILE`, else the
//! distribution's `ca-certificates` file).

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use tokio_rustls::rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::server::ParsedCertificate;
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// libpq's `sslmode` values that Steward supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain connections only.
    Disable,
    /// TLS when the server offers it, else plain (libpq's default).
    Prefer,
    /// TLS always; the certificate is not checked (unless `sslrootcert` is given).
    Require,
    /// TLS always; the certificate must chain to a trusted root.
    VerifyCa,
    /// TLS always; the certificate must chain to a trusted root and name the host.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> anyhow::Result<Self> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => bail!(
                "DATABASE_URL has sslmode={other:?}; Steward knows disable, prefer, require, verify-ca and verify-full"
            ),
        })
    }

    /// The value as written in a connection string.
    pub fn name(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// What tokio-postgres itself is told: whether TLS is asked for and whether it is a must.
    fn wire(self) -> tokio_postgres::config::SslMode {
        match self {
            Self::Disable => tokio_postgres::config::SslMode::Disable,
            Self::Prefer => tokio_postgres::config::SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => tokio_postgres::config::SslMode::Require,
        }
    }
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RootCert {
    /// The system bundle (no `sslrootcert`, or `sslrootcert=system`).
    System { named: bool },
    /// A PEM file.
    File(String),
}

/// The TLS settings of a connection string, taken out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// `sslmode`, `prefer` when absent.
    pub mode: SslMode,
    root_cert: RootCert,
}

impl TlsOptions {
    /// Splits `url` (URL or `key=value` form) into its TLS settings and the
    /// rest, which tokio-postgres parses (it refuses `sslrootcert` and the
    /// verify modes). Checks the values without reading any file, so
    /// configuration loading can report a wrong `sslmode` at start.
    pub fn split(url: &str) -> anyhow::Result<(Self, String)> {
        let (pairs, rest) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            split_url(url)
        } else {
            split_key_values(url)?
        };
        let mut mode = None;
        let mut root_cert = None;
        for (key, value) in pairs {
            match key.as_str() {
                "sslmode" => mode = Some(SslMode::parse(&value)?),
                _ if value.is_empty() => bail!("DATABASE_URL has an empty sslrootcert"),
                _ if value == "system" => root_cert = Some(RootCert::System { named: true }),
                _ => root_cert = Some(RootCert::File(value)),
            }
        }
        let mode = mode.unwrap_or(SslMode::Prefer);
        let root_cert = root_cert.unwrap_or(RootCert::System { named: false });
        // As libpq: the system roots vouch for any name they sign, so only the
        // name check makes them mean anything.
        if root_cert == (RootCert::System { named: true }) && mode != SslMode::VerifyFull {
            bail!("DATABASE_URL has sslrootcert=system, which needs sslmode=verify-full");
        }
        Ok((Self { mode, root_cert }, rest))
    }

    /// The parsed connection settings and the TLS connector for them.
    pub fn connector(&self, rest: &str) -> anyhow::Result<(tokio_postgres::Config, MakeRustls)> {
        let mut config: tokio_postgres::Config =
            rest.parse().context("DATABASE_URL is not a PostgreSQL connection string")?;
        config.ssl_mode(self.mode.wire());
        Ok((config, MakeRustls(Arc::new(self.client_config()?))))
    }

    fn client_config(&self) -> anyhow::Result<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let verifier: Arc<dyn ServerCertVerifier> = match (self.mode, &self.root_cert) {
            (SslMode::VerifyFull, roots) => {
                WebPkiServerVerifier::builder_with_provider(Arc::new(load_roots(roots)?), Arc::clone(&provider))
                    .build()
                    .context("building the TLS certificate verifier")?
            }
            (SslMode::VerifyCa, roots) | (SslMode::Prefer | SslMode::Require, roots @ RootCert::File(_)) => {
                Arc::new(ChainOnly { roots: Some(load_roots(roots)?), provider })
            }
            // No verification wanted (or, for disable, no TLS at all).
            (SslMode::Prefer | SslMode::Require, RootCert::System { .. }) | (SslMode::Disable, _) => {
                Arc::new(ChainOnly { roots: None, provider })
            }
        };
        Ok(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
    }
}

/// The `sslmode`/`sslrootcert` pairs of a URL's query, and the URL without them
/// (other parameters are kept byte for byte).
fn split_url(url: &str) -> (Vec<(String, String)>, String) {
    let Some((base, query)) = url.split_once('?') else {
        return (Vec::new(), url.to_owned());
    };
    let mut tls = Vec::new();
    let mut kept = Vec::new();
    for piece in query.split('&') {
        let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
        let key = percent_decode(key);
        if is_tls_key(&key) {
            tls.push((key, percent_decode(value)));
        } else {
            kept.push(piece);
        }
    }
    let rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    (tls, rest)
}

fn is_tls_key(key: &str) -> bool {
    key == "sslmode" || key == "sslrootcert"
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b))) {
            (b'%', Some(high), Some(low)) => {
                out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The same for libpq's `key=value` form: values may be single-quoted, with
/// backslash escapes; the rest is rebuilt quoted.
fn split_key_values(s: &str) -> anyhow::Result<(Vec<(String, String)>, String)> {
    let mut tls = Vec::new();
    let mut kept = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            bail!("DATABASE_URL: option {key:?} has no value");
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => bail!("DATABASE_URL: the value of {key:?} has no closing quote"),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        if is_tls_key(&key) {
            tls.push((key, value));
        } else {
            kept.push(format!("{key}='{}'", value.replace('\\', "\\\\").replace('\'', "\\'")));
        }
    }
    Ok((tls, kept.join(" ")))
}

/// The trusted roots: the named PEM file, or the system bundle.
fn load_roots(source: &RootCert) -> anyhow::Result<RootCertStore> {
    let path = match source {
        RootCert::File(path) => path.clone(),
        RootCert::System { .. } => system_bundle()?,
    };
    let certs = CertificateDer::pem_file_iter(&path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| anyhow::anyhow!("reading the root certificates in {path}: {e}"))?;
    let mut roots = RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(certs);
    if added == 0 {
        bail!("{path} holds no usable root certificate (sslrootcert wants PEM)");
    }
    Ok(roots)
}

/// The system's CA bundle, where OpenSSL and the distributions keep it.
fn system_bundle() -> anyhow::Result<String> {
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        return Ok(file.to_string_lossy().into_owned());
    }
    const BUNDLES: [&str; 4] = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/ssl/cert.pem",
    ];
    BUNDLES.iter().find(|p| Path::new(p).is_file()).map(|p| (*p).to_owned()).with_context(|| {
        "sslmode verify-ca/verify-full without sslrootcert needs the system CA bundle (install ca-certificates, \
         set SSL_CERT_FILE, or name the CA file with sslrootcert=/path/ca.pem)"
    })
}

/// `verify-ca` (`roots` given): the chain must end at a trusted root; the
/// host name is not compared (the certificate may name another host, or
/// none). `require` and `prefer` without `sslrootcert` (`roots` None), as
/// libpq: encryption against passive listeners, no proof of who the server
/// is. Either way the handshake signature is checked (the server holds the
/// key of the certificate it shows).
#[derive(Debug)]
struct ChainOnly {
    roots: Option<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// tokio-postgres's TLS hook over tokio-rustls.
#[derive(Clone)]
pub struct MakeRustls(Arc<ClientConfig>);

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsConnect, io::Error> {
        // A Unix socket host comes as "": tokio-postgres never starts TLS
        // there, so the name is only looked at for TCP hosts.
        let name = ServerName::try_from(host).map(|n| n.to_owned()).ok();
        Ok(RustlsConnect { name, connector: tokio_rustls::TlsConnector::from(Arc::clone(&self.0)) })
    }
}

/// One TLS handshake towards a named host.
pub struct RustlsConnect {
    name: Option<ServerName<'static>>,
    connector: tokio_rustls::TlsConnector,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = self.name.ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "the database host is not a DNS name or IP address")
            })?;
            self.connector.connect(name, stream).await.map(RustlsStream)
        })
    }
}

/// An established TLS session.
pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S> tokio_postgres::tls::TlsStream for RustlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// SCRAM-SHA-256-PLUS binds the password exchange to this session, so a
    /// man in the middle cannot relay it even where the certificate is not
    /// verified (`require`).
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        session
            .peer_certificates()
            .and_then(<[_]>::first)
            .and_then(|cert| end_point_hash(cert))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

/// RFC 5929 `tls-server-end-point`: the server certificate hashed with the
/// hash of its signature algorithm (SHA-1 counts as SHA-256). None for
/// algorithms without one named in the OID (RSA-PSS, Ed25519): SCRAM then
/// runs without channel binding.
fn end_point_hash(cert: &[u8]) -> Option<Vec<u8>> {
    const RSA: [u8; 8] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: [u8; 7] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    let oid = signature_oid(cert)?;
    let algorithm = match oid.split_last()? {
        (0x05 | 0x0b, prefix) if prefix == RSA => &ring::digest::SHA256,
        (0x0c, prefix) if prefix == RSA => &ring::digest::SHA384,
        (0x0d, prefix) if prefix == RSA => &ring::digest::SHA512,
        (0x02, prefix) if prefix == ECDSA => &ring::digest::SHA256,
        (0x03, prefix) if prefix == ECDSA => &ring::digest::SHA384,
        (0x04, prefix) if prefix == ECDSA => &ring::digest::SHA512,
        _ => return None,
    };
    Some(ring::digest::digest(algorithm, cert).as_ref().to_vec())
}

/// The OID (contents) of a DER certificate's outer `signatureAlgorithm`:
/// `SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE { OID, … }, … }`.
fn signature_oid(cert: &[u8]) -> Option<&[u8]> {
    let (certificate, _) = der_element(cert, 0x30)?;
    let (_tbs, rest) = der_element(certificate, 0x30)?;
    let (algorithm, _) = der_element(rest, 0x30)?;
    let (oid, _) = der_element(algorithm, 0x06)?;
    Some(oid)
}

/// The DER element with `tag` at the start of `input`: its contents and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    let (&short, rest) = rest.split_first()?;
    if first != tag {
        return None;
    }
    let (len, rest) = if short < 0x80 {
        (usize::from(short), rest)
    } else {
        let n = usize::from(short & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, rest) = rest.split_at(n);
        (bytes.iter().fold(0, |len, b| (len << 8) | usize::from(*b)), rest)
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> (TlsOptions, String) {
        TlsOptions::split(url).unwrap()
    }

    #[test]
    fn url_form_takes_out_the_tls_parameters_and_keeps_the_rest() {
        let (tls, rest) =
            split("postgres://u:p%40ss@db:5432/x?application_name=a%20b&sslmode=verify-ca&sslrootcert=%2Fetc%2Fca.pem");
        assert_eq!(tls.mode, SslMode::VerifyCa);
        assert_eq!(tls.root_cert, RootCert::File("/etc/ca.pem".into()));
        assert_eq!(rest, "postgres://u:p%40ss@db:5432/x?application_name=a%20b");
        let (tls, rest) = split("postgresql://db/x?sslmode=require");
        assert_eq!((tls.mode, rest.as_str()), (SslMode::Require, "postgresql://db/x"));
    }

    #[test]
    fn key_value_form_takes_out_the_tls_parameters_and_keeps_the_rest() {
        let (tls, rest) = split(r"host=db sslmode = verify-full password='it\'s' dbname=x sslrootcert='/a b/ca.pem'");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert, RootCert::File("/a b/ca.pem".into()));
        assert_eq!(rest, r"host='db' password='it\'s' dbname='x'");
        let (tls, rest) = split(r"host=/run/pg password='a\'b\\c'");
        assert_eq!(tls.mode, SslMode::Prefer);
        assert_eq!(rest, r"host='/run/pg' password='a\'b\\c'");
        let config: tokio_postgres::Config = rest.parse().unwrap();
        assert_eq!(config.get_password(), Some(&br"a'b\c"[..]));
    }

    #[test]
    fn without_sslmode_tls_is_preferred_and_unverified() {
        let (tls, _) = split("postgres://db/x");
        assert_eq!(tls, TlsOptions { mode: SslMode::Prefer, root_cert: RootCert::System { named: false } });
    }

    #[test]
    fn unknown_sslmode_is_a_clear_error() {
        for url in ["postgres://db/x?sslmode=verify", "host=db sslmode=allow", "postgres://db/x?sslmode="] {
            let message = TlsOptions::split(url).unwrap_err().to_string();
            assert!(message.contains("sslmode="), "{message}");
            assert!(message.contains("disable, prefer, require, verify-ca and verify-full"), "{message}");
        }
    }

    #[test]
    fn system_roots_need_the_name_check() {
        let message = TlsOptions::split("postgres://db/x?sslmode=verify-ca&sslrootcert=system").unwrap_err();
        assert!(message.to_string().contains("verify-full"), "{message}");
        assert!(TlsOptions::split("postgres://db/x?sslmode=verify-full&sslrootcert=system").is_ok());
    }

    #[test]
    fn tokio_postgres_is_told_to_require_tls_for_every_checking_mode() {
        for (mode, wire) in [
            ("disable", tokio_postgres::config::SslMode::Disable),
            ("prefer", tokio_postgres::config::SslMode::Prefer),
            ("require", tokio_postgres::config::SslMode::Require),
            ("verify-ca", tokio_postgres::config::SslMode::Require),
            ("verify-full", tokio_postgres::config::SslMode::Require),
        ] {
            let (tls, rest) = split(&format!("postgres://db/x?sslmode={mode}&sslrootcert=/nonexistent/ca.pem"));
            assert_eq!(tls.mode.wire(), wire, "{mode}");
            assert_eq!(rest, "postgres://db/x");
        }
    }

    #[test]
    fn the_signature_algorithm_is_read_from_the_certificate() {
        // SEQUENCE { tbs SEQUENCE (long form length), SEQUENCE { OID ecdsa-with-SHA384, } , BIT STRING }
        let mut cert = vec![0x30, 0x81, 0x00, 0x30, 0x81, 0x02, 0xaa, 0xbb];
        cert.extend([0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03]);
        cert.extend([0x03, 0x01, 0x00]);
        cert[2] = u8::try_from(cert.len() - 3).unwrap();
        assert_eq!(signature_oid(&cert), Some(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03][..]));
        assert_eq!(end_point_hash(&cert).map(|h| h.len()), Some(48));
        assert_eq!(signature_oid(&cert[..cert.len() - 4]), None, "cut short");
        cert[19] = 0x07;
        assert_eq!(end_point_hash(&cert), None, "an algorithm with no hash of its own");
    }

    #[test]
    fn a_missing_root_file_is_named() {
        let (tls, rest) = split("postgres://db/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
        let message = format!("{:#}", tls.connector(&rest).err().unwrap());
        assert!(message.contains("/nonexistent/ca.pem"), "{message}");
    }
}
