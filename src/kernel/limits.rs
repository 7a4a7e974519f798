//! Size limits on client input. Every list a client sends and every filter it builds is
//! bounded, so one request's work and memory grow with the request body at most linearly,
//! never with its square. The values are far above what a sales team's screens send; a
//! request over a limit is BAD_USER_INPUT naming the field and nothing is written.
//! (Page sizes are in `kernel::list`: `MAX_PAGE`; money ranges in `money` and `validate`.)

use crate::kernel::error::{DomainError, DomainResult};

/// Order keys per list. The keyset condition that continues after a cursor grows with the
/// square of the keys (3,000 keys took 16 s of CPU and 780 MB); no screen sorts by more
/// than three columns.
pub const MAX_ORDER_KEYS: usize = 5;

/// Values in one filter `in` list (ids, strings, numbers, dates). They travel as a single
/// array bind, but are decoded and normalised one by one.
pub const MAX_IN_VALUES: usize = 1_000;

/// Values in a custom field filter's `in` list: each becomes its own indexed containment
/// test in the statement, so this is lower than `MAX_IN_VALUES`.
pub const MAX_CUSTOM_IN_VALUES: usize = 100;

/// How deep `and`/`or`/`not` may nest in one filter. Filter conversion and compilation
/// recurse once per level.
pub const MAX_FILTER_DEPTH: usize = 10;

/// Nodes of one compiled filter: every filter object, every `and`/`or` list, every `not`
/// and every operator (`eq`, `in`, ...) counts one, so this allows about 100 conditions.
/// Each adds SQL text and binds to the statement, and every new shape is planned anew.
pub const MAX_FILTER_NODES: usize = 200;

/// Rows in one `setProductRows` list.
pub const MAX_PRODUCT_ROWS: usize = 1_000;

/// Elements merged into one in a single merge (`mergeIds`); each is locked, compared and
/// moved inside one transaction.
pub const MAX_MERGE_IDS: usize = 50;

/// Values in each list of `findDuplicates` (phones, emails, names, companyTitles).
pub const MAX_DUPLICATE_VALUES: usize = 100;

/// Roles given to one user (`assignRoles`, `roleIds` of user inputs).
pub const MAX_ROLE_IDS: usize = 100;

/// Lines of one role's permissions (`setRolePermissions`); each may name a pipeline that
/// is looked up.
pub const MAX_PERMISSION_LINES: usize = 1_000;

/// Items of an ENUMERATION custom field (`items`).
pub const MAX_CUSTOM_FIELD_ITEMS: usize = 1_000;

/// Values of one multiple custom field; EMPLOYEE and ELEMENT_LINK values are looked up one
/// by one.
pub const MAX_CUSTOM_FIELD_VALUES: usize = 100;

/// Custom field values set in one write (`customFields`).
pub const MAX_CUSTOM_FIELDS_PER_WRITE: usize = 500;

/// Communications of one kind on an element (`phones`, `emails`, `webs`, `ims`) and of one
/// activity (`communications`).
pub const MAX_COMMUNICATIONS: usize = 50;

/// Linked elements set in one write (`contactIds` of a deal, `companyIds` of a contact).
pub const MAX_LINKED_IDS: usize = 500;

/// Further elements an activity is bound to (`bindings`); each is checked for access.
pub const MAX_BINDINGS: usize = 50;

/// Bank accounts in one company's requisites (`bankAccounts`).
pub const MAX_BANK_ACCOUNTS: usize = 20;

/// Column mappings of one import (one per column of the file; wider files are not tables
/// a person maintains).
pub const MAX_IMPORT_COLUMNS: usize = 500;

/// The sort value of the `index`-th entry of a list (10, 20, 30, ...), leaving room to
/// insert between entries; saturates instead of overflowing.
pub fn position_sort(index: usize) -> i32 {
    i32::try_from(index).ok().and_then(|i| i.checked_add(1)).and_then(|i| i.checked_mul(10)).unwrap_or(i32::MAX)
}

/// BAD_USER_INPUT on `field` when a list holds more than `max` entries.
pub fn check_len(field: &str, len: usize, max: usize) -> DomainResult<()> {
    if len > max {
        return Err(DomainError::bad_input(field, format!("`{field}` holds at most {max} entries ({len} given)")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_saturate() {
        assert_eq!(position_sort(0), 10);
        assert_eq!(position_sort(2), 30);
        assert_eq!(position_sort(usize::MAX), i32::MAX);
        assert_eq!(position_sort(300_000_000), i32::MAX);
    }

    #[test]
    fn lists_up_to_the_limit_pass() {
        assert!(check_len("rows", MAX_PRODUCT_ROWS, MAX_PRODUCT_ROWS).is_ok());
        match check_len("mergeIds", MAX_MERGE_IDS + 1, MAX_MERGE_IDS) {
            Err(DomainError::BadInput { field, message }) => {
                assert_eq!(field, "mergeIds");
                assert!(message.contains("at most 50"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
