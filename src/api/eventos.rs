//! The kinds of event on Profesor's stream (`GET /eventos`), named once for
//! both ends: Profesor writes them as the SSE `event:` field, Docencio reads
//! them back.

/// What an event is about: the SSE `event:` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// An announcement of Profesor's ([`super::Anuncio`]).
    Anuncio,
    /// A chat line written at some Docencio ([`super::ChatLine`]).
    Chat,
    /// A file of the material Profesor sends to everyone
    /// ([`super::Archivo`]): each Docencio tells its named students, who
    /// download it.
    Material,
    /// Only ever sent, never kept: the follower asked for events this
    /// Profesor no longer keeps (`data`: `{"desde": <its Last-Event-ID>}`).
    Perdidos,
}

impl EventKind {
    /// The SSE `event:` field.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Anuncio => "anuncio",
            EventKind::Chat => "chat",
            EventKind::Material => "material",
            EventKind::Perdidos => "perdidos",
        }
    }

    /// The kind an `event:` field names, if any.
    pub fn parse(kind: &str) -> Option<Self> {
        match kind {
            "anuncio" => Some(EventKind::Anuncio),
            "chat" => Some(EventKind::Chat),
            "material" => Some(EventKind::Material),
            "perdidos" => Some(EventKind::Perdidos),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_as_itself() {
        use EventKind::*;
        for kind in [Anuncio, Chat, Material, Perdidos] {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("otro"), None);
    }
}
