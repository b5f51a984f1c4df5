//! Server personalities: how a [`Server`](crate::Server) behaves, modelled on real
//! servers.

use std::time::Duration;

/// A server personality. Several profiles combine (add them one by one with
/// [`ServerBuilder::profile`](crate::ServerBuilder::profile)); the default is
/// [`DovecotLike`](Self::DovecotLike) alone.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Profile {
    /// The default, modelled on Dovecot 2.3: CAPA lists `TOP UIDL RESP-CODES PIPELINING
    /// AUTH-RESP-CODE STLS USER SASL ...`, the greeting carries an APOP timestamp,
    /// concurrent sessions on one maildrop are allowed. Adding it changes nothing.
    DovecotLike,
    /// PIPELINING is not advertised (the server still answers pipelined commands in
    /// order, as every RFC 1939 server must).
    NoPipelining,
    /// Dovecot's `pop3_lock_session = yes`: while one session is logged in, a second
    /// login on the same maildrop is refused with `-ERR [IN-USE] ...`. The lock is
    /// released by QUIT or when the connection ends. It lives in the store handle
    /// ([`Maildrop`](crate::Maildrop) or [`Maildir`](crate::Maildir)) and its clones, so
    /// it is not a lock on files that other programs would see.
    LockSession,
    /// Bare LF line ends everywhere (greeting, responses, bodies), like some sloppy
    /// servers.
    LfOnly,
    /// Waits this long before every write of responses.
    Slow(Duration),
    /// A slow link: responses go out in pieces of at most `bytes`, with `pause` before
    /// each, so that a long response (a message body) is seen arriving for a while.
    Trickle {
        /// The most bytes written at once.
        bytes: usize,
        /// The wait before each piece.
        pause: Duration,
    },
    /// An RFC 1939-only server: no CAPA (answered with `-ERR`). STLS still works for a
    /// client that tries it blindly.
    Rfc1939Only,
    /// RFC 6856: CAPA lists `UTF8 USER` and the UTF8 command is accepted before login.
    Utf8,
    /// RFC 2449 `LOGIN-DELAY`: CAPA lists `LOGIN-DELAY <seconds>` (the delay rounded
    /// up), and a login with good credentials less than this long after the previous
    /// successful login on the maildrop, by any session, is refused with
    /// `-ERR [LOGIN-DELAY] ...`. The first login always works; refused logins do not
    /// restart the delay. Tests need no clock: a long delay (an hour) keeps every later
    /// login inside it, [`Duration::ZERO`] advertises the capability and refuses nothing.
    /// With [`LockSession`](Self::LockSession) too, `[IN-USE]` is checked first.
    LoginDelay(Duration),
}

/// The profiles of a server, resolved into what each part of it needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Behaviour {
    pub(crate) pipelining: bool,
    pub(crate) lock_session: bool,
    pub(crate) lf_only: bool,
    pub(crate) slow: Option<Duration>,
    /// Piece size (at least 1) and pause.
    pub(crate) trickle: Option<(usize, Duration)>,
    pub(crate) capa: bool,
    pub(crate) utf8: bool,
    pub(crate) login_delay: Option<Duration>,
}

impl Behaviour {
    /// Combines profiles; for the ones with a value, the first given wins.
    pub(crate) fn of(profiles: &[Profile]) -> Self {
        let mut behaviour = Self {
            pipelining: true,
            capa: true,
            ..Self::default()
        };
        for profile in profiles {
            match profile {
                Profile::DovecotLike => {}
                Profile::NoPipelining => behaviour.pipelining = false,
                Profile::LockSession => behaviour.lock_session = true,
                Profile::LfOnly => behaviour.lf_only = true,
                Profile::Slow(delay) => {
                    behaviour.slow.get_or_insert(*delay);
                }
                Profile::Trickle { bytes, pause } => {
                    behaviour.trickle.get_or_insert(((*bytes).max(1), *pause));
                }
                Profile::Rfc1939Only => behaviour.capa = false,
                Profile::Utf8 => behaviour.utf8 = true,
                Profile::LoginDelay(delay) => {
                    behaviour.login_delay.get_or_insert(*delay);
                }
            }
        }
        behaviour
    }

    /// The login delay in whole seconds for CAPA, rounded up so that a client waiting
    /// that long is never early.
    pub(crate) fn login_delay_seconds(&self) -> Option<u32> {
        self.login_delay.map(|delay| {
            let seconds = delay
                .as_secs()
                .saturating_add(u64::from(delay.subsec_nanos() > 0));
            u32::try_from(seconds).unwrap_or(u32::MAX)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_combine_and_the_first_value_wins() {
        let b = Behaviour::of(&[
            Profile::LfOnly,
            Profile::NoPipelining,
            Profile::Slow(Duration::from_millis(1)),
            Profile::Slow(Duration::from_millis(2)),
            Profile::Trickle {
                bytes: 0,
                pause: Duration::ZERO,
            },
        ]);
        assert!(b.lf_only && !b.pipelining && b.capa && !b.lock_session);
        assert_eq!(b.slow, Some(Duration::from_millis(1)));
        assert_eq!(b.trickle, Some((1, Duration::ZERO)));
        assert_eq!(Behaviour::of(&[Profile::DovecotLike]), Behaviour::of(&[]));
    }

    #[test]
    fn login_delay_is_advertised_rounded_up() {
        let seconds = |d| Behaviour::of(&[Profile::LoginDelay(d)]).login_delay_seconds();
        assert_eq!(seconds(Duration::ZERO), Some(0));
        assert_eq!(seconds(Duration::from_millis(1)), Some(1));
        assert_eq!(seconds(Duration::from_secs(3600)), Some(3600));
        assert_eq!(seconds(Duration::from_millis(2500)), Some(3));
        assert_eq!(seconds(Duration::MAX), Some(u32::MAX));
        assert_eq!(Behaviour::of(&[]).login_delay_seconds(), None);
    }
}
