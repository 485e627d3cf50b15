//! Tenant ids: what the runtime accepts as one, and the PostgreSQL setting
//! that holds the requesting tenant's id inside a tenant transaction.

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
