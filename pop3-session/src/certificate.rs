//! Server certificates as people read and pin them: SHA-256 fingerprints, and the
//! fields a report shows (subject, issuer, names, validity).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer as _;

/// The SHA-256 fingerprint of a certificate (of its DER encoding), as `openssl x509
/// -fingerprint -sha256`, mpop's `--tls-fingerprint` and fetchmail's `sslfingerprint`
/// show it.
///
/// Parsed from 64 hexadecimal digits, with or without colons, in either case; shown as
/// upper-case pairs separated by colons.
///
/// ```
/// use pop3_session::Fingerprint;
///
/// let pin: Fingerprint = "5e:88:48:98:da:28:04:71:51:d0:e5:6f:8d:c6:29:27:\
///                         73:60:3d:0d:6a:ab:bd:d6:2a:11:ef:72:1d:15:42:d8".parse()?;
/// assert_eq!(pin, Fingerprint::of(b"password"));
/// assert!(pin.to_string().starts_with("5E:88:48:98:"));
/// assert_eq!(pin.to_string().parse::<Fingerprint>()?, pin);
/// # Ok::<(), pop3_session::InvalidFingerprint>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `der`, a certificate's DER encoding.
    pub fn of(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// A fingerprint from its 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Why a text is not a SHA-256 fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a SHA-256 fingerprint: expected 64 hexadecimal digits (colons allowed between pairs), \
     got {digits} digit(s){}",
    if *.invalid { " and other characters" } else { "" }
)]
pub struct InvalidFingerprint {
    digits: usize,
    invalid: bool,
}

impl FromStr for Fingerprint {
    type Err = InvalidFingerprint;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        // `openssl x509 -fingerprint` prints `sha256 Fingerprint=AB:CD:...`.
        let text = text.rsplit_once('=').map_or(text, |(_, value)| value);
        let mut digits = Vec::with_capacity(64);
        let mut invalid = false;
        for c in text.chars() {
            match c.to_digit(16) {
                Some(d) => digits.push(d as u8),
                None if c == ':' => {}
                None => invalid = true,
            }
        }
        if invalid || digits.len() != 64 {
            return Err(InvalidFingerprint {
                digits: digits.len(),
                invalid,
            });
        }
        let mut bytes = [0; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = (pair[0] << 4) | pair[1];
        }
        Ok(Self(bytes))
    }
}

/// A point in time, in whole seconds since the Unix epoch, shown in UTC as
/// `2030-01-31T12:00:00Z` (RFC 3339).
///
/// ```
/// use pop3_session::UtcTime;
/// assert_eq!(UtcTime::from_unix(0).to_string(), "1970-01-01T00:00:00Z");
/// assert_eq!(UtcTime::from_unix(1_900_000_000).to_string(), "2030-03-17T17:46:40Z");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime(i64);

impl UtcTime {
    /// The time `seconds` after the Unix epoch (before it, if negative).
    pub const fn from_unix(seconds: i64) -> Self {
        Self(seconds)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// Now, by the system clock.
    pub fn now() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Self(now)
    }
}

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01), after Howard
/// Hinnant's `civil_from_days`. Exact for every day an X.509 time can name.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both are small and positive by construction (1..=31, 1..=12).
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(0);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(0);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// What a server certificate says, as far as a person choosing to trust it needs: who it
/// names, who issued it, when it is valid, and its fingerprint.
///
/// Text from the certificate is shown as it is, with control characters replaced, so
/// that it is safe on a terminal line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateInfo {
    /// The subject's distinguished name, e.g. `CN=pop.example.com`.
    pub subject: String,
    /// The issuer's distinguished name (the subject again for a self-signed
    /// certificate).
    pub issuer: String,
    /// The DNS names and IP addresses of its subject alternative names.
    pub names: Vec<String>,
    /// Not valid before this time.
    pub not_before: UtcTime,
    /// Not valid after this time: its expiry.
    pub not_after: UtcTime,
    /// The SHA-256 fingerprint of the certificate.
    pub fingerprint: Fingerprint,
    /// Issued by its own subject.
    pub self_signed: bool,
    /// Its basic constraints say it is a certificate authority (`CA:TRUE`), as `openssl
    /// req -x509` makes them by default.
    pub ca: bool,
}

impl CertificateInfo {
    /// Reads a DER-encoded X.509 certificate; `None` if it is not one.
    pub fn parse(der: &[u8]) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let names = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some(printable(dns)),
                    GeneralName::IPAddress(bytes) => ip_address(bytes).map(|ip| ip.to_string()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(Self {
            subject: printable(&cert.subject().to_string()),
            issuer: printable(&cert.issuer().to_string()),
            names,
            not_before: UtcTime(cert.validity().not_before.timestamp()),
            not_after: UtcTime(cert.validity().not_after.timestamp()),
            fingerprint: Fingerprint::of(der),
            self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
            ca: cert.is_ca(),
        })
    }

    /// Whether `time` is within the validity period.
    pub fn is_valid_at(&self, time: UtcTime) -> bool {
        self.not_before <= time && time <= self.not_after
    }
}

/// The subject's common names (`CN=`): what a certificate without subject alternative
/// names (`openssl req -x509 -subj /CN=host` without `-addext`) names its server by.
pub(crate) fn common_names(der: &[u8]) -> Vec<String> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| {
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn ip_address(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Certificate text made safe for one terminal line.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_every_usual_spelling() {
        let fp = Fingerprint::of(b"x");
        let upper = fp.to_string();
        assert_eq!(upper.len(), 95);
        let lower = upper.to_lowercase();
        let bare = upper.replace(':', "");
        for text in [
            upper.clone(),
            lower.clone(),
            bare.clone(),
            bare.to_lowercase(),
            format!("  {upper}\n"),
            format!("sha256 Fingerprint={upper}"),
            format!("SHA256 Fingerprint={lower}"),
        ] {
            assert_eq!(text.parse::<Fingerprint>(), Ok(fp), "{text}");
        }
        for bad in [
            "",
            "AB",
            &bare[1..],
            &format!("{bare}00"),
            &bare.replace('A', "G"),
        ] {
            let error = bad.parse::<Fingerprint>().unwrap_err();
            assert!(error.to_string().contains("64 hexadecimal digits"), "{bad}");
        }
        // One character short, with a non-digit in its place.
        let wrong = format!("{}Z", &bare[1..]);
        assert!(wrong.parse::<Fingerprint>().unwrap_err().invalid);
    }

    #[test]
    fn utc_times() {
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
        ] {
            assert_eq!(UtcTime::from_unix(secs).to_string(), text);
        }
        // Nothing panics at the extremes.
        let _ = UtcTime::from_unix(i64::MIN).to_string();
        let _ = UtcTime::from_unix(i64::MAX).to_string();
        assert!(UtcTime::now() > UtcTime::from_unix(1_700_000_000));
    }

    #[test]
    fn certificate_fields() {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
                .expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pop\u{7}.test");
        let cert = params.self_signed(&key).expect("cert");
        let info = CertificateInfo::parse(cert.der()).expect("parses");
        assert_eq!(info.subject, "CN=pop?.test");
        assert_eq!(info.issuer, info.subject);
        assert!(info.self_signed && !info.ca);
        assert_eq!(info.names, ["localhost", "127.0.0.1"]);
        assert!(info.is_valid_at(UtcTime::now()));
        assert!(!info.is_valid_at(UtcTime::from_unix(info.not_after.unix() + 1)));
        assert_eq!(info.fingerprint, Fingerprint::of(cert.der()));
        assert_eq!(CertificateInfo::parse(b"not a certificate"), None);
        assert_eq!(CertificateInfo::parse(&cert.der()[..100]), None);
    }
}
