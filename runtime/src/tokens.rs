//! Tokens: who may do what. Every API request carries a bearer token; a token has a role
//! (`read` < `invoke` < `deploy` < `admin`) and, for deploys, may be limited to packages.
//! The admin token comes from the operator (`$OAAS_TOKEN`, or a file made on first start);
//! the others are minted by an admin and stored hashed, so the store never holds a token.

use crate::error::{Error, Result};
pub use crate::role::Role;
use crate::store::{now_ms, Store, TokenRecord};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Who a request comes from, once its token is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's id (`admin` for the operator's token).
    pub token_id: String,
    /// Its role.
    pub role: Role,
    /// The packages it may deploy, when it is limited to some.
    pub packages: Option<Vec<String>>,
}

impl Principal {
    /// Whether it holds `role` (or a higher one).
    pub fn has(&self, role: Role) -> bool {
        self.role >= role
    }

    /// Checks that it may deploy a package named `name`.
    pub fn may_deploy(&self, name: &str) -> Result<()> {
        match &self.packages {
            Some(allowed) if !allowed.iter().any(|p| p == name) => Err(Error::forbidden(format!(
                "this token may deploy only {}, not `{name}`",
                allowed.join(", ")
            ))),
            _ => Ok(()),
        }
    }
}

/// A token just minted: the secret is shown once and never stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Minted {
    /// Its id, to list and revoke it by.
    pub id: String,
    /// The secret to send as `Authorization: Bearer ...`.
    pub token: String,
    /// Its role.
    pub role: Role,
    /// The packages it is limited to.
    pub packages: Option<Vec<String>>,
}

/// The SHA-256 of a token, hex: what is stored and compared.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new secret: 256 random bits from the operating system's generator, hex.
pub fn new_secret() -> std::result::Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot make a secret: {e}"))?;
    Ok(format!("oaas_{}", hex::encode(bytes)))
}

/// The tokens a runtime accepts, read from the store once and kept in memory.
pub struct Tokens {
    store: Arc<dyn Store>,
    /// The operator's token itself, compared as it is on every request (hashing it each
    /// time cost about 3% of a call's CPU); it is in the data folder's file anyway, never
    /// in the store.
    admin: String,
    by_hash: RwLock<HashMap<String, TokenRecord>>,
}

impl Tokens {
    /// The tokens in `store`, and the operator's `admin` token.
    pub async fn load(store: Arc<dyn Store>, admin_token: &str) -> Result<Tokens> {
        let by_hash = store
            .tokens()
            .await?
            .into_iter()
            .map(|t| (t.hash.clone(), t))
            .collect();
        Ok(Tokens {
            store,
            admin: admin_token.to_string(),
            by_hash: RwLock::new(by_hash),
        })
    }

    /// Reads the tokens from the store again (another runtime on a shared store minted or
    /// revoked one).
    pub async fn reload(&self) -> Result<()> {
        let by_hash = self
            .store
            .tokens()
            .await?
            .into_iter()
            .map(|t| (t.hash.clone(), t))
            .collect();
        match self.by_hash.write() {
            Ok(mut known) => *known = by_hash,
            Err(p) => *p.into_inner() = by_hash,
        }
        Ok(())
    }

    /// Who holds `token`, if anyone.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        if same_secret(token.as_bytes(), self.admin.as_bytes()) {
            return Some(Principal {
                token_id: "admin".into(),
                role: Role::Admin,
                packages: None,
            });
        }
        let h = hash(token);
        let known = self.by_hash.read().ok()?;
        known.get(&h).map(|t| Principal {
            token_id: t.id.clone(),
            role: t.role,
            packages: t.packages.clone(),
        })
    }

    /// Mints a token; its record is stored before it is answered.
    pub async fn mint(&self, role: Role, packages: Option<Vec<String>>) -> Result<Minted> {
        if role == Role::Admin {
            return Err(Error::bad_request(
                "there is one admin token, the operator's: mint `read`, `invoke` or `deploy` tokens",
            ));
        }
        let token = new_secret().map_err(Error::internal)?;
        let record = TokenRecord {
            id: uuid::Uuid::now_v7().to_string(),
            hash: hash(&token),
            role,
            packages: packages.clone(),
            created_at: now_ms(),
        };
        self.store.put_token(record.clone()).await?;
        let id = record.id.clone();
        if let Ok(mut m) = self.by_hash.write() {
            m.insert(record.hash.clone(), record);
        }
        Ok(Minted {
            id,
            token,
            role,
            packages,
        })
    }

    /// Every minted token (never their secrets).
    pub fn list(&self) -> Vec<TokenRecord> {
        let mut all: Vec<TokenRecord> = self
            .by_hash
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Revokes a token by id: it is refused from now on.
    pub async fn revoke(&self, id: &str) -> Result<()> {
        if !self.store.revoke_token(id).await? {
            return Err(Error::not_found(format!("there is no token `{id}`")));
        }
        if let Ok(mut m) = self.by_hash.write() {
            m.retain(|_, t| t.id != id);
        }
        Ok(())
    }
}

/// Whether `given` is `secret`, compared without stopping at the first difference or at a
/// length that differs, so timing tells nothing of the secret's bytes or its length.
fn same_secret(given: &[u8], secret: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != secret.len());
    for (i, s) in secret.iter().enumerate() {
        diff |= s ^ given.get(i).copied().unwrap_or(!s);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn secrets_match_only_byte_for_byte_and_length_for_length() {
        assert!(same_secret(b"oaas_abc", b"oaas_abc"));
        assert!(!same_secret(b"oaas_abd", b"oaas_abc"));
        assert!(!same_secret(b"oaas_ab", b"oaas_abc"));
        assert!(!same_secret(b"oaas_abcd", b"oaas_abc"));
        assert!(!same_secret(b"", b"oaas_abc"));
    }

    #[tokio::test]
    async fn minted_tokens_authenticate_until_revoked_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("oaas.db")).unwrap());
        let tokens = Tokens::load(store.clone(), "the-admin").await.unwrap();
        assert_eq!(tokens.authenticate("the-admin").unwrap().role, Role::Admin);
        assert_eq!(tokens.authenticate("nobody"), None);
        let minted = tokens
            .mint(Role::Deploy, Some(vec!["video".into()]))
            .await
            .unwrap();
        let p = tokens.authenticate(&minted.token).unwrap();
        assert_eq!(
            (p.role, p.token_id.clone()),
            (Role::Deploy, minted.id.clone())
        );
        assert!(p.has(Role::Invoke) && !p.has(Role::Admin));
        assert!(p.may_deploy("video").is_ok() && p.may_deploy("record").is_err());
        assert!(tokens.mint(Role::Admin, None).await.is_err());
        // Stored hashed: the secret is nowhere in the store.
        let stored = store.tokens().await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0].hash, minted.token);
        let again = Tokens::load(store.clone(), "the-admin").await.unwrap();
        assert_eq!(
            again.authenticate(&minted.token).unwrap().role,
            Role::Deploy
        );
        again.revoke(&minted.id).await.unwrap();
        assert_eq!(again.authenticate(&minted.token), None);
        assert!(again.revoke(&minted.id).await.is_err());
        let after = Tokens::load(store, "the-admin").await.unwrap();
        assert_eq!(after.authenticate(&minted.token), None);
    }
}
