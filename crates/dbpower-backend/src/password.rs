//! Password hashing: bcrypt on the blocking pool, at most `concurrency` hashes at once, so a burst of
//! logins cannot starve the request workers (one bcrypt-12 hash costs ~200 ms of one core).

use std::sync::Arc;

use tokio::sync::{OnceCell, Semaphore};

#[derive(Clone)]
pub(crate) struct PasswordHasher {
    permits: Arc<Semaphore>,
    cost: u32,
    /// A real hash of a random password, verified against when the account does not exist, so that
    /// unknown and known emails take the same time.
    dummy: Arc<OnceCell<String>>,
}

impl PasswordHasher {
    pub(crate) fn new(cost: u32, concurrency: usize) -> PasswordHasher {
        PasswordHasher {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            cost,
            dummy: Arc::new(OnceCell::new()),
        }
    }

    pub(crate) async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        let cost = self.cost;
        Ok(tokio::task::spawn_blocking(move || bcrypt::hash(password, cost)).await??)
    }

    /// `false` for a wrong password or an unreadable hash.
    pub(crate) async fn verify(&self, password: String, hash: String) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await?;
        Ok(
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await?,
        )
    }

    /// Spends the same time as [`Self::verify`] for an account that does not exist.
    pub(crate) async fn verify_dummy(&self, password: String) -> anyhow::Result<()> {
        let hash = self
            .dummy
            .get_or_try_init(|| async { self.hash(crate::secrets::random_hex(16)).await })
            .await?
            .clone();
        self.verify(password, hash).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_the_configured_cost() {
        let h = PasswordHasher::new(4, 1);
        let hash = h.hash("correct horse".into()).await.expect("hash");
        assert!(hash.starts_with("$2b$04$"));
        assert!(
            h.verify("correct horse".into(), hash.clone())
                .await
                .expect("verify")
        );
        assert!(!h.verify("wrong horse".into(), hash).await.expect("verify"));
        assert!(
            !h.verify("x".into(), "not a hash".into())
                .await
                .expect("garbage hash is just false")
        );
        h.verify_dummy("whatever".into()).await.expect("dummy");
    }
}
