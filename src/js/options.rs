//! Reads the options object given to `new TokenManager(options)`.
//!
//! Every option is checked for its JS type here and for its meaning in
//! `core::config`; both report `invalid_config` naming the option. Unknown
//! option names are refused too, so a typo such as `clientID` fails loudly
//! instead of being ignored.

use super::object::{get, optional_function, optional_number, optional_string};
use super::storage::Storage;
use crate::core::config::{Options, UrlParts};
use crate::core::error::Error;
use crate::core::secret::{ClientSecret, Password};
use js_sys::Function;
use wasm_bindgen::JsValue;

/// Every option name the constructor knows.
pub const KNOWN_OPTIONS: [&str; 18] = [
    "clientId",
    "clientSecret",
    "region",
    "baseUrl",
    "tokenPath",
    "grant",
    "username",
    "password",
    "storage",
    "refreshMarginSeconds",
    "timeoutMs",
    "maxRetries",
    "fetch",
    "onRefresh",
    "onError",
    "autoRefresh",
    "lock",
    "lockTimeoutMs",
];

/// The options, split into what the core validates and the JS handles the
/// adapters use.
pub struct Settings {
    /// Plain values for `core::config::Config::new`.
    pub options: Options,
    /// The injected `fetch`, if any.
    pub fetch: Option<Function>,
    /// Where token sets are kept.
    pub storage: Storage,
    /// `onRefresh`.
    pub on_refresh: Option<Function>,
    /// `onError`.
    pub on_error: Option<Function>,
    /// `autoRefresh`: renew in the background on a timer.
    pub auto_refresh: bool,
    /// `lock`: the cross-context lock to take, if any.
    pub lock: Option<LockName>,
}

/// Which Web Lock renewals take.
pub enum LockName {
    /// Derived from the base URL and client id.
    Default,
    /// Named by the caller.
    Named(String),
}

/// Reads `options`.
pub fn read(options: &JsValue) -> Result<Settings, Error> {
    if !super::object::is_plain_object(options) {
        return Err(Error::invalid_config("options", "must be an object"));
    }
    // `Reflect.ownKeys` can throw (a hostile Proxy): caught, unlike `Object.keys`.
    let keys = js_sys::Reflect::own_keys(options)
        .map_err(|_| Error::invalid_config("options", "its option names cannot be read"))?;
    for key in keys.iter() {
        // Symbol keys are not options anyone could mean; string keys must be known.
        if let Some(key) = key.as_string() {
            if !KNOWN_OPTIONS.contains(&key.as_str()) {
                return Err(Error::invalid_config(&key, "is not a known option"));
            }
        }
    }
    let string = |name: &str| {
        optional_string(&get(options, name))
            .map_err(|_| Error::invalid_config(name, "must be a string"))
    };
    let number = |name: &str| {
        optional_number(&get(options, name))
            .map_err(|_| Error::invalid_config(name, "must be a number"))
    };
    let function = |name: &str| {
        optional_function(&get(options, name))
            .map_err(|_| Error::invalid_config(name, "must be a function"))
    };
    let base_url = string("baseUrl")?.map(|url| parse_url(&url)).transpose()?;
    let storage = Storage::from_option(&get(options, "storage"))?;
    let lock = lock_option(&get(options, "lock"), !matches!(storage, Storage::Memory))?;
    Ok(Settings {
        options: Options {
            client_id: string("clientId")?,
            client_secret: string("clientSecret")?.map(ClientSecret::new),
            region: string("region")?,
            base_url,
            token_path: string("tokenPath")?,
            grant: string("grant")?,
            username: string("username")?,
            password: string("password")?.map(Password::new),
            refresh_margin_seconds: number("refreshMarginSeconds")?,
            timeout_ms: number("timeoutMs")?,
            max_retries: number("maxRetries")?,
            coordinated: lock.is_some(),
            lock_timeout_ms: number("lockTimeoutMs")?,
        },
        fetch: function("fetch")?,
        storage,
        on_refresh: function("onRefresh")?,
        on_error: function("onError")?,
        auto_refresh: auto_refresh(&get(options, "autoRefresh"))?,
        lock,
    })
}

/// Splits a URL with the platform's WHATWG `URL` parser.
fn parse_url(url: &str) -> Result<UrlParts, Error> {
    let parsed = web_sys::Url::new(url)
        .map_err(|_| Error::invalid_config("baseUrl", "is not a valid absolute URL"))?;
    Ok(UrlParts {
        protocol: parsed.protocol(),
        username: parsed.username(),
        password: parsed.password(),
        hostname: parsed.hostname(),
        port: parsed.port(),
        pathname: parsed.pathname(),
        search: parsed.search(),
        hash: parsed.hash(),
    })
}

/// `autoRefresh`: a boolean, by default on except in Cloudflare Workers,
/// where timers outside a request are not allowed and every request may run
/// in a new isolate (there `getAccessToken()` renews lazily).
fn auto_refresh(value: &JsValue) -> Result<bool, Error> {
    if value.is_undefined() || value.is_null() {
        let user_agent = get(&get(&js_sys::global(), "navigator"), "userAgent").as_string();
        return Ok(user_agent.as_deref() != Some("Cloudflare-Workers"));
    }
    value
        .as_bool()
        .ok_or_else(|| Error::invalid_config("autoRefresh", "must be a boolean"))
}

/// `lock`: by default on wherever Web Locks exist and a `storage` is shared
/// (with tokens in memory there is nothing to coordinate); `true` or a name
/// insist on it; `false` turns coordination off.
fn lock_option(value: &JsValue, shared_storage: bool) -> Result<Option<LockName>, Error> {
    let available = super::lock::available();
    let wanted = if value.is_undefined() || value.is_null() {
        return Ok((available && shared_storage).then_some(LockName::Default));
    } else if let Some(on) = value.as_bool() {
        if !on {
            return Ok(None);
        }
        LockName::Default
    } else {
        match value.as_string() {
            Some(name) if !name.is_empty() => LockName::Named(name),
            _ => {
                return Err(Error::invalid_config(
                    "lock",
                    "must be a boolean or a lock name",
                ))
            }
        }
    };
    if !available {
        return Err(Error::invalid_config(
            "lock",
            "needs the Web Locks API (navigator.locks), which this runtime does not have",
        ));
    }
    Ok(Some(wanted))
}
