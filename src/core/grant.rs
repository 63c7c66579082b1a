//! The token request as plain data, and the token response parsed from plain
//! data: the oauth2-rs request/response split, with transport left to the
//! caller.
//!
//! Requests follow the EchoVideo token API: one `POST` to the token URL,
//! `application/x-www-form-urlencoded`, `Accept: application/json`, secrets
//! only in the body. Responses are validated field by field: anything other
//! than a well-formed bearer token answer is an error, never a panic.

use super::config::{Config, FullGrant, GrantType};
use super::error::{Error, ErrorCode};
use super::retry::parse_retry_after;
use super::secret::{AccessToken, FormBody, RefreshToken};
use super::text::{concat, decimal};
use super::token::TokenSet;

/// The longest `expires_in` accepted (one year). Anything longer is a broken
/// server or a unit mix-up, not a token lifetime.
pub const MAX_EXPIRES_IN_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// What to ask the token endpoint for.
#[derive(Debug, Clone, Copy)]
pub enum GrantRequest<'a> {
    /// A grant that needs no earlier token.
    Full(&'a FullGrant),
    /// A refresh grant.
    Refresh(&'a RefreshToken),
}

/// A token request, ready for any HTTP client.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRequest {
    /// The token endpoint URL. Never carries a secret.
    pub url: String,
    /// The grant this request makes.
    pub grant: GrantType,
    /// The form-encoded body, with the secrets in it.
    pub body: FormBody,
}

impl TokenRequest {
    /// The HTTP method of every token request.
    pub const METHOD: &'static str = "POST";
    /// The request headers of every token request.
    pub const HEADERS: [(&'static str, &'static str); 2] = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
    ];

    /// Builds the request for `grant`.
    pub fn new(config: &Config, grant: GrantRequest<'_>) -> Self {
        let mut form = Form::default();
        let grant_type = match grant {
            GrantRequest::Full(full) => full.grant_type(),
            GrantRequest::Refresh(_) => GrantType::RefreshToken,
        };
        form.pair("grant_type", grant_type.as_str());
        form.pair("client_id", &config.client_id);
        match grant {
            GrantRequest::Refresh(token) => form.pair("refresh_token", token.secret()),
            GrantRequest::Full(full) => {
                if let Some(secret) = &config.client_secret {
                    form.pair("client_secret", secret.secret());
                }
                if let FullGrant::Password { username, password } = full {
                    form.pair("username", username);
                    form.pair("password", password.secret());
                }
            }
        }
        Self {
            url: config.token_url.clone(),
            grant: grant_type,
            body: FormBody::new(form.0),
        }
    }
}

/// An `application/x-www-form-urlencoded` body, encoded as the WHATWG URL
/// standard's form serializer does: `*-._` and alphanumerics stay, space
/// becomes `+`, every other byte of the UTF-8 encoding becomes `%XX`.
#[derive(Default)]
struct Form(String);

impl Form {
    fn pair(&mut self, name: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        self.encode(name);
        self.0.push('=');
        self.encode(value);
    }

    fn encode(&mut self, text: &str) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for byte in text.bytes() {
            match byte {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    self.0.push(char::from(byte))
                }
                b' ' => self.0.push('+'),
                _ => {
                    self.0.push('%');
                    self.0.push(char::from(HEX[usize::from(byte >> 4)]));
                    self.0.push(char::from(HEX[usize::from(byte & 0xf)]));
                }
            }
        }
    }
}

/// A JSON value as far as token responses care. The JS layer fills these
/// from `JSON.parse`; nested values are only `Other`.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum JsonValue {
    /// The field is not there (or is `undefined`).
    #[default]
    Absent,
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
    /// An array or object.
    Other,
}

impl JsonValue {
    fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(text) => Some(text),
            _ => None,
        }
    }
}

/// The fields of a token endpoint answer that the manager reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseFields {
    /// `token_type`.
    pub token_type: JsonValue,
    /// `access_token`.
    pub access_token: JsonValue,
    /// `refresh_token`.
    pub refresh_token: JsonValue,
    /// `expires_in`.
    pub expires_in: JsonValue,
    /// `error`.
    pub error: JsonValue,
    /// `error_description`.
    pub error_description: JsonValue,
}

/// An answer body, as far as JSON parsing got.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseBody {
    /// A JSON object.
    Object(ResponseFields),
    /// JSON, but not an object (`[]`, `"text"`, `null`, …).
    NotAnObject,
    /// Not JSON at all (HTML, truncated JSON, an empty body, …).
    NotJson,
}

/// An HTTP answer from the token endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The parsed body.
    pub body: ResponseBody,
}

impl HttpAnswer {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Reads a successful answer into a token set received at `now_ms`.
pub fn parse_token_response(answer: &HttpAnswer, now_ms: f64) -> Result<TokenSet, Error> {
    let malformed = |reason: &str| {
        Error::new(
            ErrorCode::MalformedResponse,
            concat(&[
                "the token endpoint answered ",
                &decimal(u64::from(answer.status)),
                " but ",
                reason,
            ]),
        )
        .with_status(answer.status)
    };
    let fields = match &answer.body {
        ResponseBody::Object(fields) => fields,
        ResponseBody::NotAnObject => return Err(malformed("the body is not a JSON object")),
        ResponseBody::NotJson => return Err(malformed("the body is not JSON")),
    };
    let access_token = match fields.access_token.as_str() {
        Some(token) if !token.is_empty() => AccessToken::new(token),
        _ => {
            return Err(malformed(
                "access_token is missing or not a non-empty string",
            ))
        }
    };
    let token_type = match fields.token_type.as_str() {
        Some(kind) if kind.eq_ignore_ascii_case("bearer") => kind.to_owned(),
        Some(_) => return Err(malformed("token_type is not bearer")),
        None => return Err(malformed("token_type is missing or not a string")),
    };
    let expires_in = match fields.expires_in {
        JsonValue::Number(seconds) if seconds > 0.0 && seconds <= MAX_EXPIRES_IN_SECONDS => seconds,
        JsonValue::Number(_) => {
            return Err(malformed(
                "expires_in is not a positive number of seconds up to a year",
            ))
        }
        _ => return Err(malformed("expires_in is missing or not a number")),
    };
    let refresh_token = match &fields.refresh_token {
        JsonValue::Absent | JsonValue::Null => None,
        JsonValue::String(token) if !token.is_empty() => Some(RefreshToken::new(token.as_str())),
        _ => return Err(malformed("refresh_token is not a non-empty string")),
    };
    Ok(TokenSet {
        access_token,
        refresh_token,
        token_type,
        expires_at_ms: now_ms + expires_in * 1000.0,
        obtained_at_ms: now_ms,
    })
}

/// The error an unsuccessful answer means.
pub fn error_from_answer(answer: &HttpAnswer, now_ms: f64) -> Error {
    let (error, description) = match &answer.body {
        ResponseBody::Object(fields) => (
            fields.error.as_str(),
            fields.error_description.as_str().map(str::to_owned),
        ),
        _ => (None, None),
    };
    let status = answer.status;
    let (code, message) = match status {
        429 => (
            ErrorCode::RateLimited,
            "the token endpoint is rate limiting this client",
        ),
        500..=599 => (ErrorCode::ServerError, "the token endpoint failed"),
        400..=499 => (
            ErrorCode::from_oauth_error(error, status),
            "the token endpoint refused the request",
        ),
        _ => (
            ErrorCode::MalformedResponse,
            "the token endpoint answered with an unexpected status",
        ),
    };
    let retry_after = answer
        .retry_after
        .as_deref()
        .and_then(|value| parse_retry_after(value, now_ms));
    Error::new(
        code,
        concat(&[message, " (HTTP ", &decimal(u64::from(status)), ")"]),
    )
    .with_status(status)
    .with_description(description)
    .with_retry_after_ms(retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::{Options, UrlParts};
    use crate::core::secret::{ClientSecret, Password};

    fn config(secret: Option<&str>) -> Config {
        Config::new(Options {
            client_id: Some("client 1/é".into()),
            client_secret: secret.map(ClientSecret::new),
            base_url: Some(UrlParts {
                protocol: "http:".into(),
                hostname: "127.0.0.1".into(),
                port: "8787".into(),
                pathname: "/".into(),
                ..UrlParts::default()
            }),
            ..Options::default()
        })
        .unwrap()
    }

    #[test]
    fn client_credentials_request_bytes() {
        let request = TokenRequest::new(
            &config(Some("s&=+ %?")),
            GrantRequest::Full(&FullGrant::ClientCredentials),
        );
        assert_eq!(request.url, "http://127.0.0.1:8787/oauth2/access_token");
        assert_eq!(request.grant, GrantType::ClientCredentials);
        assert_eq!(
            request.body.secret(),
            "grant_type=client_credentials&client_id=client+1%2F%C3%A9&client_secret=s%26%3D%2B+%25%3F"
        );
        assert_eq!(TokenRequest::METHOD, "POST");
        assert_eq!(
            TokenRequest::HEADERS,
            [
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json")
            ]
        );
    }

    #[test]
    fn password_request_bytes() {
        let grant = FullGrant::Password {
            username: "ann@uni.edu".into(),
            password: Password::new("p~w*d-._!"),
        };
        let request = TokenRequest::new(&config(Some("sec")), GrantRequest::Full(&grant));
        assert_eq!(
            request.body.secret(),
            "grant_type=password&client_id=client+1%2F%C3%A9&client_secret=sec&username=ann%40uni.edu&password=p%7Ew*d-._%21"
        );
    }

    #[test]
    fn refresh_request_bytes_have_no_secret() {
        let request = TokenRequest::new(
            &config(Some("sec")),
            GrantRequest::Refresh(&RefreshToken::new("rt/1+2=")),
        );
        assert_eq!(request.grant, GrantType::RefreshToken);
        assert_eq!(
            request.body.secret(),
            "grant_type=refresh_token&client_id=client+1%2F%C3%A9&refresh_token=rt%2F1%2B2%3D"
        );
        assert!(!request.body.secret().contains("sec"));
    }

    #[test]
    fn request_debug_is_redacted() {
        let request = TokenRequest::new(
            &config(Some("topsecret")),
            GrantRequest::Full(&FullGrant::ClientCredentials),
        );
        let shown = format!("{request:?}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(shown.contains("FormBody([redacted])"));
    }

    fn answer(status: u16, fields: ResponseFields) -> HttpAnswer {
        HttpAnswer {
            status,
            retry_after: None,
            body: ResponseBody::Object(fields),
        }
    }

    fn good_fields() -> ResponseFields {
        ResponseFields {
            token_type: JsonValue::String("Bearer".into()),
            access_token: JsonValue::String("eyJ.a.b".into()),
            refresh_token: JsonValue::String("rt-2".into()),
            expires_in: JsonValue::Number(3600.0),
            ..ResponseFields::default()
        }
    }

    #[test]
    fn a_good_answer_becomes_a_token_set_expiring_from_receipt() {
        let set = parse_token_response(&answer(200, good_fields()), 5_000.0).unwrap();
        assert_eq!(set.access_token.secret(), "eyJ.a.b");
        assert_eq!(set.refresh_token.as_ref().map(|t| t.secret()), Some("rt-2"));
        assert_eq!(set.token_type, "Bearer");
        assert_eq!(set.obtained_at_ms, 5_000.0);
        assert_eq!(set.expires_at_ms, 3_605_000.0);
    }

    #[test]
    fn a_missing_or_null_refresh_token_is_none() {
        for value in [JsonValue::Absent, JsonValue::Null] {
            let fields = ResponseFields {
                refresh_token: value,
                ..good_fields()
            };
            assert_eq!(
                parse_token_response(&answer(200, fields), 0.0)
                    .unwrap()
                    .refresh_token,
                None
            );
        }
    }

    #[test]
    fn every_malformed_answer_is_malformed_response() {
        let s = |text: &str| JsonValue::String(text.into());
        let n = JsonValue::Number;
        let cases: Vec<(&str, ResponseBody)> = vec![
            ("not json", ResponseBody::NotJson),
            ("array", ResponseBody::NotAnObject),
            (
                "no access",
                ResponseBody::Object(ResponseFields {
                    access_token: JsonValue::Absent,
                    ..good_fields()
                }),
            ),
            (
                "empty access",
                ResponseBody::Object(ResponseFields {
                    access_token: s(""),
                    ..good_fields()
                }),
            ),
            (
                "numeric access",
                ResponseBody::Object(ResponseFields {
                    access_token: n(5.0),
                    ..good_fields()
                }),
            ),
            (
                "object access",
                ResponseBody::Object(ResponseFields {
                    access_token: JsonValue::Other,
                    ..good_fields()
                }),
            ),
            (
                "no type",
                ResponseBody::Object(ResponseFields {
                    token_type: JsonValue::Absent,
                    ..good_fields()
                }),
            ),
            (
                "mac type",
                ResponseBody::Object(ResponseFields {
                    token_type: s("mac"),
                    ..good_fields()
                }),
            ),
            (
                "bool type",
                ResponseBody::Object(ResponseFields {
                    token_type: JsonValue::Bool(true),
                    ..good_fields()
                }),
            ),
            (
                "no expiry",
                ResponseBody::Object(ResponseFields {
                    expires_in: JsonValue::Absent,
                    ..good_fields()
                }),
            ),
            (
                "zero expiry",
                ResponseBody::Object(ResponseFields {
                    expires_in: n(0.0),
                    ..good_fields()
                }),
            ),
            (
                "negative expiry",
                ResponseBody::Object(ResponseFields {
                    expires_in: n(-3600.0),
                    ..good_fields()
                }),
            ),
            (
                "string expiry",
                ResponseBody::Object(ResponseFields {
                    expires_in: s("3600"),
                    ..good_fields()
                }),
            ),
            (
                "absurd expiry",
                ResponseBody::Object(ResponseFields {
                    expires_in: n(1e12),
                    ..good_fields()
                }),
            ),
            (
                "infinite expiry",
                ResponseBody::Object(ResponseFields {
                    expires_in: n(f64::INFINITY),
                    ..good_fields()
                }),
            ),
            (
                "nan expiry",
                ResponseBody::Object(ResponseFields {
                    expires_in: n(f64::NAN),
                    ..good_fields()
                }),
            ),
            (
                "numeric refresh",
                ResponseBody::Object(ResponseFields {
                    refresh_token: n(1.0),
                    ..good_fields()
                }),
            ),
            (
                "empty refresh",
                ResponseBody::Object(ResponseFields {
                    refresh_token: s(""),
                    ..good_fields()
                }),
            ),
        ];
        for (name, body) in cases {
            let answer = HttpAnswer {
                status: 200,
                retry_after: None,
                body,
            };
            let error = parse_token_response(&answer, 0.0).expect_err(name);
            assert_eq!(error.code(), ErrorCode::MalformedResponse, "{name}");
            assert_eq!(error.status(), Some(200), "{name}");
            assert!(!error.retryable(), "{name}");
        }
    }

    #[test]
    fn malformed_messages_name_the_status_and_the_reason() {
        let answer = HttpAnswer {
            status: 203,
            retry_after: None,
            body: ResponseBody::NotJson,
        };
        assert_eq!(
            parse_token_response(&answer, 0.0).unwrap_err().message(),
            "the token endpoint answered 203 but the body is not JSON"
        );
        let redirect = HttpAnswer {
            status: 302,
            ..answer
        };
        assert_eq!(
            error_from_answer(&redirect, 0.0).message(),
            "the token endpoint answered with an unexpected status (HTTP 302)"
        );
    }

    #[test]
    fn error_answers_carry_code_status_and_description() {
        let fields = ResponseFields {
            error: JsonValue::String("invalid_grant".into()),
            error_description: JsonValue::String("refresh token already used".into()),
            ..ResponseFields::default()
        };
        let error = error_from_answer(&answer(400, fields), 0.0);
        assert_eq!(error.code(), ErrorCode::InvalidGrant);
        assert_eq!(error.status(), Some(400));
        assert_eq!(error.description(), Some("refresh token already used"));
        assert_eq!(
            error.message(),
            "the token endpoint refused the request (HTTP 400)"
        );
    }

    #[test]
    fn transient_statuses_are_retryable_and_carry_retry_after() {
        let mut rate_limited = answer(429, ResponseFields::default());
        rate_limited.retry_after = Some("7".into());
        let error = error_from_answer(&rate_limited, 0.0);
        assert_eq!(
            (error.code(), error.retry_after_ms(), error.retryable()),
            (ErrorCode::RateLimited, Some(7000), true)
        );
        for status in [500, 502, 503, 504] {
            let error = error_from_answer(
                &HttpAnswer {
                    status,
                    retry_after: None,
                    body: ResponseBody::NotJson,
                },
                0.0,
            );
            assert_eq!(error.code(), ErrorCode::ServerError);
            assert!(error.retryable());
        }
        let redirect = error_from_answer(
            &HttpAnswer {
                status: 302,
                retry_after: None,
                body: ResponseBody::NotJson,
            },
            0.0,
        );
        assert_eq!(redirect.code(), ErrorCode::MalformedResponse);
    }
}
