//! The demo user directory: a TOML file of users with Argon2 password hashes and the claims
//! the front-end hands to the provider at login.

use std::collections::BTreeMap;
use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Deserialize;
use serde_json::{Map, Value};

/// One user as the file describes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    /// The subject identifier; the username when absent.
    #[serde(default)]
    sub: Option<String>,
    /// A PHC string, e.g. `$argon2id$v=19$m=19456,t=2,p=1$...` (`gatehouse-login hash-password`).
    password_hash: String,
    /// Claims about the user (OpenID Connect Core §5.1), released as the user consents.
    #[serde(default)]
    claims: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    users: BTreeMap<String, UserEntry>,
}

/// A user who proved their password.
#[derive(Clone, Debug)]
pub struct User {
    pub sub: String,
    pub claims: Map<String, Value>,
}

/// The users, by username.
#[derive(Debug)]
pub struct Users(BTreeMap<String, UserEntry>);

/// A valid hash of a password nobody has, verified when the username is unknown so that a
/// wrong username takes as long as a wrong password.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$ZJHbJpT+2qwl2FBHsh79vWH5Vwy4LjT94TV4lPcD0rI";

impl Users {
    /// Reads and checks a users file; every hash must parse.
    pub fn load(path: &Path) -> anyhow::Result<Users> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the users file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("the users file {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Users> {
        let file: UsersFile = toml::from_str(text)?;
        for (name, user) in &file.users {
            PasswordHash::new(&user.password_hash).map_err(|e| {
                anyhow::anyhow!("user {name:?}: password_hash is not a PHC string ({e}); make one with `gatehouse-login hash-password`")
            })?;
        }
        Ok(Users(file.users))
    }

    /// The user with this username and password. Slow on purpose (Argon2): call it off the
    /// async runtime's worker threads.
    pub fn verify(&self, username: &str, password: &str) -> Option<User> {
        let entry = self.0.get(username);
        let hash = entry.map_or(DUMMY_HASH, |u| u.password_hash.as_str());
        let parsed = PasswordHash::new(hash).ok()?;
        let ok = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        match entry {
            Some(u) if ok => {
                Some(User { sub: u.sub.clone().unwrap_or_else(|| username.to_owned()), claims: u.claims.clone() })
            }
            _ => None,
        }
    }
}

/// A new Argon2id PHC string for `password`, with a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("the system random generator failed: {e}"))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("{e}"))?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_hashed_passwords_and_refuses_the_rest() {
        let hash = hash_password("correct horse").unwrap();
        let users = Users::parse(&format!(
            "[users.carol]\npassword_hash = \"{hash}\"\n[users.carol.claims]\nemail = \"carol@example.com\"\n"
        ))
        .unwrap();
        let carol = users.verify("carol", "correct horse").unwrap();
        assert_eq!(carol.sub, "carol");
        assert_eq!(carol.claims["email"], "carol@example.com");
        assert!(users.verify("carol", "wrong").is_none());
        assert!(users.verify("nobody", "correct horse").is_none());
    }

    #[test]
    fn a_plain_text_password_is_refused_at_load() {
        let err = Users::parse("[users.dave]\npassword_hash = \"hunter2\"\n").unwrap_err().to_string();
        assert!(err.contains("hash-password"), "{err}");
    }

    #[test]
    fn the_dummy_hash_parses() {
        PasswordHash::new(DUMMY_HASH).unwrap();
    }
}
