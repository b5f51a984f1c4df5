//! The recorded UIDs in memory: what `contains` answers from.

use std::collections::{HashMap, HashSet};

/// A recorded entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Recorded<'a> {
    /// The `.eml` file holding the message, if known.
    pub(crate) name: Option<&'a str>,
}

/// Recorded UIDs per account key, each with the `.eml` file holding it when known.
#[derive(Debug, Default)]
pub(crate) struct Index {
    accounts: HashMap<String, HashMap<String, Option<String>>>,
    /// `.eml` names some entry holds: another account's message must not overwrite them.
    claimed: HashSet<String>,
    len: usize,
}

impl Index {
    /// Whether `uid` is recorded for `account`.
    pub(crate) fn contains(&self, account: &str, uid: &str) -> bool {
        self.accounts
            .get(account)
            .is_some_and(|uids| uids.contains_key(uid))
    }

    /// The entry for `uid` of `account`, if recorded.
    pub(crate) fn entry(&self, account: &str, uid: &str) -> Option<Recorded<'_>> {
        self.accounts.get(account)?.get(uid).map(|name| Recorded {
            name: name.as_deref(),
        })
    }

    /// The UIDs recorded for `account`.
    pub(crate) fn uids(&self, account: &str) -> impl Iterator<Item = &str> {
        self.accounts
            .get(account)
            .into_iter()
            .flat_map(|uids| uids.keys().map(String::as_str))
    }

    /// Whether an entry holds the `.eml` file `name`.
    pub(crate) fn is_claimed(&self, name: &str) -> bool {
        self.claimed.contains(name)
    }

    /// Records `uid` for `account` (a known name is kept if the new record has none).
    pub(crate) fn insert(&mut self, account: &str, uid: &str, name: Option<String>) {
        if let Some(name) = &name {
            self.claimed.insert(name.clone());
        }
        let uids = self.accounts.entry(account.to_owned()).or_default();
        if let Some(old) = uids.get_mut(uid) {
            if name.is_some() {
                *old = name;
            }
        } else {
            uids.insert(uid.to_owned(), name);
            self.len += 1;
        }
    }

    /// Forgets `uid` for `account`. Its file name stays claimed: the file may still exist.
    pub(crate) fn remove(&mut self, account: &str, uid: &str) {
        if let Some(uids) = self.accounts.get_mut(account)
            && uids.remove(uid).is_some()
        {
            self.len -= 1;
        }
    }

    /// How many (account, UID) entries there are.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Every entry, grouped by account.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, &str, Option<&str>)> {
        self.accounts.iter().flat_map(|(account, uids)| {
            uids.iter()
                .map(move |(uid, name)| (account.as_str(), uid.as_str(), name.as_deref()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_by_account() {
        let mut i = Index::default();
        i.insert("a@h:1", "u", None);
        i.insert("b@h:1", "u", Some("u~2.eml".into()));
        assert!(i.contains("a@h:1", "u") && i.contains("b@h:1", "u"));
        assert!(!i.contains("c@h:1", "u"));
        assert_eq!(
            i.entry("b@h:1", "u"),
            Some(Recorded {
                name: Some("u~2.eml")
            })
        );
        assert_eq!(i.entry("a@h:1", "u"), Some(Recorded { name: None }));
        i.insert("b@h:1", "u", None);
        assert_eq!(
            i.entry("b@h:1", "u"),
            Some(Recorded {
                name: Some("u~2.eml")
            })
        );
        assert_eq!(i.len(), 2);
        i.remove("a@h:1", "u");
        i.remove("a@h:1", "u");
        assert_eq!(i.len(), 1);
        assert!(i.is_claimed("u~2.eml"));
        assert_eq!(i.entries().count(), 1);
    }
}
