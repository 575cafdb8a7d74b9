//! Checks on values that JSON's types alone cannot express; each failure is a `422` naming the field.

use crate::ApiError;

pub fn positive(field: &str, value: i32) -> Result<(), ApiError> {
    if value > 0 {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("{field}: must be a positive integer")))
    }
}
