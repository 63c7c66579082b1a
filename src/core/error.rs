//! The one error type of the crate, with the stable codes JS callers branch on.
//!
//! Every failure, from a bad option to a dead refresh token, becomes an
//! [`Error`] with an [`ErrorCode`]. The JS layer converts it to a JS `Error`
//! in exactly one place (`js::error`), so the codes, `status`, `retryable` and
//! `description` properties are the same whatever went wrong. Messages are
//! written here, never copied from a request, so no secret can reach one.

use super::text::{concat, replace_all};
use core::fmt;

/// A stable, machine-readable error code. The string forms are part of the
/// public API (`error.code` in JS): they never change meaning.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The server rejected the client id or secret.
    InvalidClient,
    /// The server rejected the grant: bad user credentials, or a dead refresh token
    /// where a full grant is not possible either.
    InvalidGrant,
    /// The client is not allowed to use this grant.
    UnauthorizedClient,
    /// The server does not support this grant (an admin may switch `password` off).
    UnsupportedGrantType,
    /// The server rejected the request as malformed.
    InvalidRequest,
    /// The refresh token is dead and there is no secret to grant anew: the user
    /// must log in again (or `importTokens` a new refresh token).
    ReauthRequired,
    /// HTTP 429 from the token endpoint.
    RateLimited,
    /// HTTP 5xx from the token endpoint.
    ServerError,
    /// The request failed before an HTTP answer arrived.
    Network,
    /// No answer within `timeoutMs`.
    Timeout,
    /// An answer arrived but is not a valid token response.
    MalformedResponse,
    /// A storage callback threw, rejected, hung or returned garbage.
    Storage,
    /// An option is missing or invalid.
    InvalidConfig,
    /// The manager was disposed.
    Disposed,
    /// The lock shared with other contexts (`lock` option) could not be
    /// taken within `lockTimeoutMs`: another context holds it (a frozen tab).
    LockTimeout,
}

impl ErrorCode {
    /// The code as JS sees it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidRequest => "invalid_request",
            Self::ReauthRequired => "reauth_required",
            Self::RateLimited => "rate_limited",
            Self::ServerError => "server_error",
            Self::Network => "network",
            Self::Timeout => "timeout",
            Self::MalformedResponse => "malformed_response",
            Self::Storage => "storage",
            Self::InvalidConfig => "invalid_config",
            Self::Disposed => "disposed",
            Self::LockTimeout => "lock_timeout",
        }
    }

    /// Whether trying the same thing again later may succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::ServerError
                | Self::Network
                | Self::Timeout
                | Self::Storage
                | Self::LockTimeout
        )
    }

    /// Maps an OAuth `error` value from a 4xx answer to a code. Unknown values
    /// fall back on what the HTTP status says.
    pub fn from_oauth_error(error: Option<&str>, status: u16) -> Self {
        match error {
            Some("invalid_client") => Self::InvalidClient,
            Some("invalid_grant") => Self::InvalidGrant,
            Some("unauthorized_client") => Self::UnauthorizedClient,
            Some("unsupported_grant_type") => Self::UnsupportedGrantType,
            Some("invalid_request") | Some("invalid_scope") => Self::InvalidRequest,
            Some("temporarily_unavailable") | Some("server_error") => Self::ServerError,
            _ => match status {
                401 => Self::InvalidClient,
                403 => Self::UnauthorizedClient,
                _ => Self::InvalidRequest,
            },
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure, as the caller sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    code: ErrorCode,
    message: String,
    status: Option<u16>,
    description: Option<String>,
    retry_after_ms: Option<u64>,
}

impl Error {
    /// An error with a code and a message written by this crate.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: None,
            description: None,
            retry_after_ms: None,
        }
    }

    /// Attaches the HTTP status of the answer that caused it.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Attaches the server's `error_description`.
    pub fn with_description(mut self, description: Option<String>) -> Self {
        self.description = description;
        self
    }

    /// Attaches the delay the server asked for (`Retry-After`).
    pub fn with_retry_after_ms(mut self, retry_after_ms: Option<u64>) -> Self {
        self.retry_after_ms = retry_after_ms;
        self
    }

    /// A bad option, naming it.
    pub fn invalid_config(option: &str, reason: &str) -> Self {
        Self::new(
            ErrorCode::InvalidConfig,
            concat(&["invalid option `", option, "`: ", reason]),
        )
    }

    /// A failed storage callback (`load`, `save` or `clear`).
    pub fn storage(operation: &str, detail: &str) -> Self {
        Self::new(
            ErrorCode::Storage,
            concat(&["storage.", operation, " failed: ", detail]),
        )
    }

    /// A call on a disposed manager.
    pub fn disposed() -> Self {
        Self::new(ErrorCode::Disposed, "the TokenManager was disposed")
    }

    /// Replaces every occurrence of each of `secrets` in the message and the
    /// description with `[redacted]`. For text that came from outside (what a
    /// storage callback or `fetch` threw, what a server described), which may
    /// echo a token it was given.
    pub fn redact(mut self, secrets: &[&str]) -> Self {
        for secret in secrets.iter().filter(|secret| secret.len() >= 4) {
            if let Some(redacted) = replace_all(&self.message, secret, "[redacted]") {
                self.message = redacted;
            }
            if let Some(description) = &mut self.description {
                if let Some(redacted) = replace_all(description, secret, "[redacted]") {
                    *description = redacted;
                }
            }
        }
        self
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// A human-readable message. Never contains a secret.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status, where there was an answer.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The server's `error_description`, where it sent one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The delay the server asked for, where it sent `Retry-After`.
    pub fn retry_after_ms(&self) -> Option<u64> {
        self.retry_after_ms
    }

    /// Whether trying again later may succeed.
    pub fn retryable(&self) -> bool {
        self.code.retryable()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        f.write_str(" (")?;
        f.write_str(self.code.as_str())?;
        f.write_str(")")
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_errors_map_to_their_codes() {
        let cases = [
            (Some("invalid_client"), 401, ErrorCode::InvalidClient),
            (Some("invalid_grant"), 400, ErrorCode::InvalidGrant),
            (
                Some("unauthorized_client"),
                400,
                ErrorCode::UnauthorizedClient,
            ),
            (
                Some("unsupported_grant_type"),
                400,
                ErrorCode::UnsupportedGrantType,
            ),
            (Some("invalid_request"), 400, ErrorCode::InvalidRequest),
            (Some("invalid_scope"), 400, ErrorCode::InvalidRequest),
            (Some("something_new"), 400, ErrorCode::InvalidRequest),
            (None, 401, ErrorCode::InvalidClient),
            (None, 403, ErrorCode::UnauthorizedClient),
            (None, 404, ErrorCode::InvalidRequest),
        ];
        for (error, status, code) in cases {
            assert_eq!(
                ErrorCode::from_oauth_error(error, status),
                code,
                "{error:?} {status}"
            );
        }
    }

    #[test]
    fn only_transient_codes_are_retryable() {
        assert!(ErrorCode::ServerError.retryable());
        assert!(ErrorCode::RateLimited.retryable());
        assert!(ErrorCode::Timeout.retryable());
        assert!(!ErrorCode::InvalidGrant.retryable());
        assert!(!ErrorCode::ReauthRequired.retryable());
        assert!(!ErrorCode::InvalidConfig.retryable());
    }

    #[test]
    fn redaction_removes_every_secret_from_message_and_description() {
        let error = Error::storage("save", "could not write {\"refreshToken\":\"rt-abcdef\"}")
            .with_description(Some("echo rt-abcdef and s3cret".into()))
            .redact(&["rt-abcdef", "s3cret", ""]);
        assert_eq!(
            error.message(),
            "storage.save failed: could not write {\"refreshToken\":\"[redacted]\"}"
        );
        assert_eq!(error.description(), Some("echo [redacted] and [redacted]"));
    }

    #[test]
    fn display_is_the_message_then_the_code() {
        let error = Error::storage("load", "it threw: boom");
        assert_eq!(
            error.to_string(),
            "storage.load failed: it threw: boom (storage)"
        );
        assert_eq!(ErrorCode::LockTimeout.to_string(), "lock_timeout");
    }

    #[test]
    fn invalid_config_names_the_option() {
        let error = Error::invalid_config("clientId", "is required");
        assert_eq!(error.code().as_str(), "invalid_config");
        assert_eq!(error.message(), "invalid option `clientId`: is required");
    }
}
