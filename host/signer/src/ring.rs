//! A key ring rolled over by certificate validity alone.
//!
//! Every key carries its certificate's validity `[not_before, not_after]` (inclusive, as in
//! RFC 5280 §4.1.2.5). At any instant `now`:
//!
//! - a key is **valid** when `not_before <= now <= not_after`;
//! - the **active** key for an algorithm is the valid key with the latest `not_before`
//!   (ties go to the later `not_after`, then to the smaller `kid`, so the choice is stable);
//!   an operator rolls keys by adding one whose certificate starts later;
//! - a key is **published** in the JWK set from `ahead` before its `not_before` (so relying
//!   parties have it cached before the first token it signs) until `grace` after its
//!   `not_after` (so tokens it signed can be verified until they expire; `grace` must be at
//!   least the longest token lifetime).
//!
//! Time passing is all it takes to switch keys: the ring is a pure function of `now`.

use std::time::Duration;

use gatehouse_protocol::signer::Alg;
use gatehouse_protocol::world::UnixTime;
use jose_jwk::{Jwk, JwkSet};
use serde::Serialize;

use crate::certificate::CertifiedKey;

/// `t` in RFC 3339, for messages to operators.
pub fn rfc3339(t: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.0)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{t} (Unix time)"))
}

/// How long before and after its certificate's validity a key is published.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Publication {
    /// Lead time: keys whose validity starts within this are published already.
    pub ahead: Duration,
    /// Grace period: expired keys stay published this long.
    pub grace: Duration,
}

/// One key of the ring.
#[derive(Clone, Debug)]
pub struct RingKey {
    /// Where the key lives, in the backend's terms (for PKCS#11 its `CKA_LABEL` and `CKA_ID`).
    pub label: String,
    pub id: String,
    pub key: CertifiedKey,
}

impl RingKey {
    pub fn kid(&self) -> &str {
        self.key.kid()
    }

    pub fn algs(&self) -> &'static [Alg] {
        self.key.family.algs()
    }

    pub fn is_valid(&self, now: UnixTime) -> bool {
        self.key.not_before <= now && now <= self.key.not_after
    }

    fn is_published(&self, now: UnixTime, publication: Publication) -> bool {
        self.key.not_before.minus(publication.ahead.as_secs()) <= now
            && now <= self.key.not_after.plus(publication.grace.as_secs())
    }
}

/// Where a key stands at some instant.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Valid later, not yet published.
    Future,
    /// Valid soon, published ahead.
    Upcoming,
    /// Valid and the active key for at least one algorithm.
    Active,
    /// Valid, published, but a newer key signs.
    Superseded,
    /// Expired, still published for the tokens it signed.
    Retired,
    /// Expired and no longer published.
    Expired,
}

/// The keys a signer holds, with their publication rules.
#[derive(Clone, Debug)]
pub struct KeyRing {
    keys: Vec<RingKey>,
    publication: Publication,
}

impl KeyRing {
    pub fn new(keys: Vec<RingKey>, publication: Publication) -> Self {
        Self { keys, publication }
    }

    pub fn keys(&self) -> &[RingKey] {
        &self.keys
    }

    pub fn get(&self, kid: &str) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.kid() == kid)
    }

    /// Algorithms some key of the ring signs, whatever its validity.
    pub fn algorithms(&self) -> Vec<Alg> {
        Alg::ALL.into_iter().filter(|a| self.keys.iter().any(|k| k.algs().contains(a))).collect()
    }

    /// The key that signs `alg` at `now`: the valid one with the latest `not_before`.
    pub fn active(&self, alg: Alg, now: UnixTime) -> Option<&RingKey> {
        self.keys.iter().filter(|k| k.algs().contains(&alg) && k.is_valid(now)).max_by(|a, b| {
            (a.key.not_before, a.key.not_after)
                .cmp(&(b.key.not_before, b.key.not_after))
                .then_with(|| b.kid().cmp(a.kid()))
        })
    }

    /// The keys published at `now`.
    pub fn published(&self, now: UnixTime) -> impl Iterator<Item = &RingKey> {
        self.keys.iter().filter(move |k| k.is_published(now, self.publication))
    }

    pub fn jwks(&self, now: UnixTime) -> JwkSet {
        JwkSet { keys: self.published(now).map(|k| k.key.jwk.clone()).collect() }
    }

    /// The public key `kid`, if it is published at `now`.
    pub fn verification_key(&self, kid: &str, now: UnixTime) -> Option<Jwk> {
        self.published(now).find(|k| k.kid() == kid).map(|k| k.key.jwk.clone())
    }

    pub fn state(&self, key: &RingKey, now: UnixTime) -> KeyState {
        let published = key.is_published(now, self.publication);
        if key.is_valid(now) {
            let active = key.algs().iter().any(|a| self.active(*a, now).is_some_and(|k| k.kid() == key.kid()));
            if active { KeyState::Active } else { KeyState::Superseded }
        } else if now < key.key.not_before {
            if published { KeyState::Upcoming } else { KeyState::Future }
        } else if published {
            KeyState::Retired
        } else {
            KeyState::Expired
        }
    }

    /// What is published and which key signs each algorithm at `now`.
    pub fn plan(&self, now: UnixTime) -> Plan {
        let mut keys: Vec<PlannedKey> =
            self.keys.iter().map(|k| PlannedKey { key: KeyInfo::from(k), state: self.state(k, now) }).collect();
        keys.sort_by(|a, b| (a.key.not_before, &a.key.kid).cmp(&(b.key.not_before, &b.key.kid)));
        let active = Alg::ALL
            .into_iter()
            .filter_map(|alg| self.active(alg, now).map(|k| ActiveKey { alg, kid: k.kid().to_owned() }))
            .collect();
        Plan { at: now, active, keys }
    }
}

/// The answer to "what would Gatehouse publish, and which key would sign, at this time?".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub at: UnixTime,
    pub active: Vec<ActiveKey>,
    /// Every key of the ring, oldest first, with its state at `at`.
    pub keys: Vec<PlannedKey>,
}

impl Plan {
    pub fn active_kid(&self, alg: Alg) -> Option<&str> {
        self.active.iter().find(|a| a.alg == alg).map(|a| a.kid.as_str())
    }

    /// The `kid`s published at `at`, oldest first.
    pub fn published(&self) -> Vec<&str> {
        self.keys
            .iter()
            .filter(|k| {
                matches!(k.state, KeyState::Upcoming | KeyState::Active | KeyState::Superseded | KeyState::Retired)
            })
            .map(|k| k.key.kid.as_str())
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActiveKey {
    pub alg: Alg,
    pub kid: String,
}

/// A key as operators see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub label: String,
    /// `CKA_ID` in hex, for HSM keys.
    pub id: String,
    pub algs: Vec<Alg>,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
}

impl From<&RingKey> for KeyInfo {
    fn from(k: &RingKey) -> Self {
        KeyInfo {
            kid: k.kid().to_owned(),
            label: k.label.clone(),
            id: k.id.clone(),
            algs: k.algs().to_vec(),
            not_before: k.key.not_before,
            not_after: k.key.not_after,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedKey {
    #[serde(flatten)]
    pub key: KeyInfo,
    pub state: KeyState,
}

#[cfg(test)]
mod tests {
    use jose_jwk::{Ec, EcCurves, Key, Parameters};

    use super::*;
    use crate::certificate::KeyFamily;

    const DAY: i64 = 86_400;

    fn key(name: &str, family: KeyFamily, not_before: i64, not_after: i64) -> RingKey {
        let jwk = Jwk {
            key: Key::Ec(Ec { crv: EcCurves::P256, x: vec![0; 32].into(), y: vec![0; 32].into(), d: None }),
            prm: Parameters { kid: Some(name.to_owned()), ..Default::default() },
        };
        RingKey {
            label: name.to_owned(),
            id: String::new(),
            key: CertifiedKey { family, jwk, not_before: UnixTime(not_before), not_after: UnixTime(not_after) },
        }
    }

    fn ring() -> KeyRing {
        let publication =
            Publication { ahead: Duration::from_secs(DAY as u64), grace: Duration::from_secs(2 * DAY as u64) };
        KeyRing::new(
            vec![
                key("old", KeyFamily::P256, 0, 10 * DAY),
                key("current", KeyFamily::P256, 5 * DAY, 30 * DAY),
                key("next", KeyFamily::P256, 20 * DAY, 60 * DAY),
                key("rsa", KeyFamily::Rsa, 0, 100 * DAY),
            ],
            publication,
        )
    }

    fn kids(ring: &KeyRing, now: i64) -> Vec<&str> {
        ring.published(UnixTime(now)).map(|k| k.kid()).collect()
    }

    #[test]
    fn the_latest_valid_not_before_signs() {
        let ring = ring();
        let active = |alg, t| ring.active(alg, UnixTime(t)).map(|k| k.kid());
        assert_eq!(active(Alg::ES256, DAY), Some("old"));
        assert_eq!(active(Alg::ES256, 6 * DAY), Some("current"), "newer key takes over while the old one is valid");
        assert_eq!(active(Alg::ES256, 20 * DAY), Some("next"), "not_before is inclusive");
        assert_eq!(active(Alg::ES256, 61 * DAY), None);
        assert_eq!(active(Alg::PS256, 61 * DAY), Some("rsa"));
        assert_eq!(active(Alg::ES384, DAY), None);
    }

    #[test]
    fn publication_covers_lead_time_and_grace() {
        let ring = ring();
        assert_eq!(kids(&ring, 3 * DAY), ["old", "rsa"]);
        assert_eq!(kids(&ring, 4 * DAY), ["old", "current", "rsa"], "published a day ahead");
        assert_eq!(kids(&ring, 12 * DAY), ["old", "current", "rsa"], "retired key kept for the grace period");
        assert_eq!(kids(&ring, 12 * DAY + 1), ["current", "rsa"]);
        assert_eq!(kids(&ring, 19 * DAY), ["current", "next", "rsa"]);
        assert!(ring.verification_key("old", UnixTime(12 * DAY)).is_some());
        assert!(ring.verification_key("old", UnixTime(13 * DAY)).is_none());
    }

    #[test]
    fn plan_names_states() {
        let plan = ring().plan(UnixTime(21 * DAY));
        let state = |kid| plan.keys.iter().find(|k| k.key.kid == kid).unwrap().state;
        assert_eq!(state("old"), KeyState::Expired);
        assert_eq!(state("current"), KeyState::Superseded);
        assert_eq!(state("next"), KeyState::Active);
        assert_eq!(state("rsa"), KeyState::Active);
        assert_eq!(plan.active_kid(Alg::ES256), Some("next"));
        assert_eq!(plan.published(), ["rsa", "current", "next"]);
        assert_eq!(ring().plan(UnixTime(0)).keys.iter().find(|k| k.key.kid == "next").unwrap().state, KeyState::Future);
        assert_eq!(ring().plan(UnixTime(11 * DAY)).keys[0].state, KeyState::Retired);
    }
}
