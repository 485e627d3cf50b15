//! Tenant ids: what the runtime accepts as one, and the PostgreSQL setting
//! that holds the requesting tenant's id inside a tenant transaction.
//!
//! Ids that look alike must not be different tenants: an id is taken in
//! Unicode normal form C (`"e\u{301}"` is `"é"`), and ids with invisible or
//! bidirectional control characters (a zero-width space, a byte-order mark,
//! a right-to-left override) are refused unless the tenancy allows them
//! ([`TenancyBuilder::allow_invisible_tenant_ids`](crate::TenancyBuilder::allow_invisible_tenant_ids)).

use unicode_normalization::UnicodeNormalization;

/// The longest tenant id accepted, in bytes of UTF-8.
///
/// Partition names never contain the id (they use a generated suffix), so
/// the limit is about keeping the registry and logs sane, not PostgreSQL's
/// 63-byte identifier limit.
pub const MAX_TENANT_ID_BYTES: usize = 200;

/// The PostgreSQL setting a tenant transaction sets to the tenant id (read by
/// row-level security policies with `current_setting('app.tenant_id', true)`).
pub const TENANT_SETTING: &str = "app.tenant_id";

/// Why a string is not a valid tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTenantId {
    /// The id is the empty string.
    #[error("the tenant id is empty")]
    Empty,
    /// The id is longer than the limit.
    #[error("the tenant id is {len} bytes long; the limit is {max} bytes")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// [`MAX_TENANT_ID_BYTES`].
        max: usize,
    },
    /// The id holds a control character (NUL, tab, newline, ...).
    #[error("the tenant id holds the control character U+{code_point:04X} at byte {offset}")]
    ControlCharacter {
        /// Byte offset of the character.
        offset: usize,
        /// The character's code point.
        code_point: u32,
    },
    /// The id holds an invisible or bidirectional formatting character, with
    /// which two ids that look the same would be different tenants.
    #[error("the tenant id holds the invisible character U+{code_point:04X} at byte {offset} (a look-alike of an id without it); allow such ids with TenancyBuilder::allow_invisible_tenant_ids")]
    InvisibleCharacter {
        /// Byte offset of the character (in the normalized id).
        offset: usize,
        /// The character's code point.
        code_point: u32,
    },
    /// The tenant column is not text, and the id reads as another text in
    /// its type: `'007'` is the bigint 7, whose id is `'7'`.
    #[error("the tenant id is not the canonical text of a {sql_type} (the tenant column's type): write {canonical:?}")]
    NotCanonical {
        /// The tenant column's type.
        sql_type: String,
        /// The id the value reads back as.
        canonical: String,
    },
    /// The tenant column is not text, and the id is not a value of its type.
    #[error("the tenant id is not a {sql_type} (the tenant column's type): {reason}")]
    NotOfColumnType {
        /// The tenant column's type.
        sql_type: String,
        /// PostgreSQL's message.
        reason: String,
    },
}

/// Characters that render as nothing (or only change the direction of what
/// follows): format characters, fillers and variation selectors.
fn is_invisible(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF9..=0xFFFB
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE007F
            | 0xE0100..=0xE01EF
    )
}

/// How a tenancy takes tenant ids: checked ([`validate_tenant_id`]), in
/// normal form C, and without invisible characters unless allowed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TenantIds {
    pub(crate) allow_invisible: bool,
}

impl TenantIds {
    /// The id as the tenancy uses it, or why it is refused.
    pub(crate) fn accept(&self, id: &str) -> Result<String, InvalidTenantId> {
        validate_tenant_id(id)?;
        let normalized: String = id.nfc().collect();
        validate_tenant_id(&normalized)?;
        if !self.allow_invisible {
            if let Some((offset, c)) = normalized.char_indices().find(|(_, c)| is_invisible(*c)) {
                return Err(InvalidTenantId::InvisibleCharacter {
                    offset,
                    code_point: u32::from(c),
                });
            }
        }
        Ok(normalized)
    }
}

/// Checks that `id` can be a tenant id: 1 to [`MAX_TENANT_ID_BYTES`] bytes,
/// no control characters (which includes NUL, which PostgreSQL text cannot
/// hold). Quotes, spaces and any printable Unicode are fine.
pub fn validate_tenant_id(id: &str) -> Result<(), InvalidTenantId> {
    if id.is_empty() {
        return Err(InvalidTenantId::Empty);
    }
    if id.len() > MAX_TENANT_ID_BYTES {
        return Err(InvalidTenantId::TooLong {
            len: id.len(),
            max: MAX_TENANT_ID_BYTES,
        });
    }
    if let Some((offset, character)) = id.char_indices().find(|(_, c)| c.is_control()) {
        return Err(InvalidTenantId::ControlCharacter {
            offset,
            code_point: u32::from(character),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_printable_ids() {
        for id in [
            "org-alpha",
            "x'; DROP TABLE forms; --",
            "ünïcødé 租户",
            "a b\"c",
        ] {
            assert_eq!(validate_tenant_id(id), Ok(()), "{id}");
        }
        assert_eq!(validate_tenant_id(&"é".repeat(100)), Ok(()));
    }

    #[test]
    fn look_alike_ids_are_one_tenant_or_refused() {
        let ids = TenantIds::default();
        assert_eq!(ids.accept("e\u{301}cole").unwrap(), "\u{e9}cole");
        assert_eq!(ids.accept("\u{e9}cole").unwrap(), "\u{e9}cole");
        for hidden in [
            "al\u{200B}ice",
            "\u{FEFF}alice",
            "alice\u{202E}",
            "a\u{2066}b",
        ] {
            assert!(
                matches!(
                    ids.accept(hidden),
                    Err(InvalidTenantId::InvisibleCharacter { .. })
                ),
                "{hidden:?}"
            );
        }
        let allowing = TenantIds {
            allow_invisible: true,
        };
        assert_eq!(allowing.accept("al\u{200B}ice").unwrap(), "al\u{200B}ice");
        assert!(allowing.accept("a\0b").is_err());
    }

    #[test]
    fn rejects_empty_long_and_control() {
        assert_eq!(validate_tenant_id(""), Err(InvalidTenantId::Empty));
        assert_eq!(
            validate_tenant_id(&"a".repeat(201)),
            Err(InvalidTenantId::TooLong { len: 201, max: 200 })
        );
        assert_eq!(
            validate_tenant_id("a\0b"),
            Err(InvalidTenantId::ControlCharacter {
                offset: 1,
                code_point: 0
            })
        );
        assert!(validate_tenant_id("tab\there").is_err());
        assert!(validate_tenant_id("line\n").is_err());
        assert!(validate_tenant_id("c1\u{85}").is_err());
    }
}
