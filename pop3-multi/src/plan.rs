//! What the coordinator decides, without I/O: which session transfers which message,
//! what a failed session's work becomes, whether to keep opening sessions, when to stop
//! pipelining, and how many sessions are worth opening.
//!
//! Everything here is a pure function of what the drivers report, so each decision is
//! unit-tested on its own.

use std::collections::{HashMap, HashSet};

use pop3_session::{Entry, ErrorKind, Uid};

/// A session of one run, numbered from 0 in the order they were opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub usize);

/// One message to transfer, identified by its UID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The message's unique-id.
    pub uid: Uid,
    /// Its size as the snapshot gave it.
    pub size: u64,
}

/// Where a UID is in one session's snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Number {
    /// Listed once, as this message number.
    Known(u32),
    /// Not listed.
    Unlisted,
    /// Listed for more than one message: no number is guessed.
    Ambiguous,
}

/// A session's message numbers: UID → number in its own snapshot (numbers differ
/// between sessions; UIDs do not).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Numbers {
    known: HashMap<Uid, u32>,
    /// UIDs listed for more than one message.
    ambiguous: HashSet<Uid>,
}

impl Numbers {
    /// The numbers of a snapshot. A UID it lists for two messages maps to neither
    /// (RFC 1939 requires UIDs to be unique; the core refuses such listings, this is a
    /// second line of defence).
    pub fn of(entries: &[Entry]) -> Self {
        let mut numbers = Self::default();
        for entry in entries {
            if numbers.ambiguous.contains(&entry.uid) {
                continue;
            }
            if numbers.known.insert(entry.uid.clone(), entry.msg).is_some() {
                numbers.known.remove(&entry.uid);
                numbers.ambiguous.insert(entry.uid.clone());
            }
        }
        numbers
    }

    /// The message number of `uid` in this snapshot.
    pub fn get(&self, uid: &Uid) -> Number {
        match self.known.get(uid) {
            Some(&msg) => Number::Known(msg),
            None if self.ambiguous.contains(uid) => Number::Ambiguous,
            None => Number::Unlisted,
        }
    }
}

/// Why a message was not transferred.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server answered `-ERR` for it.
    Refused(String),
    /// No session that could still take it has it in its snapshot (another client
    /// expunged it, say). Reported, never guessed.
    Missing,
    /// Its UID was listed for more than one message (by the snapshot the run was planned
    /// from, or by every session that could take it): which message it names cannot be
    /// told. Reported, never guessed.
    Ambiguous,
    /// The sessions that took it kept failing; the last failure.
    Exhausted(String),
    /// The destination could not store it.
    Store(String),
    /// The run was stopped before it was done.
    Stopped,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(status) => write!(f, "server refused: {status}"),
            Self::Missing => f.write_str("no longer on the server"),
            Self::Ambiguous => f.write_str("its UID names more than one message"),
            Self::Exhausted(last) => write!(f, "sessions kept failing: {last}"),
            Self::Store(e) => write!(f, "not stored: {e}"),
            Self::Stopped => f.write_str("the run was stopped first"),
        }
    }
}

/// Where a job is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for a session.
    Pending,
    /// Handed to a session, not yet complete.
    Running(SessionId),
    /// Received whole; the destination is making it durable. A session that fails now
    /// does not take it back: it is delivered already.
    Committing(SessionId),
    /// Delivered.
    Done(SessionId),
    Failed(Failure),
}

#[derive(Debug)]
struct Slot {
    job: Job,
    state: State,
    /// Sessions that failed while receiving it: a job is retried within a bound.
    attempts: u32,
    /// Its session has started receiving it (its answer began).
    started: bool,
    /// Sessions whose snapshot lacks it.
    not_in: HashSet<SessionId>,
    /// Some session's snapshot listed it for more than one message.
    ambiguous: bool,
}

/// The jobs of one run and the state of each.
///
/// Jobs are handed out largest first, so the last batches are small and the run does
/// not wait on one session finishing a big message alone.
#[derive(Debug)]
pub struct Plan {
    slots: Vec<Slot>,
    by_uid: HashMap<Uid, usize>,
    /// Indices of pending slots, largest first (popped from the front).
    queue: std::collections::VecDeque<usize>,
    live: HashSet<SessionId>,
    max_attempts: u32,
}

impl Plan {
    /// Jobs for these messages; a job is given to at most `max_attempts` sessions that
    /// fail before it is reported as [`Failure::Exhausted`]. A UID given twice (a snapshot
    /// that lists it for two messages) is one job, reported as [`Failure::Ambiguous`]
    /// and never handed out.
    pub fn new(jobs: impl IntoIterator<Item = Job>, max_attempts: u32) -> Self {
        let mut slots: Vec<Slot> = Vec::new();
        let mut by_uid = HashMap::new();
        for job in jobs {
            if let Some(&index) = by_uid.get(&job.uid) {
                let slot: &mut Slot = &mut slots[index];
                slot.state = State::Failed(Failure::Ambiguous);
                continue;
            }
            by_uid.insert(job.uid.clone(), slots.len());
            slots.push(Slot {
                job,
                state: State::Pending,
                attempts: 0,
                started: false,
                not_in: HashSet::new(),
                ambiguous: false,
            });
        }
        let mut queue: Vec<usize> = (0..slots.len())
            .filter(|&i| slots[i].state == State::Pending)
            .collect();
        queue.sort_by(|&a, &b| slots[b].job.size.cmp(&slots[a].job.size).then(a.cmp(&b)));
        Self {
            slots,
            by_uid,
            queue: queue.into(),
            live: HashSet::new(),
            max_attempts: max_attempts.max(1),
        }
    }

    /// Jobs for every message of a snapshot.
    pub fn from_snapshot(entries: &[Entry], max_attempts: u32) -> Self {
        Self::new(
            entries.iter().map(|e| Job {
                uid: e.uid.clone(),
                size: e.size,
            }),
            max_attempts,
        )
    }

    /// A session is logged in and may take jobs.
    pub fn session_opened(&mut self, session: SessionId) {
        self.live.insert(session);
    }

    /// How many jobs a pipelining session should take at once among `sessions`: an equal
    /// share of what is pending (guided self-scheduling), at most 1024.
    ///
    /// Each batch costs its session a round trip, so few batches matter most on a slow
    /// link; shares shrink as the work does, so the last batches are single jobs and
    /// no session is left finishing a long batch alone.
    pub fn batch_size(&self, sessions: usize) -> usize {
        self.queue.len().div_ceil(sessions.max(1)).clamp(1, 1024)
    }

    /// Hands `session` up to `max` pending jobs (largest first) it has not been told
    /// it lacks.
    pub fn take(&mut self, session: SessionId, max: usize) -> Vec<Job> {
        let mut taken = Vec::new();
        let mut skipped = Vec::new();
        while taken.len() < max {
            let Some(index) = self.queue.pop_front() else {
                break;
            };
            let slot = &mut self.slots[index];
            if slot.not_in.contains(&session) {
                skipped.push(index);
                continue;
            }
            slot.state = State::Running(session);
            taken.push(slot.job.clone());
        }
        // Skipped jobs keep their place for other sessions.
        for index in skipped.into_iter().rev() {
            self.queue.push_front(index);
        }
        taken
    }

    fn slot(&mut self, uid: &Uid) -> Option<&mut Slot> {
        let index = *self.by_uid.get(uid)?;
        self.slots.get_mut(index)
    }

    /// `session` began receiving the message: if the session fails now, that counts as
    /// an attempt (the jobs queued behind it in its pipeline never started, and go
    /// back without using one up).
    pub fn receiving(&mut self, session: SessionId, uid: &Uid) {
        if let Some(slot) = self.slot(uid)
            && slot.state == State::Running(session)
        {
            slot.started = true;
        }
    }

    /// The message arrived whole and the destination is making it durable.
    pub fn committing(&mut self, session: SessionId, uid: &Uid) {
        if let Some(slot) = self.slot(uid)
            && slot.state == State::Running(session)
        {
            slot.state = State::Committing(session);
        }
    }

    /// The message is durable.
    pub fn delivered(&mut self, session: SessionId, uid: &Uid) {
        if let Some(slot) = self.slot(uid) {
            slot.state = State::Done(session);
        }
    }

    /// The message failed for good (the server refused it, the destination could not
    /// store it): no other session will try it.
    pub fn failed(&mut self, uid: &Uid, failure: Failure) {
        if let Some(slot) = self.slot(uid) {
            slot.state = State::Failed(failure);
        }
    }

    /// `session`'s snapshot lacks the message: another session may have it.
    pub fn not_in_snapshot(&mut self, session: SessionId, uid: &Uid) {
        self.unnumbered(session, uid, false);
    }

    /// `session`'s snapshot lists the message's UID for more than one message: that
    /// session must not guess which, another session may list it once. If none does, it
    /// is reported as [`Failure::Ambiguous`].
    pub fn ambiguous_in_snapshot(&mut self, session: SessionId, uid: &Uid) {
        self.unnumbered(session, uid, true);
    }

    fn unnumbered(&mut self, session: SessionId, uid: &Uid, ambiguous: bool) {
        let Some(&index) = self.by_uid.get(uid) else {
            return;
        };
        let slot = &mut self.slots[index];
        if slot.state != State::Running(session) {
            return;
        }
        slot.ambiguous |= ambiguous;
        slot.not_in.insert(session);
        slot.state = State::Pending;
        self.queue.push_front(index);
        self.settle_missing();
    }

    /// `session` has no more work and is closing. Jobs that only its QUIT completes (a
    /// deletion) are still its own: [`session_committed`](Self::session_committed) or
    /// [`session_failed`](Self::session_failed) settles them once QUIT is answered.
    pub fn session_closed(&mut self, session: SessionId) {
        self.live.remove(&session);
        self.settle_missing();
    }

    /// `session`'s QUIT committed: the jobs it still held (deletions the server accepted)
    /// are done.
    pub fn session_committed(&mut self, session: SessionId) {
        for slot in &mut self.slots {
            if slot.state == State::Running(session) {
                slot.state = State::Done(session);
            }
        }
    }

    /// `session` failed: the jobs it was still receiving go back to the queue (ahead of
    /// the others, they are the largest), or fail once they have used up their
    /// attempts. So do the deletions it had sent when it ends without its QUIT
    /// committing them: the server rolled them back, and the message is still there for
    /// another session to delete. Returns how many went back.
    pub fn session_failed(&mut self, session: SessionId, cause: &str) -> usize {
        self.live.remove(&session);
        let mut requeued = Vec::new();
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if slot.state != State::Running(session) {
                continue;
            }
            if std::mem::take(&mut slot.started) {
                slot.attempts += 1;
            }
            if slot.attempts >= self.max_attempts {
                slot.state = State::Failed(Failure::Exhausted(cause.to_owned()));
            } else {
                slot.state = State::Pending;
                requeued.push(index);
            }
        }
        let count = requeued.len();
        for index in requeued.into_iter().rev() {
            self.queue.push_front(index);
        }
        self.settle_missing();
        count
    }

    /// Pending jobs that every live session lacks are missing, as long as some session
    /// has looked (with none live, a new session may still have them).
    fn settle_missing(&mut self) {
        if self.live.is_empty() {
            return;
        }
        let live = &self.live;
        let mut kept = std::collections::VecDeque::new();
        for index in self.queue.drain(..) {
            let slot = &mut self.slots[index];
            if !slot.not_in.is_empty() && live.iter().all(|s| slot.not_in.contains(s)) {
                slot.state = State::Failed(if slot.ambiguous {
                    Failure::Ambiguous
                } else {
                    Failure::Missing
                });
            } else {
                kept.push_back(index);
            }
        }
        self.queue = kept;
    }

    /// Whether no job waits for a session or is being received (some may still be
    /// becoming durable).
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
            && !self
                .slots
                .iter()
                .any(|s| matches!(s.state, State::Pending | State::Running(_)))
    }

    /// Whether jobs wait for a session.
    pub fn has_pending(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Bytes of the jobs still waiting for a session.
    pub fn pending_bytes(&self) -> u64 {
        self.queue.iter().map(|&i| self.slots[i].job.size).sum()
    }

    /// The run was stopped: every job still pending or running is left undone.
    pub fn stopped(&mut self) {
        for slot in &mut self.slots {
            if matches!(slot.state, State::Pending | State::Running(_)) {
                slot.state = State::Failed(Failure::Stopped);
            }
        }
        self.queue.clear();
    }

    /// Fails every job still pending or running (no session can take them any more).
    pub fn abandon(&mut self, cause: &str) {
        for slot in &mut self.slots {
            if matches!(slot.state, State::Pending | State::Running(_)) {
                slot.state = State::Failed(Failure::Exhausted(cause.to_owned()));
            }
        }
        self.queue.clear();
    }

    /// Every job is delivered or failed (none pending, running or committing).
    pub fn is_complete(&self) -> bool {
        self.slots
            .iter()
            .all(|s| matches!(s.state, State::Done(_) | State::Failed(_)))
    }

    /// Each job's result, in the order the jobs were given.
    pub fn results(&self) -> Vec<(Uid, Result<SessionId, Failure>)> {
        self.slots
            .iter()
            .map(|slot| {
                let result = match &slot.state {
                    State::Done(session) => Ok(*session),
                    State::Failed(failure) => Err(failure.clone()),
                    State::Pending | State::Running(_) | State::Committing(_) => {
                        Err(Failure::Exhausted("the run ended first".into()))
                    }
                };
                (slot.job.uid.clone(), result)
            })
            .collect()
    }
}

/// What to do after a login failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginDecision {
    /// Go on with the sessions already open, and open no more: the server allows only
    /// so many (`[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`, a refused connection).
    StopOpening,
    /// The run cannot go on: no session is open, or the failure says no session ever
    /// will be (wrong credentials, a security policy).
    Fail,
}

/// Decides after a login failed, `open` sessions being logged in already.
///
/// Servers that lock the maildrop (RFC 1939 §8 allows it: GNU mailutils, Cyrus before
/// 2.4, Dovecot with `pop3_lock_session`) or enforce a login delay answer the second
/// login with a temporary refusal: the run then goes on as well as with one session.
pub fn after_login_failure(kind: ErrorKind, open: usize) -> LoginDecision {
    if open == 0 {
        return LoginDecision::Fail;
    }
    match kind {
        // Credentials or policy that worked for the first session and fail for this one:
        // odd, but the open sessions are still good.
        ErrorKind::Temporary
        | ErrorKind::Io
        | ErrorKind::Timeout
        | ErrorKind::Closed
        | ErrorKind::Refused
        | ErrorKind::Auth
        | ErrorKind::Protocol => LoginDecision::StopOpening,
        _ => LoginDecision::Fail,
    }
}

/// Whether pipelining is still trusted for this run.
///
/// Servers exist that advertise PIPELINING and then drop the connection under a burst
/// or answer out of order. A session that fails in the middle of a pipelined batch is
/// therefore retried without pipelining, and the run remembers it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipeliningTrust {
    broken: bool,
}

impl PipeliningTrust {
    /// A session failed; `pipelined_batch` says whether it had several commands in
    /// flight when it did.
    pub fn session_failed(&mut self, pipelined_batch: bool) {
        if pipelined_batch {
            self.broken = true;
        }
    }

    /// Whether new sessions (and retries) must run in lockstep.
    pub fn lockstep(self) -> bool {
        self.broken
    }
}

/// What a run does, for choosing how many sessions help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `TOP n 0` for every message: small answers, bound by round trips.
    ListHeaders,
    /// `RETR`: bound by the bytes and by the server's per-session speed.
    Fetch,
    /// `DELE`: tiny, and each session commits only its own deletions: one is best.
    Delete,
}

/// Sessions `Auto` opens at most.
pub const MAX_AUTO_SESSIONS: usize = 8;

/// How many sessions `Auto` opens for a run over `messages` messages of `bytes` bytes.
///
/// Each session costs a login (a handful of round trips, overlapped with the first
/// session's, and a TLS handshake and SASL exchange of CPU on both sides) and its own
/// snapshot; it pays off when it takes enough work off the others. Listing headers is
/// bound by round trips: one pipelined session lists two thousand messages in a couple
/// of them, and measured against Dovecot and the test server behind a 20 ms round trip,
/// more sessions only added their logins (`pop3-multi/benches/compare.rs`); sessions are
/// added per ten thousand messages, where the server's own work starts to count.
/// Fetching is bound by one server process's speed and by the disk, whose fsyncs all
/// sessions share: past three sessions for 20 MB, more only competed for the CPU with a
/// server on the same machine (Dovecot on bare loopback was fastest with two or three),
/// so a session per 8 MiB.
pub fn auto_sessions(operation: Operation, messages: usize, bytes: u64) -> usize {
    let wanted = match operation {
        Operation::Delete => 1,
        Operation::ListHeaders => messages.div_ceil(10_000),
        Operation::Fetch => usize::try_from(bytes.div_ceil(8 << 20)).unwrap_or(usize::MAX),
    };
    wanted.clamp(1, MAX_AUTO_SESSIONS).min(messages.max(1))
}

/// Logins `Auto` starts alongside the first for `operation`, before it knows how many
/// sessions the run wants: one for a fetch (most fetches worth more than one session
/// want at least two), none for listing and deleting (which `Auto` runs on one session
/// below ten thousand messages, and a needless login costs the server a handshake).
pub fn auto_head_start(operation: Operation) -> usize {
    match operation {
        Operation::Fetch => 1,
        Operation::ListHeaders | Operation::Delete => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(s: &str) -> Uid {
        Uid::new(s).expect("uid")
    }

    fn job(name: &str, size: u64) -> Job {
        Job {
            uid: uid(name),
            size,
        }
    }

    fn names(jobs: &[Job]) -> Vec<&str> {
        jobs.iter().map(|j| j.uid.as_str()).collect()
    }

    const A: SessionId = SessionId(0);
    const B: SessionId = SessionId(1);

    #[test]
    fn jobs_go_out_largest_first() {
        let mut plan = Plan::new([job("s", 10), job("l", 300), job("m", 50)], 3);
        plan.session_opened(A);
        assert_eq!(names(&plan.take(A, 2)), ["l", "m"]);
        assert_eq!(names(&plan.take(A, 2)), ["s"]);
        assert!(plan.take(A, 2).is_empty());
        assert!(!plan.has_pending());
    }

    #[test]
    fn batches_spread_the_work_until_the_end() {
        let jobs = (0..1000).map(|i| job(&format!("u{i}"), 100));
        let plan = Plan::new(jobs, 3);
        assert_eq!(plan.batch_size(1), 1000);
        assert_eq!(plan.batch_size(3), 334);
        assert_eq!(plan.batch_size(5), 200);
        let large = Plan::new((0..5000).map(|i| job(&format!("u{i}"), 100)), 3);
        assert_eq!(large.batch_size(2), 1024);
        let small = Plan::new([job("a", 1)], 3);
        assert_eq!(small.batch_size(8), 1);
    }

    #[test]
    fn a_failed_session_gives_back_what_it_was_receiving_but_not_what_it_delivered() {
        let mut plan = Plan::new([job("a", 3), job("b", 2), job("c", 1)], 3);
        plan.session_opened(A);
        plan.session_opened(B);
        let taken = plan.take(A, 3);
        assert_eq!(names(&taken), ["a", "b", "c"]);
        plan.committing(A, &uid("a"));
        plan.delivered(A, &uid("a"));
        plan.committing(A, &uid("b")); // received whole, durable soon
        assert_eq!(plan.session_failed(A, "reset"), 1);
        // Only c goes back; b is being made durable and will be delivered.
        assert_eq!(names(&plan.take(B, 10)), ["c"]);
        plan.delivered(A, &uid("b"));
        plan.committing(B, &uid("c"));
        plan.delivered(B, &uid("c"));
        assert!(plan.is_complete());
        let results = plan.results();
        assert_eq!(results[0].1, Ok(A));
        assert_eq!(results[2].1, Ok(B));
    }

    #[test]
    fn retries_stop_at_the_bound() {
        let mut plan = Plan::new([job("a", 1)], 2);
        for session in 0..2 {
            let s = SessionId(session);
            plan.session_opened(s);
            assert_eq!(names(&plan.take(s, 1)), ["a"]);
            plan.receiving(s, &uid("a"));
            plan.session_failed(s, "reset");
        }
        assert!(!plan.has_pending());
        assert!(plan.is_complete());
        assert_eq!(plan.results()[0].1, Err(Failure::Exhausted("reset".into())));
    }

    #[test]
    fn only_the_message_being_received_uses_up_an_attempt() {
        let mut plan = Plan::new([job("a", 3), job("b", 2), job("c", 1)], 2);
        let expected_batches: [&[&str]; 4] =
            [&["a", "b", "c"], &["a", "b", "c"], &["b", "c"], &["b", "c"]];
        for (session, expected) in expected_batches.iter().enumerate() {
            let s = SessionId(session);
            plan.session_opened(s);
            let taken = plan.take(s, 3);
            assert_eq!(names(&taken), *expected, "session {session}");
            // Each session dies inside the first answer of its pipeline.
            plan.receiving(s, &taken[0].uid);
            plan.session_failed(s, "reset");
        }
        // c was in four failed pipelines, never being received: it is still to do.
        let last = SessionId(4);
        plan.session_opened(last);
        assert_eq!(names(&plan.take(last, 3)), ["c"]);
        plan.committing(last, &uid("c"));
        plan.delivered(last, &uid("c"));
        assert!(plan.is_complete());
        let results = plan.results();
        assert_eq!(results[0].1, Err(Failure::Exhausted("reset".into())));
        assert_eq!(results[1].1, Err(Failure::Exhausted("reset".into())));
        assert_eq!(results[2].1, Ok(last));
    }

    #[test]
    fn a_uid_missing_from_one_snapshot_goes_to_a_session_that_has_it() {
        let mut plan = Plan::new([job("a", 1), job("b", 1)], 3);
        plan.session_opened(A);
        plan.session_opened(B);
        assert_eq!(names(&plan.take(B, 1)), ["a"]);
        plan.not_in_snapshot(B, &uid("a"));
        // B is not given a again.
        assert_eq!(names(&plan.take(B, 5)), ["b"]);
        assert_eq!(names(&plan.take(A, 5)), ["a"]);
    }

    #[test]
    fn a_uid_no_live_session_has_is_reported_missing_never_guessed() {
        let mut plan = Plan::new([job("gone", 1)], 3);
        plan.session_opened(A);
        plan.session_opened(B);
        plan.take(A, 1);
        plan.not_in_snapshot(A, &uid("gone"));
        plan.take(B, 1);
        plan.not_in_snapshot(B, &uid("gone"));
        assert!(plan.is_complete());
        assert_eq!(plan.results()[0].1, Err(Failure::Missing));
    }

    #[test]
    fn missing_is_settled_when_the_last_session_that_could_have_it_closes() {
        let mut plan = Plan::new([job("x", 1)], 3);
        plan.session_opened(A);
        plan.session_opened(B);
        plan.take(A, 1);
        plan.not_in_snapshot(A, &uid("x"));
        assert!(!plan.is_complete(), "B may still have it");
        plan.session_closed(B);
        assert_eq!(plan.results()[0].1, Err(Failure::Missing));
    }

    fn entry(msg: u32, name: &str) -> Entry {
        Entry {
            msg,
            uid: uid(name),
            size: 10,
        }
    }

    #[test]
    fn numbers_map_uids_of_one_snapshot_and_never_guess_a_uid_listed_twice() {
        let numbers = Numbers::of(&[
            entry(1, "a"),
            entry(2, "twice"),
            entry(3, "b"),
            entry(4, "twice"),
            entry(5, "twice"),
        ]);
        assert_eq!(numbers.get(&uid("a")), Number::Known(1));
        assert_eq!(numbers.get(&uid("b")), Number::Known(3));
        assert_eq!(numbers.get(&uid("twice")), Number::Ambiguous);
        assert_eq!(numbers.get(&uid("gone")), Number::Unlisted);
        assert_eq!(Numbers::of(&[]).get(&uid("a")), Number::Unlisted);
    }

    #[test]
    fn a_uid_listed_twice_in_the_planning_snapshot_is_reported_never_handed_out() {
        let entries = [entry(1, "a"), entry(2, "twice"), entry(3, "twice")];
        let mut plan = Plan::from_snapshot(&entries, 3);
        plan.session_opened(A);
        assert_eq!(names(&plan.take(A, 10)), ["a"]);
        plan.committing(A, &uid("a"));
        plan.delivered(A, &uid("a"));
        assert!(plan.is_complete());
        assert_eq!(
            plan.results(),
            [(uid("a"), Ok(A)), (uid("twice"), Err(Failure::Ambiguous))]
        );
    }

    #[test]
    fn a_uid_listed_twice_by_a_later_session_goes_to_one_that_lists_it_once_or_is_reported() {
        let mut plan = Plan::new([job("x", 1), job("y", 1)], 3);
        plan.session_opened(A);
        plan.session_opened(B);
        assert_eq!(names(&plan.take(B, 1)), ["x"]);
        plan.ambiguous_in_snapshot(B, &uid("x"));
        assert!(!plan.is_complete(), "A may list it once");
        assert_eq!(names(&plan.take(B, 1)), ["y"], "B is not given x again");
        assert_eq!(names(&plan.take(A, 1)), ["x"]);
        plan.ambiguous_in_snapshot(A, &uid("x"));
        assert_eq!(plan.results()[0].1, Err(Failure::Ambiguous));
    }

    #[test]
    fn a_deletion_is_done_only_when_quit_commits_it_and_retried_within_the_bound() {
        let mut plan = Plan::new([job("a", 1), job("b", 1)], 2);
        // A's DELEs were accepted, then its QUIT went unanswered: rolled back, both go
        // back to the queue, each having used an attempt.
        plan.session_opened(A);
        assert_eq!(names(&plan.take(A, 2)), ["a", "b"]);
        plan.receiving(A, &uid("a"));
        plan.receiving(A, &uid("b"));
        plan.session_closed(A);
        assert!(!plan.is_idle(), "not done before QUIT is answered");
        assert_eq!(plan.session_failed(A, "dropped at QUIT"), 2);
        // B deletes a and its QUIT commits it; C's DELE of b is accepted, then C fails
        // too: b has used its attempts.
        plan.session_opened(B);
        assert_eq!(names(&plan.take(B, 1)), ["a"]);
        plan.receiving(B, &uid("a"));
        plan.session_closed(B);
        plan.session_committed(B);
        let c = SessionId(2);
        plan.session_opened(c);
        assert_eq!(names(&plan.take(c, 1)), ["b"]);
        plan.receiving(c, &uid("b"));
        assert_eq!(plan.session_failed(c, "dropped at QUIT"), 0);
        assert!(plan.is_complete());
        assert_eq!(
            plan.results(),
            [
                (uid("a"), Ok(B)),
                (uid("b"), Err(Failure::Exhausted("dropped at QUIT".into())))
            ]
        );
    }

    #[test]
    fn refused_and_unstorable_messages_fail_for_good() {
        let mut plan = Plan::new([job("a", 1), job("b", 1)], 3);
        plan.session_opened(A);
        plan.take(A, 2);
        plan.failed(&uid("a"), Failure::Refused("-ERR gone".into()));
        plan.failed(&uid("b"), Failure::Store("disk full".into()));
        assert!(plan.is_complete());
        assert_eq!(plan.session_failed(A, "later"), 0);
    }

    #[test]
    fn abandoned_jobs_are_reported() {
        let mut plan = Plan::new([job("a", 1), job("b", 1)], 3);
        plan.session_opened(A);
        plan.take(A, 1);
        plan.abandon("no session could log in");
        assert!(plan.is_complete());
        assert!(plan.results().iter().all(|(_, r)| r.is_err()));
    }

    #[test]
    fn login_failures_degrade_once_a_session_is_open() {
        for kind in [
            ErrorKind::Temporary,
            ErrorKind::Io,
            ErrorKind::Timeout,
            ErrorKind::Closed,
        ] {
            assert_eq!(after_login_failure(kind, 1), LoginDecision::StopOpening);
            assert_eq!(after_login_failure(kind, 0), LoginDecision::Fail);
        }
        assert_eq!(
            after_login_failure(ErrorKind::Security, 2),
            LoginDecision::Fail
        );
        assert_eq!(after_login_failure(ErrorKind::Auth, 0), LoginDecision::Fail);
    }

    #[test]
    fn a_failure_mid_batch_turns_pipelining_off_for_the_run() {
        let mut trust = PipeliningTrust::default();
        trust.session_failed(false);
        assert!(
            !trust.lockstep(),
            "a lockstep failure says nothing about pipelining"
        );
        trust.session_failed(true);
        assert!(trust.lockstep());
        trust.session_failed(false);
        assert!(trust.lockstep(), "remembered for the run");
    }

    #[test]
    fn auto_opens_sessions_only_where_they_help() {
        assert_eq!(auto_sessions(Operation::Delete, 10_000, 1 << 30), 1);
        assert_eq!(auto_sessions(Operation::ListHeaders, 50, 1 << 20), 1);
        assert_eq!(auto_sessions(Operation::ListHeaders, 2000, 20 << 20), 1);
        assert_eq!(auto_sessions(Operation::ListHeaders, 25_000, 200 << 20), 3);
        assert_eq!(auto_sessions(Operation::Fetch, 3, 1 << 30), 3);
        assert_eq!(auto_sessions(Operation::Fetch, 2000, 20 << 20), 3);
        assert_eq!(auto_sessions(Operation::Fetch, 100_000, 10 << 30), 8);
        assert_eq!(auto_sessions(Operation::Fetch, 0, 0), 1);
    }
}
