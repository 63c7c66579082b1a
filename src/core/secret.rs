//! Secret values: the client secret, the user's password and both tokens.
//!
//! Each is a newtype whose `Debug` prints `Name([redacted])` and whose value is
//! reachable only through [`secret()`](ClientSecret::secret). There is no
//! `Display`, no `Serialize`, no `Clone` into a plain `String`: a secret can only
//! leave this type where the code says `.secret()`, which makes every such place
//! easy to find and review (request bodies, the stored token set, the one
//! access-token string handed to the caller). Modelled on oauth2-rs
//! `new_secret_type!`.

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Wraps a value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value itself. Every call site is a place where the
            /// secret leaves its wrapper on purpose.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// A short, non-reversible fingerprint (FNV-1a, 64 bit): to
            /// remember spent tokens without keeping them, or to spread
            /// timers without revealing anything.
            pub fn fingerprint(&self) -> u64 {
                self.0.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                    (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
                })
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type!(
    /// The OAuth client secret. Sent only in the body of `client_credentials`
    /// and `password` grants; never stored.
    ClientSecret
);
secret_type!(
    /// The resource owner's password for the `password` grant. Never stored.
    Password
);
secret_type!(
    /// A bearer access token (a JWT on EchoVideo, treated as opaque here).
    AccessToken
);
secret_type!(
    /// A form-encoded token request body: it carries the secret, the password
    /// or the refresh token, so it is as secret as they are.
    FormBody
);
secret_type!(
    /// A single-use refresh token: every grant returns a new one and the old
    /// one must never be presented again.
    RefreshToken
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let shown = format!(
            "{:?} {:?} {:?} {:?}",
            ClientSecret::new("s3cr3t-client"),
            Password::new("hunter2"),
            AccessToken::new("eyJhbGciOi.payload.sig"),
            RefreshToken::new("rt-0001"),
        );
        assert_eq!(
            shown,
            "ClientSecret([redacted]) Password([redacted]) AccessToken([redacted]) RefreshToken([redacted])"
        );
        for value in ["s3cr3t", "hunter2", "eyJ", "rt-0001"] {
            assert!(!shown.contains(value), "{value} leaked into {shown}");
        }
    }

    #[test]
    fn debug_of_a_containing_struct_stays_redacted() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            secret: Option<ClientSecret>,
        }
        let shown = format!(
            "{:#?}",
            Holder {
                secret: Some(ClientSecret::new("abc123"))
            }
        );
        assert!(!shown.contains("abc123"));
        assert!(shown.contains("ClientSecret([redacted])"));
    }

    #[test]
    fn secret_accessor_returns_the_value() {
        assert_eq!(ClientSecret::new("x y").secret(), "x y");
    }

    #[test]
    fn fingerprints_differ_for_different_tokens_and_match_for_equal_ones() {
        let a = RefreshToken::new("rt-a");
        assert_eq!(a.fingerprint(), RefreshToken::new("rt-a").fingerprint());
        assert_ne!(a.fingerprint(), RefreshToken::new("rt-b").fingerprint());
    }
}
