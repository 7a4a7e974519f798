//! The pure rules of notifications: their kinds, who gets one, the mentions in a comment and
//! the words of each notice. No I/O here.

/// What a notification is about (`notifications.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Assigned,
    DeadlineReached,
    Mentioned,
    DealWon,
    DealLost,
    CallMissed,
    FormSubmitted,
    ImportFinished,
    WebhookDisabled,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Assigned,
        Kind::DeadlineReached,
        Kind::Mentioned,
        Kind::DealWon,
        Kind::DealLost,
        Kind::CallMissed,
        Kind::FormSubmitted,
        Kind::ImportFinished,
        Kind::WebhookDisabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Assigned => "ASSIGNED",
            Kind::DeadlineReached => "DEADLINE_REACHED",
            Kind::Mentioned => "MENTIONED",
            Kind::DealWon => "DEAL_WON",
            Kind::DealLost => "DEAL_LOST",
            Kind::CallMissed => "CALL_MISSED",
            Kind::FormSubmitted => "FORM_SUBMITTED",
            Kind::ImportFinished => "IMPORT_FINISHED",
            Kind::WebhookDisabled => "WEBHOOK_DISABLED",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Whether `recipient` is told of a change `actor` made: never of one's own doing. A change
/// no user made (`None`: the deadline ticker, a finished import, a disabled webhook, a web
/// form's visitor) is told to everyone it concerns.
pub fn tells(recipient: i64, actor: Option<i64>) -> bool {
    actor != Some(recipient)
}

/// The users a comment mentions, in order, each once: `@[Anna Berg](user:5)`, as most chat
/// tools write a mention (the name is what readers see, the id is who is meant). `user:5`
/// may also be a bare number.
pub fn mentions(text: &str) -> Vec<i64> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("@[") {
        rest = &rest[start + 2..];
        let Some(close) = rest.find("](") else { break };
        let name = &rest[..close];
        let after = &rest[close + 2..];
        let Some(end) = after.find(')') else { break };
        let target = after[..end].trim();
        let id = target.strip_prefix("user:").unwrap_or(target);
        if !name.contains('\n')
            && let Ok(id) = id.parse::<i64>()
            && id > 0
            && !out.contains(&id)
        {
            out.push(id);
        }
        rest = &after[end..];
    }
    out
}

/// How a comment reads in a notice: mentions as their names, at most 200 characters.
pub fn excerpt(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("@[") {
        plain.push_str(&rest[..start]);
        let tail = &rest[start + 2..];
        match (tail.find("]("), tail.find(')')) {
            (Some(close), Some(end)) if close < end => {
                plain.push('@');
                plain.push_str(&tail[..close]);
                rest = &tail[end + 1..];
            }
            _ => {
                plain.push_str("@[");
                rest = tail;
            }
        }
    }
    plain.push_str(rest);
    let plain = plain.trim();
    if plain.chars().count() <= 200 {
        return plain.to_owned();
    }
    let cut: String = plain.chars().take(199).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("assigned"), None);
    }

    #[test]
    fn nobody_is_told_of_their_own_doing() {
        assert!(!tells(5, Some(5)));
        assert!(tells(5, Some(6)));
        assert!(tells(5, None));
    }

    #[test]
    fn mentions_are_read_as_chat_tools_write_them() {
        assert_eq!(mentions("Hi @[Anna Berg](user:5), see @[Ben](user:7) and @[Anna](user:5)"), vec![5, 7]);
        assert_eq!(mentions("@[Bare](12) works too"), vec![12]);
        assert_eq!(mentions("mail anna@example.com or @Anna"), Vec::<i64>::new());
        assert_eq!(mentions("@[Broken](user:x) @[Unclosed](user:3"), Vec::<i64>::new());
        assert_eq!(mentions("@[Zero](user:0) @[Neg](user:-2)"), Vec::<i64>::new());
        assert_eq!(mentions("@[Two\nlines](user:4)"), Vec::<i64>::new());
        assert_eq!(mentions("[Not](user:4) @[]( user:9 )"), vec![9]);
    }

    #[test]
    fn excerpts_show_names_and_stay_short() {
        assert_eq!(excerpt("Hi @[Anna Berg](user:5), call them"), "Hi @Anna Berg, call them");
        assert_eq!(excerpt("odd @[ text"), "odd @[ text");
        let long = "x".repeat(300);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), 200);
        assert!(e.ends_with('…'));
    }
}
