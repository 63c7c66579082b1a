//! Reading and writing plain JS objects without panicking.
//!
//! `Reflect.get` on a hostile object can throw (a getter, a Proxy); these
//! helpers turn that into "absent", and typed readers report what they found
//! instead of guessing.

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// `target[key]`, or `undefined` if reading it threw.
pub fn get(target: &JsValue, key: &str) -> JsValue {
    if !target.is_object() && !target.is_function() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Sets `target[key] = value`. Setting a property on a fresh plain object
/// cannot fail; on anything else a failure is ignored.
pub fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

/// A value that is either missing (`undefined`/`null`) or of the wrong type.
pub enum Unexpected {
    /// Present, but not of the type asked for.
    WrongType,
}

/// `Ok(None)` for `undefined`/`null`, `Ok(Some(..))` for a string.
pub fn optional_string(value: &JsValue) -> Result<Option<String>, Unexpected> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value.as_string().map(Some).ok_or(Unexpected::WrongType)
}

/// `Ok(None)` for `undefined`/`null`, `Ok(Some(..))` for a number.
pub fn optional_number(value: &JsValue) -> Result<Option<f64>, Unexpected> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value.as_f64().map(Some).ok_or(Unexpected::WrongType)
}

/// `Ok(None)` for `undefined`/`null`, `Ok(Some(..))` for a function.
pub fn optional_function(value: &JsValue) -> Result<Option<Function>, Unexpected> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value
        .dyn_ref::<Function>()
        .cloned()
        .map(Some)
        .ok_or(Unexpected::WrongType)
}

/// Whether `value` is a non-null object that is not an array.
pub fn is_plain_object(value: &JsValue) -> bool {
    value.is_object() && !js_sys::Array::is_array(value)
}
