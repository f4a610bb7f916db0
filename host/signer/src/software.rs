//! Software signing keys: the zero-setup default. One P-256 key (ES256), one P-384 key (ES384)
//! and one RSA-2048 key (RS256 and PS256) are generated on first start and kept in the store,
//! their private parts sealed under the master key. The `kid` of each is its RFC 7638
//! thumbprint.

use async_trait::async_trait;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use gatehouse_protocol::jose::thumbprint;
use gatehouse_protocol::model::{SIGNING_KEYS, StoredKey};
use gatehouse_protocol::secret::Sealer;
use gatehouse_protocol::signer::{Alg, SignError, Signer};
use gatehouse_protocol::store::Store;
use gatehouse_protocol::world::{Random, UnixTime};
use jose_jwk::{Class, Ec, EcCurves, Jwk, JwkSet, Key, Parameters, Rsa};

use crate::SetupError;

/// The key families a software signer keeps, by their storage name.
const FAMILIES: [&str; 3] = ["EC-P256", "EC-P384", "RSA"];

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

struct SoftKey {
    kid: String,
    algs: &'static [Alg],
    pair: Pair,
    jwk: Jwk,
}

pub struct SoftwareSigner {
    keys: Vec<SoftKey>,
}

fn generate(family: &str) -> Result<Vec<u8>, SetupError> {
    let err = |e| SetupError(format!("cannot generate a {family} key: {e}"));
    let rng = SystemRandom::new();
    let pkcs8 = match family {
        "EC-P256" => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| err(e.to_string()))?
            .as_ref()
            .to_vec(),
        "EC-P384" => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .map_err(|e| err(e.to_string()))?
            .as_ref()
            .to_vec(),
        _ => RsaKeyPair::generate(KeySize::Rsa2048)
            .and_then(|k| k.as_der().map_err(|_| aws_lc_rs::error::Unspecified))
            .map_err(|e| err(e.to_string()))?
            .as_ref()
            .to_vec(),
    };
    Ok(pkcs8)
}

fn load(family: &str, pkcs8: &[u8]) -> Result<SoftKey, SetupError> {
    let err = |e: String| SetupError(format!("stored {family} signing key is unusable: {e}"));
    let (pair, key, algs): (Pair, Key, &'static [Alg]) = match family {
        "EC-P256" | "EC-P384" => {
            let (alg, crv, algs): (_, _, &'static [Alg]) = if family == "EC-P256" {
                (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, EcCurves::P256, &[Alg::ES256])
            } else {
                (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, EcCurves::P384, &[Alg::ES384])
            };
            let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8).map_err(|e| err(e.to_string()))?;
            let point = pair.public_key().as_ref();
            let n = (point.len() - 1) / 2;
            let key =
                Key::Ec(Ec { crv, x: point[1..1 + n].to_vec().into(), y: point[1 + n..].to_vec().into(), d: None });
            (Pair::Ec(pair), key, algs)
        }
        _ => {
            let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| err(e.to_string()))?;
            let public = pair.public_key();
            let key = Key::Rsa(Rsa {
                n: public.modulus().big_endian_without_leading_zero().to_vec().into(),
                e: public.exponent().big_endian_without_leading_zero().to_vec().into(),
                prv: None,
            });
            (Pair::Rsa(pair), key, &[Alg::RS256, Alg::PS256])
        }
    };
    let kid = thumbprint(&key);
    // An RSA key signs two algorithms, so its JWK names none (RFC 7517 §4.4 makes `alg`
    // optional); verifiers pick the algorithm from the token header.
    let alg = (algs.len() == 1).then(|| algs[0].jwa().into());
    let jwk =
        Jwk { key, prm: Parameters { kid: Some(kid.clone()), cls: Some(Class::Signing), alg, ..Default::default() } };
    Ok(SoftKey { kid, algs, pair, jwk })
}

impl SoftwareSigner {
    /// Loads the software keys from the store, generating and storing the missing ones.
    pub async fn load_or_generate(
        store: &dyn Store,
        sealer: &Sealer,
        random: &dyn Random,
        now: UnixTime,
    ) -> Result<Self, SetupError> {
        let mut keys = Vec::new();
        for family in FAMILIES {
            let storage_key = format!("software:{family}");
            let stored =
                match SIGNING_KEYS.get(store, &storage_key, now).await.map_err(|e| SetupError(e.to_string()))? {
                    Some(k) => k,
                    None => {
                        let pkcs8 = generate(family)?;
                        let key = load(family, &pkcs8)?;
                        let record = StoredKey {
                            kid: key.kid.clone(),
                            alg_family: family.to_owned(),
                            private_pkcs8: sealer.seal(random, &storage_key, &pkcs8),
                            created_at: now,
                        };
                        // Another host sharing the database may have won the race: use its key.
                        SIGNING_KEYS
                            .insert(store, &storage_key, &record, None, now)
                            .await
                            .map_err(|e| SetupError(e.to_string()))?;
                        tracing::info!(family, kid = %key.kid, "generated a software signing key");
                        SIGNING_KEYS
                            .get(store, &storage_key, now)
                            .await
                            .map_err(|e| SetupError(e.to_string()))?
                            .ok_or_else(|| SetupError(format!("the {family} key vanished from the store")))?
                    }
                };
            let pkcs8 = sealer.open(&storage_key, &stored.private_pkcs8).map_err(|e| {
                SetupError(format!(
                    "cannot open the stored {family} signing key: {e}. The master key differs from the one the keys were sealed with"
                ))
            })?;
            keys.push(load(family, pkcs8.expose())?);
        }
        Ok(Self { keys })
    }

    fn key_for(&self, alg: Alg) -> Option<&SoftKey> {
        self.keys.iter().find(|k| k.algs.contains(&alg))
    }
}

#[async_trait]
impl Signer for SoftwareSigner {
    fn supported_algorithms(&self) -> Vec<Alg> {
        Alg::ALL.into_iter().filter(|a| self.key_for(*a).is_some()).collect()
    }

    fn active_key(&self, alg: Alg, _now: UnixTime) -> Result<String, SignError> {
        self.key_for(alg).map(|k| k.kid.clone()).ok_or(SignError::NoKey(alg))
    }

    async fn sign(&self, kid: &str, alg: Alg, input: &[u8]) -> Result<Vec<u8>, SignError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid && k.algs.contains(&alg))
            .ok_or_else(|| SignError::UnknownKey(kid.to_owned()))?;
        let rng = SystemRandom::new();
        let failed = |e: aws_lc_rs::error::Unspecified| SignError::Device(format!("software signing failed: {e}"));
        match &key.pair {
            Pair::Ec(pair) => Ok(pair.sign(&rng, input).map_err(failed)?.as_ref().to_vec()),
            Pair::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding =
                    if alg == Alg::PS256 { &signature::RSA_PSS_SHA256 } else { &signature::RSA_PKCS1_SHA256 };
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(padding, &rng, input, &mut sig).map_err(failed)?;
                Ok(sig)
            }
        }
    }

    fn jwks(&self, _now: UnixTime) -> JwkSet {
        JwkSet { keys: self.keys.iter().map(|k| k.jwk.clone()).collect() }
    }

    fn verification_key(&self, kid: &str, _now: UnixTime) -> Option<Jwk> {
        self.keys.iter().find(|k| k.kid == kid).map(|k| k.jwk.clone())
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_protocol::jose;
    use gatehouse_protocol::secret::{Sealer, Secret};
    use gatehouse_protocol::world::SystemRandom;
    use gatehouse_store::MemoryStore;

    use super::*;

    #[tokio::test]
    async fn keys_sign_verify_and_survive_reload() {
        let store = MemoryStore::new();
        let sealer = Sealer::new(&Secret::new([3u8; 32]));
        let now = UnixTime(1_000);
        let signer = SoftwareSigner::load_or_generate(&store, &sealer, &SystemRandom, now).await.unwrap();
        assert_eq!(signer.supported_algorithms(), Alg::ALL.to_vec());
        for alg in Alg::ALL {
            let token = jose::sign(&signer, alg, None, &serde_json::json!({"hello": alg.as_str()}), now).await.unwrap();
            let v = jose::verify::<serde_json::Value>(&token, |kid, _| signer.verification_key(kid?, now)).unwrap();
            assert_eq!(v.alg, alg);
            assert_eq!(v.claims["hello"], alg.as_str());
        }
        let again = SoftwareSigner::load_or_generate(&store, &sealer, &SystemRandom, now).await.unwrap();
        assert_eq!(
            serde_json::to_value(again.jwks(now)).unwrap(),
            serde_json::to_value(signer.jwks(now)).unwrap(),
            "reloaded keys are the stored ones"
        );
        let wrong = Sealer::new(&Secret::new([4u8; 32]));
        let err = SoftwareSigner::load_or_generate(&store, &wrong, &SystemRandom, now).await.err().unwrap();
        assert!(err.0.contains("master key"), "{err}");
    }
}
