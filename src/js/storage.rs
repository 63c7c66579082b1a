//! The caller's storage callbacks, and the stored token set's JS shape.
//!
//! `storage: { load, save, clear }` may return values or promises, throw,
//! reject, hang or return garbage: each of those becomes a core `storage`
//! error (hangs are cut off after the request timeout), never a crash.
//! Without the option, tokens live in memory only: the core already holds
//! them, so the memory store does nothing at all.
//!
//! The stored shape is `{ v: 1, accessToken, refreshToken, tokenType,
//! expiresAt, obtainedAt, clientId, baseUrl }`, times in ms since the epoch.
//! It never holds the client secret or a password.

use super::error::describe_thrown;
use super::object::{get, is_plain_object, set};
use super::timer::bounded;
use crate::core::error::Error;
use crate::core::secret::{AccessToken, RefreshToken};
use crate::core::token::{StoredTokenSet, TokenSet, STORED_VERSION};
use js_sys::{Function, Object, Promise};
use wasm_bindgen::{JsCast, JsValue};

/// Where token sets are kept between runs.
pub enum Storage {
    /// In memory only (the default).
    Memory,
    /// The caller's `{ load, save, clear }` object.
    Callbacks(Object),
}

impl Storage {
    /// Reads the `storage` option: absent means memory; otherwise an object
    /// with `load`, `save` and `clear` functions.
    pub fn from_option(value: &JsValue) -> Result<Self, Error> {
        if value.is_undefined() || value.is_null() {
            return Ok(Self::Memory);
        }
        let valid = value.is_object()
            && ["load", "save", "clear"]
                .iter()
                .all(|name| get(value, name).is_function());
        if !valid {
            return Err(Error::invalid_config(
                "storage",
                "must be an object with load, save and clear functions",
            ));
        }
        Ok(Self::Callbacks(value.clone().unchecked_into()))
    }

    /// Calls `listener` when another context changes the stored set, where
    /// the storage offers `subscribe(listener)` (the `localStorage` adapter
    /// does, through `storage` events). Returns the function that ends it.
    pub fn subscribe(&self, listener: &JsValue) -> Option<Function> {
        let Self::Callbacks(callbacks) = self else {
            return None;
        };
        let subscribe = get(callbacks, "subscribe").dyn_into::<Function>().ok()?;
        subscribe
            .call1(callbacks, listener)
            .ok()?
            .dyn_into::<Function>()
            .ok()
    }

    /// `storage.load()`, read into a stored token set.
    pub async fn load(&self, timeout_ms: u64) -> Result<Option<StoredTokenSet>, Error> {
        let Self::Callbacks(callbacks) = self else {
            return Ok(None);
        };
        let value = call(callbacks, "load", None, timeout_ms).await?;
        if value.is_undefined() || value.is_null() {
            return Ok(None);
        }
        record_from_js(&value).map(Some).map_err(|field| {
            Error::storage(
                "load",
                &format!("it returned an invalid token set ({field})"),
            )
        })
    }

    /// `storage.save(set)`.
    pub async fn save(&self, set: &StoredTokenSet, timeout_ms: u64) -> Result<(), Error> {
        match self {
            Self::Memory => Ok(()),
            Self::Callbacks(callbacks) => {
                call(callbacks, "save", Some(&record_to_js(set)), timeout_ms)
                    .await
                    .map(drop)
            }
        }
    }

    /// `storage.clear()`.
    pub async fn clear(&self, timeout_ms: u64) -> Result<(), Error> {
        match self {
            Self::Memory => Ok(()),
            Self::Callbacks(callbacks) => {
                call(callbacks, "clear", None, timeout_ms).await.map(drop)
            }
        }
    }
}

/// Calls `callbacks[name](argument)` with `this` the storage object, and
/// awaits the result within `timeout_ms`.
async fn call(
    callbacks: &Object,
    name: &str,
    argument: Option<&JsValue>,
    timeout_ms: u64,
) -> Result<JsValue, Error> {
    let function = get(callbacks, name)
        .dyn_into::<Function>()
        .map_err(|_| Error::storage(name, "it is no longer a function"))?;
    let returned = match argument {
        Some(argument) => function.call1(callbacks, argument),
        None => function.call0(callbacks),
    }
    .map_err(|thrown| Error::storage(name, &format!("it threw: {}", describe_thrown(&thrown))))?;
    match bounded(Promise::resolve(&returned), timeout_ms as f64).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(thrown)) => Err(Error::storage(
            name,
            &format!("it rejected: {}", describe_thrown(&thrown)),
        )),
        Err(()) => Err(Error::storage(
            name,
            &format!("it did not settle within {timeout_ms} ms"),
        )),
    }
}

/// The JS object `save` receives.
pub fn record_to_js(stored: &StoredTokenSet) -> JsValue {
    let tokens = &stored.tokens;
    let record = Object::new();
    set(&record, "v", &JsValue::from(STORED_VERSION));
    set(
        &record,
        "accessToken",
        &JsValue::from_str(tokens.access_token.secret()),
    );
    let refresh = tokens
        .refresh_token
        .as_ref()
        .map_or(JsValue::NULL, |token| JsValue::from_str(token.secret()));
    set(&record, "refreshToken", &refresh);
    set(&record, "tokenType", &JsValue::from_str(&tokens.token_type));
    set(
        &record,
        "expiresAt",
        &JsValue::from_f64(tokens.expires_at_ms),
    );
    set(
        &record,
        "obtainedAt",
        &JsValue::from_f64(tokens.obtained_at_ms),
    );
    set(&record, "clientId", &JsValue::from_str(&stored.client_id));
    set(&record, "baseUrl", &JsValue::from_str(&stored.base_url));
    record.into()
}

/// Reads what `load` returned. `Err` names the first bad field.
pub fn record_from_js(value: &JsValue) -> Result<StoredTokenSet, &'static str> {
    if !is_plain_object(value) {
        return Err("not an object");
    }
    if get(value, "v").as_f64() != Some(f64::from(STORED_VERSION)) {
        return Err("v is not 1");
    }
    let text = |key: &'static str| {
        get(value, key)
            .as_string()
            .filter(|text| !text.is_empty())
            .ok_or(key)
    };
    let time = |key: &'static str| {
        get(value, key)
            .as_f64()
            .filter(|time| time.is_finite())
            .ok_or(key)
    };
    let refresh = get(value, "refreshToken");
    let refresh_token = if refresh.is_null() || refresh.is_undefined() {
        None
    } else {
        Some(RefreshToken::new(
            refresh
                .as_string()
                .filter(|text| !text.is_empty())
                .ok_or("refreshToken")?,
        ))
    };
    Ok(StoredTokenSet {
        tokens: TokenSet {
            access_token: AccessToken::new(text("accessToken")?),
            refresh_token,
            token_type: text("tokenType")
                .ok()
                .filter(|kind| kind.eq_ignore_ascii_case("bearer"))
                .ok_or("tokenType")?,
            expires_at_ms: time("expiresAt")?,
            obtained_at_ms: time("obtainedAt")?,
        },
        client_id: text("clientId")?,
        base_url: text("baseUrl")?,
    })
}
