//! Validated options: where the token endpoint is, how the client
//! authenticates, and the timing knobs.
//!
//! The JS layer reads the options object into [`Options`] (plain values, the
//! base URL already split by the platform's own `URL` parser) and this module
//! decides whether they make sense. Everything that can be wrong with an option
//! is caught here, once, with a message naming the option, so the rest of the
//! crate works with a [`Config`] that is known good.

use super::error::Error;
use super::secret::{ClientSecret, Password};
use super::text::{concat, parse_decimal, push_decimal, split_ascii, trim, trim_end_ascii};

/// The token endpoint path on every EchoVideo region.
pub const DEFAULT_TOKEN_PATH: &str = "/oauth2/access_token";
/// Default: refresh when less than five minutes are left.
pub const DEFAULT_REFRESH_MARGIN_SECONDS: f64 = 300.0;
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT_MS: f64 = 10_000.0;
/// Default number of retries of transient failures.
pub const DEFAULT_MAX_RETRIES: f64 = 3.0;
/// Default bound on waiting for the cross-context lock.
pub const DEFAULT_LOCK_TIMEOUT_MS: f64 = 30_000.0;

/// An EchoVideo hosting region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// United States: `https://echo360.org`.
    Us,
    /// United Kingdom: `https://echo360.org.uk`.
    Uk,
    /// Australia: `https://echo360.org.au`.
    Au,
    /// Canada: `https://echo360.ca`.
    Ca,
}

impl Region {
    /// Parses `"us"`, `"uk"`, `"au"` or `"ca"` (any case).
    pub fn parse(name: &str) -> Option<Self> {
        // Two bytes, lower-cased: no allocation, and no Unicode case tables.
        let [first, second] = name.as_bytes() else {
            return None;
        };
        match [first.to_ascii_lowercase(), second.to_ascii_lowercase()] {
            [b'u', b's'] => Some(Self::Us),
            [b'u', b'k'] => Some(Self::Uk),
            [b'a', b'u'] => Some(Self::Au),
            [b'c', b'a'] => Some(Self::Ca),
            _ => None,
        }
    }

    /// The region's API base URL.
    pub fn base_url(self) -> &'static str {
        match self {
            Self::Us => "https://echo360.org",
            Self::Uk => "https://echo360.org.uk",
            Self::Au => "https://echo360.org.au",
            Self::Ca => "https://echo360.ca",
        }
    }
}

/// The grant types the EchoVideo token endpoint knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// Client id and secret.
    ClientCredentials,
    /// Client id and secret plus a user's name and password.
    Password,
    /// A refresh token (no secret needed).
    RefreshToken,
}

impl GrantType {
    /// The `grant_type` value on the wire (and in `info()` and events).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::Password => "password",
            Self::RefreshToken => "refresh_token",
        }
    }
}

/// A grant that needs no earlier token: what the manager falls back on when
/// there is no usable refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullGrant {
    /// `client_credentials`.
    ClientCredentials,
    /// `password`, with the user's credentials.
    Password {
        /// The user name.
        username: String,
        /// The user's password.
        password: Password,
    },
}

impl FullGrant {
    /// The grant type of this grant.
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::ClientCredentials => GrantType::ClientCredentials,
            Self::Password { .. } => GrantType::Password,
        }
    }
}

/// A URL as the WHATWG `URL` parser splits it (the JS layer fills this from
/// `new URL(...)`, so parsing follows the platform exactly).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlParts {
    /// `"https:"` or `"http:"`.
    pub protocol: String,
    /// The user name in the URL, normally empty.
    pub username: String,
    /// The password in the URL, normally empty.
    pub password: String,
    /// Lower-case host name; IPv6 addresses in brackets.
    pub hostname: String,
    /// The port, empty for the scheme's default.
    pub port: String,
    /// The path, at least `"/"`.
    pub pathname: String,
    /// The query including `?`, or empty.
    pub search: String,
    /// The fragment including `#`, or empty.
    pub hash: String,
}

impl UrlParts {
    fn is_loopback(&self) -> bool {
        let host = self.hostname.as_str();
        host == "localhost"
            || host.ends_with(".localhost")
            || host == "[::1]"
            || host.strip_prefix("127.").is_some_and(|rest| {
                // Digits only: `u8::from_str` would also take "+1", and the
                // URL parser keeps such a host as a domain name.
                split_ascii(rest, b'.').count() == 3
                    && split_ascii(rest, b'.').all(|octet| {
                        !octet.is_empty()
                            && octet.bytes().all(|b| b.is_ascii_digit())
                            && parse_decimal(octet).is_some_and(|value| value <= 255)
                    })
            })
    }
}

/// Options as they come from the caller, before validation. `None` is an
/// option that was not given.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `clientId`.
    pub client_id: Option<String>,
    /// `clientSecret`.
    pub client_secret: Option<ClientSecret>,
    /// `region`.
    pub region: Option<String>,
    /// `baseUrl`, already parsed.
    pub base_url: Option<UrlParts>,
    /// `tokenPath`.
    pub token_path: Option<String>,
    /// `grant`.
    pub grant: Option<String>,
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<Password>,
    /// `refreshMarginSeconds`.
    pub refresh_margin_seconds: Option<f64>,
    /// `timeoutMs`.
    pub timeout_ms: Option<f64>,
    /// `maxRetries`.
    pub max_retries: Option<f64>,
    /// Whether operations take a lock shared with other contexts (the JS
    /// layer decides from the `lock` option and the runtime).
    pub coordinated: bool,
    /// `lockTimeoutMs`.
    pub lock_timeout_ms: Option<f64>,
}

/// Options that passed validation.
#[derive(Debug, Clone)]
pub struct Config {
    /// The OAuth client id.
    pub client_id: String,
    /// The client secret, if the caller gave one.
    pub client_secret: Option<ClientSecret>,
    /// The grant used when there is no usable refresh token; `None` without a
    /// secret (such a client can only refresh tokens it was given).
    pub full_grant: Option<FullGrant>,
    /// The base URL, normalised: scheme, host, port and path without a trailing
    /// slash. Stored token sets are tied to it.
    pub base_url: String,
    /// The full token endpoint URL.
    pub token_url: String,
    /// Refresh when less than this is left.
    pub refresh_margin_ms: u64,
    /// Per-request timeout.
    pub timeout_ms: u64,
    /// Retries of transient failures per operation.
    pub max_retries: u32,
    /// Every renewal runs under a lock shared with other contexts, and
    /// re-reads storage first.
    pub coordinated: bool,
    /// How long a renewal waits for that lock.
    pub lock_timeout_ms: u64,
}

impl Config {
    /// Validates `options`.
    pub fn new(options: Options) -> Result<Self, Error> {
        let client_id = match options.client_id {
            Some(id) if !trim(&id).is_empty() => id,
            Some(_) => return Err(Error::invalid_config("clientId", "must not be empty")),
            None => return Err(Error::invalid_config("clientId", "is required")),
        };
        if options
            .client_secret
            .as_ref()
            .is_some_and(|secret| secret.secret().is_empty())
        {
            return Err(Error::invalid_config(
                "clientSecret",
                "must not be empty (leave it out for a client without a secret)",
            ));
        }

        let base_url = match (options.base_url, options.region) {
            (Some(url), _) => normalise_base_url(&url)?,
            (None, Some(region)) => Region::parse(&region)
                .ok_or_else(|| Error::invalid_config("region", "must be one of us, uk, au, ca"))?
                .base_url()
                .to_owned(),
            (None, None) => Region::Us.base_url().to_owned(),
        };

        let token_path = options
            .token_path
            .unwrap_or_else(|| DEFAULT_TOKEN_PATH.to_owned());
        if !token_path.starts_with('/') || token_path.contains(['?', '#']) {
            return Err(Error::invalid_config(
                "tokenPath",
                "must start with / and have no query or fragment",
            ));
        }
        let token_url = concat(&[&base_url, &token_path]);

        let full_grant = full_grant(
            options.grant.as_deref(),
            options.username,
            options.password,
            options.client_secret.is_some(),
        )?;

        let refresh_margin_seconds = number(
            "refreshMarginSeconds",
            options.refresh_margin_seconds,
            DEFAULT_REFRESH_MARGIN_SECONDS,
            0,
            86_400,
        )?;
        let timeout_ms = number(
            "timeoutMs",
            options.timeout_ms,
            DEFAULT_TIMEOUT_MS,
            1,
            600_000,
        )?;
        let max_retries = number(
            "maxRetries",
            options.max_retries,
            DEFAULT_MAX_RETRIES,
            0,
            10,
        )?;
        let lock_timeout_ms = number(
            "lockTimeoutMs",
            options.lock_timeout_ms,
            DEFAULT_LOCK_TIMEOUT_MS,
            1,
            600_000,
        )?;
        if max_retries.fract() != 0.0 {
            return Err(Error::invalid_config(
                "maxRetries",
                "must be a whole number",
            ));
        }

        Ok(Self {
            client_id,
            client_secret: options.client_secret,
            full_grant,
            base_url,
            token_url,
            refresh_margin_ms: (refresh_margin_seconds * 1000.0) as u64,
            timeout_ms: timeout_ms as u64,
            max_retries: max_retries as u32,
            coordinated: options.coordinated,
            lock_timeout_ms: lock_timeout_ms as u64,
        })
    }
}

fn normalise_base_url(url: &UrlParts) -> Result<String, Error> {
    if !url.username.is_empty() || !url.password.is_empty() {
        return Err(Error::invalid_config(
            "baseUrl",
            "must not contain credentials (pass clientId and clientSecret instead)",
        ));
    }
    match url.protocol.as_str() {
        "https:" => {}
        "http:" if url.is_loopback() => {}
        "http:" => {
            return Err(Error::invalid_config(
                "baseUrl",
                "must use https (plain http is allowed only for a loopback host)",
            ))
        }
        _ => return Err(Error::invalid_config("baseUrl", "must be an https URL")),
    }
    if !url.search.is_empty() || !url.hash.is_empty() {
        return Err(Error::invalid_config(
            "baseUrl",
            "must not have a query or fragment",
        ));
    }
    let colon = if url.port.is_empty() { "" } else { ":" };
    let path = trim_end_ascii(&url.pathname, b'/');
    Ok(concat(&[
        &url.protocol,
        "//",
        &url.hostname,
        colon,
        &url.port,
        path,
    ]))
}

fn full_grant(
    grant: Option<&str>,
    username: Option<String>,
    password: Option<Password>,
    has_secret: bool,
) -> Result<Option<FullGrant>, Error> {
    match grant.unwrap_or("client_credentials") {
        "client_credentials" => {
            if username.is_some() || password.is_some() {
                return Err(Error::invalid_config(
                    "grant",
                    "username and password are only used with grant \"password\"",
                ));
            }
            Ok(has_secret.then_some(FullGrant::ClientCredentials))
        }
        "password" => {
            if !has_secret {
                return Err(Error::invalid_config(
                    "clientSecret",
                    "is required for the password grant",
                ));
            }
            let username = username.filter(|name| !name.is_empty()).ok_or_else(|| {
                Error::invalid_config("username", "is required for the password grant")
            })?;
            let password = password.ok_or_else(|| {
                Error::invalid_config("password", "is required for the password grant")
            })?;
            Ok(Some(FullGrant::Password { username, password }))
        }
        _ => Err(Error::invalid_config(
            "grant",
            "must be \"client_credentials\" or \"password\"",
        )),
    }
}

/// Reads a numeric option within `min..=max` (whole numbers, so the message
/// prints integers, by hand: even integer formatting through `core::fmt`
/// adds kilobytes to the wasm).
fn number(
    option: &str,
    value: Option<f64>,
    default: f64,
    min: u32,
    max: u32,
) -> Result<f64, Error> {
    let value = value.unwrap_or(default);
    if !value.is_finite() || value < f64::from(min) || value > f64::from(max) {
        let mut reason = String::from("must be a number from ");
        push_decimal(&mut reason, u64::from(min));
        reason.push_str(" to ");
        push_decimal(&mut reason, u64::from(max));
        return Err(Error::invalid_config(option, &reason));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            client_id: Some("client-1".into()),
            client_secret: Some(ClientSecret::new("secret-1")),
            ..Options::default()
        }
    }

    fn url(protocol: &str, hostname: &str) -> UrlParts {
        UrlParts {
            protocol: protocol.into(),
            hostname: hostname.into(),
            pathname: "/".into(),
            ..UrlParts::default()
        }
    }

    fn rejected_option(options: Options) -> String {
        let error = Config::new(options).expect_err("options should be rejected");
        assert_eq!(error.code().as_str(), "invalid_config");
        error.message().to_owned()
    }

    #[test]
    fn defaults_are_the_us_region_and_documented_values() {
        let config = Config::new(options()).unwrap();
        assert_eq!(config.base_url, "https://echo360.org");
        assert_eq!(config.token_url, "https://echo360.org/oauth2/access_token");
        assert_eq!(config.refresh_margin_ms, 300_000);
        assert_eq!(config.timeout_ms, 10_000);
        assert_eq!(config.max_retries, 3);
        assert_eq!(config.full_grant, Some(FullGrant::ClientCredentials));
    }

    #[test]
    fn regions_choose_their_hosts() {
        for (region, host) in [
            ("us", "https://echo360.org"),
            ("UK", "https://echo360.org.uk"),
            ("au", "https://echo360.org.au"),
            ("ca", "https://echo360.ca"),
        ] {
            let config = Config::new(Options {
                region: Some(region.into()),
                ..options()
            })
            .unwrap();
            assert_eq!(config.base_url, host);
        }
        assert!(rejected_option(Options {
            region: Some("eu".into()),
            ..options()
        })
        .contains("`region`"));
    }

    #[test]
    fn base_url_overrides_region_and_is_normalised() {
        let config = Config::new(Options {
            region: Some("uk".into()),
            base_url: Some(UrlParts {
                port: "8443".into(),
                pathname: "/echo/".into(),
                ..url("https:", "api.example.edu")
            }),
            token_path: Some("/oauth2/token".into()),
            ..options()
        })
        .unwrap();
        assert_eq!(config.base_url, "https://api.example.edu:8443/echo");
        assert_eq!(
            config.token_url,
            "https://api.example.edu:8443/echo/oauth2/token"
        );
    }

    #[test]
    fn http_is_allowed_only_on_loopback() {
        for host in [
            "127.0.0.1",
            "127.1.2.3",
            "localhost",
            "app.localhost",
            "[::1]",
        ] {
            let config = Config::new(Options {
                base_url: Some(url("http:", host)),
                ..options()
            });
            assert!(config.is_ok(), "{host} is loopback");
        }
        for host in [
            "example.com",
            "127.0.0.1.evil.com",
            "10.0.0.1",
            "[::2]",
            "128.0.0.1",
            "127.0.0.+1",
        ] {
            let message = rejected_option(Options {
                base_url: Some(url("http:", host)),
                ..options()
            });
            assert!(
                message.contains("`baseUrl`") && message.contains("https"),
                "{host}: {message}"
            );
        }
        assert!(rejected_option(Options {
            base_url: Some(url("ftp:", "example.com")),
            ..options()
        })
        .contains("`baseUrl`"));
    }

    #[test]
    fn base_url_with_credentials_query_or_fragment_is_rejected() {
        let with_user = UrlParts {
            username: "me".into(),
            password: "pw".into(),
            ..url("https:", "example.com")
        };
        let message = rejected_option(Options {
            base_url: Some(with_user),
            ..options()
        });
        assert!(message.contains("credentials"));
        assert!(!message.contains("pw"));
        let with_query = UrlParts {
            search: "?client_secret=x".into(),
            ..url("https:", "example.com")
        };
        assert!(rejected_option(Options {
            base_url: Some(with_query),
            ..options()
        })
        .contains("query"));
    }

    #[test]
    fn client_id_is_required_and_secret_is_optional() {
        assert!(rejected_option(Options {
            client_id: None,
            ..options()
        })
        .contains("`clientId`"));
        assert!(rejected_option(Options {
            client_id: Some("  ".into()),
            ..options()
        })
        .contains("`clientId`"));
        let refresh_only = Config::new(Options {
            client_secret: None,
            ..options()
        })
        .unwrap();
        assert_eq!(refresh_only.full_grant, None);
    }

    #[test]
    fn password_grant_needs_user_password_and_secret() {
        let config = Config::new(Options {
            grant: Some("password".into()),
            username: Some("ann".into()),
            password: Some(Password::new("pw")),
            ..options()
        })
        .unwrap();
        assert_eq!(config.full_grant.unwrap().grant_type(), GrantType::Password);
        assert!(rejected_option(Options {
            grant: Some("password".into()),
            password: Some(Password::new("pw")),
            ..options()
        })
        .contains("`username`"));
        assert!(rejected_option(Options {
            grant: Some("password".into()),
            username: Some("ann".into()),
            ..options()
        })
        .contains("`password`"));
        assert!(rejected_option(Options {
            grant: Some("password".into()),
            username: Some("ann".into()),
            password: Some(Password::new("pw")),
            client_secret: None,
            ..options()
        })
        .contains("`clientSecret`"));
        assert!(rejected_option(Options {
            username: Some("ann".into()),
            ..options()
        })
        .contains("`grant`"));
        assert!(rejected_option(Options {
            grant: Some("implicit".into()),
            ..options()
        })
        .contains("`grant`"));
    }

    #[test]
    fn numbers_are_range_checked() {
        let bad = [
            Options {
                refresh_margin_seconds: Some(-1.0),
                ..options()
            },
            Options {
                refresh_margin_seconds: Some(f64::NAN),
                ..options()
            },
            Options {
                timeout_ms: Some(0.0),
                ..options()
            },
            Options {
                timeout_ms: Some(f64::INFINITY),
                ..options()
            },
            Options {
                max_retries: Some(1.5),
                ..options()
            },
            Options {
                max_retries: Some(11.0),
                ..options()
            },
        ];
        let names = [
            "refreshMarginSeconds",
            "refreshMarginSeconds",
            "timeoutMs",
            "timeoutMs",
            "maxRetries",
            "maxRetries",
        ];
        for (options, name) in bad.into_iter().zip(names) {
            assert!(rejected_option(options).contains(&format!("`{name}`")));
        }
        let config = Config::new(Options {
            refresh_margin_seconds: Some(1.5),
            timeout_ms: Some(250.0),
            max_retries: Some(0.0),
            ..options()
        })
        .unwrap();
        assert_eq!(
            (
                config.refresh_margin_ms,
                config.timeout_ms,
                config.max_retries
            ),
            (1500, 250, 0)
        );
    }

    #[test]
    fn region_names_are_two_letters_in_any_ascii_case() {
        for (name, region) in [
            ("us", Some(Region::Us)),
            ("uS", Some(Region::Us)),
            ("UK", Some(Region::Uk)),
            ("Au", Some(Region::Au)),
            ("cA", Some(Region::Ca)),
            ("", None),
            ("u", None),
            ("usa", None),
            (" us", None),
            ("eu", None),
            ("\u{fb06}", None),
        ] {
            assert_eq!(Region::parse(name), region, "{name:?}");
        }
    }

    #[test]
    fn range_messages_print_the_bounds() {
        for (options, message) in [
            (
                Options {
                    timeout_ms: Some(0.0),
                    ..options()
                },
                "invalid option `timeoutMs`: must be a number from 1 to 600000",
            ),
            (
                Options {
                    refresh_margin_seconds: Some(86_401.0),
                    ..options()
                },
                "invalid option `refreshMarginSeconds`: must be a number from 0 to 86400",
            ),
            (
                Options {
                    max_retries: Some(-1.0),
                    ..options()
                },
                "invalid option `maxRetries`: must be a number from 0 to 10",
            ),
        ] {
            assert_eq!(rejected_option(options), message);
        }
    }

    #[test]
    fn loopback_octets_are_plain_decimal_bytes() {
        for (host, loopback) in [
            ("127.0.0.1", true),
            ("127.255.255.255", true),
            ("127.000.0.01", true),
            ("127.0.0.256", false),
            ("127.0.0.99999999999999999999999", false),
            ("127.0.0", false),
            ("127.0..1", false),
            ("127.0.0.1.", false),
            ("127.0.0.-1", false),
        ] {
            assert_eq!(url("http:", host).is_loopback(), loopback, "{host}");
        }
    }

    #[test]
    fn token_path_must_be_a_plain_path() {
        for path in ["oauth2/access_token", "/oauth2/access_token?x=1", "/a#b"] {
            assert!(rejected_option(Options {
                token_path: Some(path.into()),
                ..options()
            })
            .contains("`tokenPath`"));
        }
    }
}
