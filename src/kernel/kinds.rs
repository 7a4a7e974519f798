//! The closed sets of words Kontor stores as text: what a history entry records, what an
//! event announces (activity types, directions and priorities are in `activity::rules`).
//! One enum per set, with the stored spelling in one place (`as_str`, `parse`).

/// A closed set of stored words, for code that handles any of them (input checks).
pub trait Words: Copy + 'static {
    const ALL: &'static [Self];
    fn word(self) -> &'static str;
    fn from_word(word: &str) -> Option<Self>;
}

/// An enum whose variants are stored as fixed upper-case words.
macro_rules! stored_words {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $word:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The word as stored.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)*
                }
            }

            pub fn parse(word: &str) -> Option<$name> {
                match word {
                    $($word => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl $crate::kernel::kinds::Words for $name {
            const ALL: &'static [$name] = $name::ALL;
            fn word(self) -> &'static str {
                self.as_str()
            }
            fn from_word(word: &str) -> Option<$name> {
                $name::parse(word)
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self.as_str() == other.as_str()
            }
        }
    };
}

pub(crate) use stored_words;

stored_words! {
    /// What a timeline entry records (`timeline_entries.kind`).
    HistoryKind {
        Created = "CREATED",
        Updated = "UPDATED",
        Deleted = "DELETED",
        Comment = "COMMENT",
        StatusChanged = "STATUS_CHANGED",
        Junked = "JUNKED",
        Converted = "CONVERTED",
        StageChanged = "STAGE_CHANGED",
        Closed = "CLOSED",
        Reopened = "REOPENED",
        Merged = "MERGED",
        ActivityAdded = "ACTIVITY_ADDED",
        ActivityCompleted = "ACTIVITY_COMPLETED",
        ActivityReopened = "ACTIVITY_REOPENED",
        /// An element took over an activity from a deleted element.
        ActivityMoved = "ACTIVITY_MOVED",
        /// An import job created or changed the element (the text names the job).
        Imported = "IMPORTED",
        /// Rolling back an import put the element's values back.
        ImportRolledBack = "IMPORT_ROLLED_BACK",
    }
}

stored_words! {
    /// What an event announces (`events.action`).
    EventAction {
        Created = "CREATED",
        Updated = "UPDATED",
        Deleted = "DELETED",
        Converted = "CONVERTED",
        StageChanged = "STAGE_CHANGED",
        Closed = "CLOSED",
        Merged = "MERGED",
        /// A new timeline entry; its payload's `element` is the entry.
        Timeline = "TIMELINE",
        /// Some users' counters changed; its payload's `users` names them. Written by the
        /// database (`kontor_counters_refresh`, migration 000006) and by the counter ticker.
        Counters = "COUNTERS",
        /// Something that decides who may do what changed (a token, a user, a role, a
        /// department); written by triggers (migration 000012). Live connections re-check
        /// their token on it.
        Access = "ACCESS",
        /// Activity events ride on the owner element's stream but say what they are.
        ActivityCreated = "ACTIVITY_CREATED",
        ActivityUpdated = "ACTIVITY_UPDATED",
        ActivityDeleted = "ACTIVITY_DELETED",
        ActivityCompleted = "ACTIVITY_COMPLETED",
        ActivityReopened = "ACTIVITY_REOPENED",
        /// A telephone system registered a call; the event is the call's own (`element_type`
        /// CALL, the call's id), its payload names the call and its user (`incomingCall`).
        Call = "CALL",
        /// A notification for the user named by `element_id` (element type `USER`); its
        /// payload is the notification (`notificationAdded`).
        Notification = "NOTIFICATION",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_parses_back_to_its_kind() {
        for k in HistoryKind::ALL {
            assert_eq!(HistoryKind::parse(k.as_str()), Some(*k));
        }
        for a in EventAction::ALL {
            assert_eq!(EventAction::parse(a.as_str()), Some(*a));
        }
        assert_eq!(EventAction::parse("created"), None, "stored words are upper case");
    }
}
