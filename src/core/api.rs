//! Calls to the EchoVideo API made through `tm.fetch`: which answers earn a
//! retry with a new token.
//!
//! A 401 means the access token was refused (revoked, or expired early by a
//! skewed clock): one renewal and one retry usually mend it. A second 401
//! means something a new token cannot fix, so it goes back to the caller
//! instead of into a loop. 429 and every other status are the caller's to
//! handle: retrying them here would only add load to a rate-limited API.

/// What `tm.fetch` does with an API answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiDecision {
    /// Hand the response to the caller.
    Return,
    /// Renew the access token and send the request once more.
    RenewAndRetry,
}

/// Decides after answer number `attempt` (0 for the first) with `status`;
/// `replayable` says whether the request can be sent again.
pub fn after_api_response(status: u16, attempt: u32, replayable: bool) -> ApiDecision {
    if status == 401 && attempt == 0 && replayable {
        ApiDecision::RenewAndRetry
    } else {
        ApiDecision::Return
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_first_401_of_a_replayable_request_is_retried() {
        assert_eq!(after_api_response(401, 0, true), ApiDecision::RenewAndRetry);
        assert_eq!(after_api_response(401, 1, true), ApiDecision::Return);
        assert_eq!(after_api_response(401, 0, false), ApiDecision::Return);
        for status in [200, 204, 400, 403, 404, 429, 500, 503] {
            assert_eq!(
                after_api_response(status, 0, true),
                ApiDecision::Return,
                "{status}"
            );
        }
    }
}
