//! The token set the manager holds, and when it counts as fresh.
//!
//! Expiry is local: `expires_at = receipt time + expires_in`, so a skewed
//! server clock never matters. A set is refreshed `refresh_margin` before it
//! expires, but never more than half way through its lifetime, so a margin
//! larger than the lifetime cannot turn into a grant on every call.

use super::config::GrantType;
use super::secret::{AccessToken, RefreshToken};

/// Version of the stored token set layout (`v` in storage).
pub const STORED_VERSION: u32 = 1;

/// A token set whose `obtained_at` lies further than this in the future is
/// treated as stale: the wall clock jumped back, so its expiry cannot be trusted.
pub const CLOCK_TOLERANCE_MS: f64 = 60_000.0;

/// An access token with what is needed to use and renew it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSet {
    /// The bearer token for API calls.
    pub access_token: AccessToken,
    /// The single-use refresh token, if the server issued one.
    pub refresh_token: Option<RefreshToken>,
    /// The token type, `"bearer"` in some case.
    pub token_type: String,
    /// When the access token expires, ms since the epoch (local clock).
    pub expires_at_ms: f64,
    /// When the set was received, ms since the epoch (local clock).
    pub obtained_at_ms: f64,
}

impl TokenSet {
    /// When this set should be renewed: `margin` before expiry, but not before
    /// half its lifetime has passed.
    pub fn refresh_at_ms(&self, margin_ms: u64) -> f64 {
        let lifetime = (self.expires_at_ms - self.obtained_at_ms).max(0.0);
        self.expires_at_ms - (margin_ms as f64).min(lifetime / 2.0)
    }

    /// Whether the access token can be handed out at `now_ms` without renewal.
    pub fn is_fresh(&self, now_ms: f64, margin_ms: u64) -> bool {
        now_ms < self.refresh_at_ms(margin_ms) && now_ms + CLOCK_TOLERANCE_MS >= self.obtained_at_ms
    }
}

/// A token set as it is saved and loaded through the storage callback, tied
/// to the client and server it belongs to. It never holds the client secret
/// or a password.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTokenSet {
    /// The tokens.
    pub tokens: TokenSet,
    /// The client they were issued to.
    pub client_id: String,
    /// The normalised base URL of the server that issued them.
    pub base_url: String,
}

/// Where a token set came from, as `onRefresh` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A grant answered by the token endpoint.
    Network,
    /// Read back from the storage callback.
    Storage,
    /// Given to `importTokens`.
    Import,
}

impl Source {
    /// The string JS sees.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Storage => "storage",
            Self::Import => "import",
        }
    }
}

/// Something the manager reports without a caller awaiting it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new token set is in use (`onRefresh`). Never carries a token.
    Refreshed {
        /// The grant that produced it, where known.
        grant: Option<GrantType>,
        /// When its access token expires.
        expires_at_ms: f64,
        /// Where it came from.
        source: Source,
    },
    /// A failure no caller sees otherwise, such as a failed save (`onError`).
    Error(super::error::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(obtained: f64, lifetime_s: f64) -> TokenSet {
        TokenSet {
            access_token: AccessToken::new("at"),
            refresh_token: None,
            token_type: "bearer".into(),
            expires_at_ms: obtained + lifetime_s * 1000.0,
            obtained_at_ms: obtained,
        }
    }

    #[test]
    fn fresh_until_the_margin_before_expiry() {
        let tokens = set(1_000_000.0, 3600.0);
        let margin = 300_000;
        assert_eq!(tokens.refresh_at_ms(margin), 1_000_000.0 + 3_300_000.0);
        assert!(tokens.is_fresh(1_000_000.0, margin));
        assert!(tokens.is_fresh(1_000_000.0 + 3_299_999.0, margin));
        assert!(!tokens.is_fresh(1_000_000.0 + 3_300_000.0, margin));
        assert!(!tokens.is_fresh(1_000_000.0 + 4_000_000.0, margin));
    }

    #[test]
    fn a_margin_longer_than_the_lifetime_still_leaves_half_of_it() {
        let tokens = set(0.0, 4.0);
        assert_eq!(tokens.refresh_at_ms(300_000), 2_000.0);
        assert!(tokens.is_fresh(1_999.0, 300_000));
        assert!(!tokens.is_fresh(2_000.0, 300_000));
    }

    #[test]
    fn a_clock_that_jumped_back_makes_the_set_stale() {
        let tokens = set(10_000_000.0, 3600.0);
        assert!(tokens.is_fresh(10_000_000.0 - CLOCK_TOLERANCE_MS, 0));
        assert!(!tokens.is_fresh(10_000_000.0 - CLOCK_TOLERANCE_MS - 1.0, 0));
    }
}
