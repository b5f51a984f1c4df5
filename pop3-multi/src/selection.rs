//! Which messages a run is about.

use std::collections::HashSet;

use pop3_session::Entry;

/// Which messages a run is about: all of them, or those with these UIDs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Selection {
    /// Every message on the server.
    #[default]
    All,
    /// The messages with these UIDs (unknown ones are reported).
    Uids(Vec<String>),
}

impl Selection {
    /// The entries of a snapshot this selects, and the UIDs asked for that it lacks (each
    /// once, in the order first asked for).
    pub(crate) fn apply<'a>(&self, entries: &'a [Entry]) -> (Vec<&'a Entry>, Vec<String>) {
        match self {
            Self::All => (entries.iter().collect(), Vec::new()),
            Self::Uids(uids) => {
                let wanted: HashSet<&str> = uids.iter().map(String::as_str).collect();
                let present: HashSet<&str> = entries.iter().map(|e| e.uid.as_str()).collect();
                let selected = entries
                    .iter()
                    .filter(|e| wanted.contains(e.uid.as_str()))
                    .collect();
                let mut reported = HashSet::new();
                let unknown: Vec<String> = uids
                    .iter()
                    .filter(|u| !present.contains(u.as_str()) && reported.insert(u.as_str()))
                    .cloned()
                    .collect();
                (selected, unknown)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use pop3_session::Uid;

    use super::*;

    fn entry(msg: u32, uid: &str) -> Entry {
        Entry {
            msg,
            uid: Uid::new(uid).expect("uid"),
            size: 10,
        }
    }

    #[test]
    fn uids_select_and_unknown_ones_are_reported() {
        let entries = [entry(1, "a"), entry(2, "b"), entry(3, "c")];
        let (selected, unknown) = Selection::All.apply(&entries);
        assert_eq!((selected.len(), unknown.len()), (3, 0));
        let uids = Selection::Uids(vec!["c".into(), "zz".into(), "a".into()]);
        let (selected, unknown) = uids.apply(&entries);
        let msgs: Vec<u32> = selected.iter().map(|e| e.msg).collect();
        assert_eq!(msgs, [1, 3]);
        assert_eq!(unknown, ["zz"]);
    }

    #[test]
    fn each_unknown_uid_is_reported_once_in_the_order_first_asked_for() {
        let entries = [entry(1, "a")];
        let asked = ["x", "a", "y", "x", "a", "y", "z", "x"];
        let uids = Selection::Uids(asked.iter().map(|&u| u.to_owned()).collect());
        let (selected, unknown) = uids.apply(&entries);
        assert_eq!(selected.len(), 1);
        assert_eq!(unknown, ["x", "y", "z"]);
    }
}
